// Alerts (Tandem's own and its SLOs'), the silences that keep their notifications quiet, and the
// deploy freezes of spent error budgets. Anyone signed in may look; silences are made and expired
// by administrators.
import { useState, type FormEvent } from 'react';
import { api, useApi } from '../../api.js';
import { useAction } from '../../components/action.js';
import { Await, DataTable, Empty, ErrorBox, Page, Time } from '../../components/common.js';
import { ConfirmDialog } from '../../components/confirm.js';
import { useUser } from '../../session.js';
import type { AlertView, FreezeView, SilenceView } from './types.js';
import { AlertTable, REFRESH_MS } from './widgets.js';

const STATE_FILTERS = [
  { value: 'pending,firing', label: 'Active (pending or firing)' },
  { value: 'firing', label: 'Firing' },
  { value: 'pending', label: 'Pending' },
  { value: 'resolved', label: 'Resolved' },
  { value: 'all', label: 'All' },
];

function Alerts() {
  const [state, setState] = useState('pending,firing');
  const alerts = useApi<AlertView[]>(`/api/v1/alerts?state=${state}`, REFRESH_MS);
  return (
    <section aria-labelledby="alerts-heading">
      <h2 id="alerts-heading">Alerts</h2>
      <label className="filters">
        Show
        <select value={state} onChange={(e) => setState(e.target.value)}>
          {STATE_FILTERS.map((f) => (
            <option key={f.value} value={f.value}>
              {f.label}
            </option>
          ))}
        </select>
      </label>
      <Await loaded={alerts} what="alerts">
        {(list) => (list.length === 0 ? <Empty>No alerts in this state.</Empty> : <AlertTable alerts={list} />)}
      </Await>
    </section>
  );
}

const SILENCE_STATE_CLASS: Record<SilenceView['state'], string> = { active: 'status-running', pending: 'status-scheduled', expired: '' };

/** The local time of a datetime-local input as ISO 8601 (with the offset the server needs). */
const isoOf = (local: string) => new Date(local).toISOString();

function NewSilence({ onCreated }: { onCreated: () => void }) {
  const [matchers, setMatchers] = useState('');
  const [duration, setDuration] = useState('2h');
  const [endsAt, setEndsAt] = useState('');
  const [comment, setComment] = useState('');
  const action = useAction();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const body = {
      matchers: matchers
        .split('\n')
        .map((m) => m.trim())
        .filter(Boolean),
      comment,
      ...(endsAt ? { endsAt: isoOf(endsAt) } : { duration }),
    };
    if (await action.run(() => api('/api/v1/silences', { method: 'POST', body }))) {
      setMatchers('');
      setComment('');
      setEndsAt('');
      onCreated();
    }
  };

  return (
    <form className="form" onSubmit={(e) => void submit(e)} aria-labelledby="new-silence">
      <h3 id="new-silence">New silence</h3>
      <label>
        Matchers (one per line: <code>name=value</code>, <code>!=</code>, <code>=~</code> regex, <code>!~</code>)
        <textarea
          required
          rows={3}
          value={matchers}
          onChange={(e) => setMatchers(e.target.value)}
          placeholder="alertname=TandemReplicaDown"
        />
      </label>
      <label>
        Duration
        <input value={duration} onChange={(e) => setDuration(e.target.value)} placeholder="2h" disabled={endsAt !== ''} />
      </label>
      <label>
        Or ends at
        <input type="datetime-local" value={endsAt} onChange={(e) => setEndsAt(e.target.value)} />
      </label>
      <label>
        Comment
        <input required value={comment} onChange={(e) => setComment(e.target.value)} placeholder="why, and who is on it" />
      </label>
      {action.error ? <ErrorBox error={action.error} /> : null}
      <button type="submit" className="primary" disabled={action.busy}>
        {action.busy ? 'Adding…' : 'Add silence'}
      </button>
    </form>
  );
}

