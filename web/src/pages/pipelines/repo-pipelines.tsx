// A repository's pipelines, newest first: refreshed every few seconds, older ones a page at a time,
// and a form to run a pipeline for those who may.
import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../../api.js';
import { useAction } from '../../components/action.js';
import { Empty, ErrorBox, formatDuration, Loading, StatusBadge, Time } from '../../components/common.js';
import { RepoFrame, useRepo } from '../../components/repo-frame.js';
import { Link, navigate, seg } from '../../router.js';
import type { Pipeline } from '../../types.js';
import { CommitSummary } from './commit.js';

const PAGE_SIZE = 20;
const REFRESH_MS = 5000;

/** Newest first, each id once (a refreshed page replaces what it shows of the list). */
function merge(current: Pipeline[], page: Pipeline[]): Pipeline[] {
  const byId = new Map(current.map((p) => [p.id, p]));
  for (const p of page) byId.set(p.id, p);
  return [...byId.values()].sort((a, b) => b.id - a.id);
}

/**
 * The pipelines seen so far: the newest page is read again every REFRESH_MS and merged, so pages
 * loaded with "Load more" (`?before=`) stay in place as new pipelines arrive.
 */
function usePipelineList(repo: string) {
  const [list, setList] = useState<Pipeline[] | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [more, setMore] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const base = `/api/v1/repos/${seg(repo)}/pipelines?limit=${PAGE_SIZE}`;

  useEffect(() => {
    const abort = new AbortController();
    let first = true;
    const refresh = () => {
      if (!first && document.visibilityState !== 'visible') return;
      api<Pipeline[]>(base, { signal: abort.signal }).then(
        (page) => {
          setError(null);
          setList((current) => merge(current ?? [], page));
          if (first) setMore(page.length === PAGE_SIZE);
          first = false;
        },
        (err: unknown) => {
          if (!abort.signal.aborted) setError(err instanceof Error ? err : new Error(String(err)));
        },
      );
    };
    refresh();
    const timer = setInterval(refresh, REFRESH_MS);
    return () => {
      clearInterval(timer);
      abort.abort();
    };
  }, [base]);

  const loadMore = () => {
    if (!list || list.length === 0) return;
    setLoadingMore(true);
    api<Pipeline[]>(`${base}&before=${list[list.length - 1].id}`)
      .then(
        (page) => {
          setList((current) => merge(current ?? [], page));
          setMore(page.length === PAGE_SIZE);
        },
        (err: unknown) => setError(err instanceof Error ? err : new Error(String(err))),
      )
      .finally(() => setLoadingMore(false));
  };
  return { list, error, more, loadingMore, loadMore };
}

export function RepoPipelines({ name }: { name: string }) {
  const [formOpen, setFormOpen] = useState(false);
  return (
    <RepoFrame
      name={name}
      title="Pipelines"
      actions={(repo) =>
        repo.you.permissions.includes('pipeline.create') ? (
          <button
            type="button"
            className="primary"
            aria-expanded={formOpen}
            aria-controls="run-pipeline"
            onClick={() => setFormOpen((o) => !o)}
          >
            Run pipeline
          </button>
        ) : null
      }
    >
      {formOpen ? <RunPipelineForm onClose={() => setFormOpen(false)} /> : null}
      <PipelineTable name={name} />
    </RepoFrame>
  );
}

interface VariableRow {
  key: string;
  value: string;
}

function RunPipelineForm({ onClose }: { onClose: () => void }) {
  const { repo, can } = useRepo();
  const [ref, setRef] = useState(repo.defaultBranch);
  const [variables, setVariables] = useState<VariableRow[]>([]);
  const starting = useAction();
  if (!can('pipeline.create')) return null;

  const setRow = (index: number, change: Partial<VariableRow>) =>
    setVariables((rows) => rows.map((row, i) => (i === index ? { ...row, ...change } : row)));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const named = variables.filter((v) => v.key.trim() !== '');
    void starting.run(async () => {
      const created = await api<{ id: number }>(`/api/v1/repos/${seg(repo.name)}/pipelines`, {
        method: 'POST',
        body: { ref: ref.trim(), variables: Object.fromEntries(named.map((v) => [v.key.trim(), v.value])) },
      });
      navigate(`/pipelines/${created.id}`);
    });
  };

  return (
    <form id="run-pipeline" className="form card run-form" onSubmit={submit} aria-labelledby="run-pipeline-heading">
      <h2 id="run-pipeline-heading">Run a pipeline</h2>
      <label>
        Branch or tag
        <input value={ref} onChange={(e) => setRef(e.target.value)} required autoFocus />
      </label>
      <fieldset className="variables">
        <legend>Variables</legend>
        {variables.length === 0 ? <p className="muted">None: the pipeline runs with the repository's variables.</p> : null}
        {variables.map((row, i) => (
          <div className="variable-row" key={i}>
            <label>
              Key
              <input
                value={row.key}
                onChange={(e) => setRow(i, { key: e.target.value })}
                pattern="[A-Za-z_][A-Za-z0-9_]*"
                aria-label={`Variable ${i + 1} key`}
              />
            </label>
            <label>
              Value
              <input value={row.value} onChange={(e) => setRow(i, { value: e.target.value })} aria-label={`Variable ${i + 1} value`} />
            </label>
            <button
              type="button"
              onClick={() => setVariables((rows) => rows.filter((_, j) => j !== i))}
              aria-label={`Remove variable ${i + 1}`}
            >
              Remove
            </button>
          </div>
        ))}
        <button type="button" onClick={() => setVariables((rows) => [...rows, { key: '', value: '' }])}>
          Add variable
        </button>
      </fieldset>
      {starting.error ? <ErrorBox error={starting.error} /> : null}
      <div className="dialog-actions">
        <button type="button" onClick={onClose} disabled={starting.busy}>
          Close
        </button>
        <button type="submit" className="primary" disabled={starting.busy}>
          {starting.busy ? 'Starting…' : 'Start pipeline'}
        </button>
      </div>
    </form>
  );
}

function PipelineTable({ name }: { name: string }) {
  const { list, error, more, loadingMore, loadMore } = usePipelineList(name);
  if (list === null) return error ? <ErrorBox error={error} /> : <Loading what="pipelines" />;
  return (
    <>
      {error ? <ErrorBox error={error} /> : null}
      {list.length === 0 ? (
        <Empty>No pipelines yet.</Empty>
      ) : (
        <div className="table-wrap">
          <table>
            <caption className="visually-hidden">Pipelines of {name}, newest first</caption>
            <thead>
              <tr>
                <th>Pipeline</th>
                <th>Ref</th>
                <th>Commit</th>
                <th>Source</th>
                <th>Status</th>
                <th>Duration</th>
                <th>Created</th>
              </tr>
            </thead>
            <tbody>
              {list.map((p) => (
                <tr key={p.id}>
                  <td>
                    <Link to={`/pipelines/${p.id}`}>#{p.id}</Link>
                  </td>
                  <td>
                    <code>{p.ref}</code>
                  </td>
                  <td>
                    <CommitSummary pipeline={p} />
                  </td>
                  <td>{p.source}</td>
                  <td>
                    <StatusBadge status={p.status} />
                  </td>
                  <td>{formatDuration(p.duration)}</td>
                  <td>
                    <Time iso={p.createdAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {more && list.length > 0 ? (
        <p>
          <button type="button" onClick={loadMore} disabled={loadingMore}>
            {loadingMore ? 'Loading…' : 'Load more'}
          </button>
        </p>
      ) : null}
    </>
  );
}
