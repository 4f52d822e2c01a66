// The audit log: who changed what, when, from where, newest first; filtered by actor, action and
// time, and paged backwards by entry id as the API offers.
import { useState, type FormEvent } from 'react';
import { useApi } from '../../api.js';
import { Await, DataTable, Empty, Page, Time } from '../../components/common.js';
import type { AuditEntry } from './types.js';

const PAGE_SIZE = 50;

interface Filters {
  actor: string;
  action: string;
  since: string;
  until: string;
}

const NO_FILTERS: Filters = { actor: '', action: '', since: '', until: '' };

function queryOf(filters: Filters, before: number | null): string {
  const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (filters.actor) q.set('actor', filters.actor);
  if (filters.action) q.set('action', filters.action);
  // datetime-local inputs hold local times; the API wants ISO 8601.
  if (filters.since) q.set('since', new Date(filters.since).toISOString());
  if (filters.until) q.set('until', new Date(filters.until).toISOString());
  if (before !== null) q.set('before', String(before));
  return q.toString();
}

const compact = (value: Record<string, unknown> | null) =>
  value === null
    ? ''
    : Object.entries(value)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');

export function AuditPage() {
  const [draft, setDraft] = useState<Filters>(NO_FILTERS);
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  /** The `before` of each page shown so far: the last is the current page (null: the newest). */
  const [pages, setPages] = useState<(number | null)[]>([null]);
  const before = pages[pages.length - 1];
  const entries = useApi<AuditEntry[]>(`/api/v1/audit?${queryOf(filters, before)}`);

  const apply = (e: FormEvent) => {
    e.preventDefault();
    setFilters(draft);
    setPages([null]);
  };
  const field = (name: keyof Filters, label: string, type = 'text') => (
    <label>
      {label}
      <input type={type} value={draft[name]} onChange={(e) => setDraft({ ...draft, [name]: e.target.value })} />
    </label>
  );

  return (
    <Page title="Audit log">
      <form className="inline-form filters" onSubmit={apply} aria-label="Filter the audit log">
        {field('actor', 'Actor (username)')}
        {field('action', 'Action (e.g. user.create)')}
        {field('since', 'Since', 'datetime-local')}
        {field('until', 'Until', 'datetime-local')}
        <button type="submit" className="primary">
          Filter
        </button>
        <button
          type="button"
          onClick={() => {
            setDraft(NO_FILTERS);
            setFilters(NO_FILTERS);
            setPages([null]);
          }}
        >
          Clear
        </button>
      </form>
      <Await loaded={entries} what="the audit log">
        {(list) => (
          <>
            <DataTable
              rows={list}
              empty={<Empty>No entries.</Empty>}
              columns={['When', 'Actor', 'Action', 'Request', 'Status', 'Details', 'From']}
              row={(e) => (
                <tr key={e.id}>
                  <td>
                    <Time iso={e.at} />
                  </td>
                  <td>
                    {e.actor} {e.actorKind !== 'user' ? <span className="muted">({e.actorKind})</span> : null}
                  </td>
                  <td>
                    <code>{e.action}</code>
                  </td>
                  <td>
                    {e.method ? <code>{`${e.method} ${e.route ?? ''}`}</code> : null} <span className="muted">{compact(e.params)}</span>
                  </td>
                  <td>{e.status ?? '—'}</td>
                  <td className="mono">{compact(e.details)}</td>
                  <td>
                    {e.address ?? '—'} <span className="muted">via {e.replica}</span>
                  </td>
                </tr>
              )}
            />
            <nav className="actions" aria-label="Audit log pages">
              <button type="button" disabled={pages.length === 1} onClick={() => setPages((p) => p.slice(0, -1))}>
                Newer
              </button>
              <button type="button" disabled={list.length < PAGE_SIZE} onClick={() => setPages((p) => [...p, list[list.length - 1].id])}>
                Older
              </button>
            </nav>
          </>
        )}
      </Await>
    </Page>
  );
}