function Silences() {
  const user = useUser();
  const [showExpired, setShowExpired] = useState(false);
  const silences = useApi<SilenceView[]>(`/api/v1/silences${showExpired ? '?all=1' : ''}`, REFRESH_MS);
  const [expiring, setExpiring] = useState<SilenceView | null>(null);
  const expire = useAction();

  const confirmExpire = async () => {
    if (!expiring) return;
    if (await expire.run(() => api(`/api/v1/silences/${expiring.id}`, { method: 'DELETE' }))) {
      setExpiring(null);
      silences.reload();
    }
  };

  return (
    <section aria-labelledby="silences-heading">
      <h2 id="silences-heading">Silences</h2>
      <label className="filters">
        <input type="checkbox" checked={showExpired} onChange={(e) => setShowExpired(e.target.checked)} /> Show expired silences
      </label>
      {expire.error && !expiring ? <ErrorBox error={expire.error} /> : null}
      <Await loaded={silences} what="silences">
        {(list) => (
          <DataTable
            rows={list}
            empty={<Empty>No silences.</Empty>}
            columns={['Matchers', 'State', 'From', 'Until', 'Comment', 'By', ...(user.admin ? ['Actions'] : [])]}
            row={(s) => (
              <tr key={s.id}>
                <td>
                  <span className="labels">
                    {s.match.map((m) => (
                      <code key={m}>{m}</code>
                    ))}
                  </span>
                </td>
                <td>
                  <span className={`badge ${SILENCE_STATE_CLASS[s.state]}`}>{s.state}</span>
                </td>
                <td>
                  <Time iso={s.startsAt} />
                </td>
                <td>
                  <Time iso={s.endsAt} />
                </td>
                <td>{s.comment}</td>
                <td>{s.createdBy}</td>
                {user.admin ? (
                  <td>
                    {s.state !== 'expired' ? (
                      <button
                        type="button"
                        className="danger"
                        onClick={() => setExpiring(s)}
                        aria-label={`Expire silence ${s.match.join(', ')}`}
                      >
                        Expire
                      </button>
                    ) : null}
                  </td>
                ) : null}
              </tr>
            )}
          />
        )}
      </Await>
      {user.admin ? <NewSilence onCreated={silences.reload} /> : <p className="muted">Administrators add and expire silences.</p>}
      <ConfirmDialog
        open={expiring !== null}
        title="Expire this silence?"
        confirmLabel="Expire"
        danger
        busy={expire.busy}
        onConfirm={() => void confirmExpire()}
        onCancel={() => setExpiring(null)}
      >
        <p>Alerts matching {expiring?.match.join(', ')} notify again from now on.</p>
        {expire.error ? <ErrorBox error={expire.error} /> : null}
      </ConfirmDialog>
    </section>
  );
}

function Freezes() {
  const freezes = useApi<FreezeView[]>('/api/v1/freezes', REFRESH_MS);
  return (
    <section aria-labelledby="freezes-heading">
      <h2 id="freezes-heading">Deploy freezes</h2>
      <Await loaded={freezes} what="deploy freezes">
        {(list) => (
          <DataTable
            rows={list}
            empty={<Empty>No environment is frozen: every error budget with a freeze policy has some left.</Empty>}
            columns={['Repository', 'Environment', 'SLO', 'Since', 'Overridden by']}
            row={(f) => (
              <tr key={f.id}>
                <td>{f.repo}</td>
                <td>{f.environment}</td>
                <td>{f.slo}</td>
                <td>
                  <Time iso={f.startedAt} />
                </td>
                <td>
                  {f.overrides.length === 0 ? (
                    <span className="muted">nobody</span>
                  ) : (
                    f.overrides.map((o) => `${o.actor} (job ${o.jobId})`).join(', ')
                  )}
                </td>
              </tr>
            )}
          />
        )}
      </Await>
    </section>
  );
}

export function AlertsPage() {
  return (
    <Page title="Alerts">
      <Alerts />
      <Silences />
      <Freezes />
    </Page>
  );
}
