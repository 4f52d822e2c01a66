// A repository's pipeline schedules: when each runs next, what its last pipeline did, why the
// server switched one off (its owner lost access); maintainers add, switch, take over and delete
// them, developers run one now. Variable values are write-only: the API returns their names only.
import { useState, type FormEvent } from 'react';
import { api, useApi } from '../../api.js';
import { ActionError, useAction } from '../../components/action.js';
import { Await, DataTable, Empty, StatusBadge, Time } from '../../components/common.js';
import { ConfirmDialog } from '../../components/confirm.js';
import { RepoFrame, useRepo } from '../../components/repo-frame.js';
import { Link, seg } from '../../router.js';
import { useUser } from '../../session.js';
import type { Schedule } from '../../types.js';
import { optionalText } from './form.js';

const REFRESH_MS = 5_000;

export function SchedulesPage({ name }: { name: string }) {
  return (
    <RepoFrame name={name} title="Schedules">
      <Schedules />
    </RepoFrame>
  );
}

/** `KEY=VALUE` lines as variables; a line without `=` is refused with its number. */
function parseVariables(text: string): Record<string, string> {
  const variables: Record<string, string> = {};
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`Variables, line ${i + 1}: expected KEY=VALUE`);
    variables[line.slice(0, eq).trim()] = line.slice(eq + 1);
  }
  return variables;
}

function Schedules() {
  const { repo, can } = useRepo();
  const me = useUser();
  const schedules = useApi<Schedule[]>(`/api/v1/repos/${seg(repo.name)}/schedules`, REFRESH_MS);
  const change = useAction();
  const [deleting, setDeleting] = useState<Schedule | null>(null);
  const [started, setStarted] = useState<number | null>(null);

  const patch = (s: Schedule, body: Record<string, unknown>) =>
    void change.run(async () => {
      await api(`/api/v1/schedules/${s.id}`, { method: 'PATCH', body });
      schedules.reload();
    });
  const runNow = (s: Schedule) =>
    void change.run(async () => {
      setStarted(null);
      const run = await api<{ id: number }>(`/api/v1/schedules/${s.id}/run`, { method: 'POST' });
      setStarted(run.id);
      schedules.reload();
    });
  const confirmDelete = () => {
    const s = deleting;
    setDeleting(null);
    if (s)
      void change.run(async () => {
        await api(`/api/v1/schedules/${s.id}`, { method: 'DELETE' });
        schedules.reload();
      });
  };

  return (
    <section aria-labelledby="schedules-title" className="repo-section">
      <h2 id="schedules-title">Pipeline schedules</h2>
      <p className="muted">
        Each schedule runs its ref at the times of its cron pattern, with its owner's permissions; its pipelines see{' '}
        <code>CI_PIPELINE_SOURCE=schedule</code>. Times missed while no server ran are made up once.
      </p>
      <Await loaded={schedules} what="schedules">
        {(list) => (
          <DataTable
            rows={list}
            empty={<Empty>No schedules yet.</Empty>}
            columns={[
              'Schedule',
              'Pattern',
              'Next run',
              'Last pipeline',
              'Owner',
              'Active',
              <span className="visually-hidden">Actions</span>,
            ]}
            row={(s) => (
              <tr key={s.id}>
                <td>
                  <strong>{s.description || `#${s.id}`}</strong> <span className="muted">on</span> <code>{s.ref}</code>
                  {s.variables.length > 0 ? <div className="muted small">variables: {s.variables.join(', ')}</div> : null}
                </td>
                <td>
                  <code>{s.cron}</code> <span className="muted">{s.timezone}</span>
                </td>
                <td>{s.active ? <Time iso={s.nextRunAt} /> : <span className="muted">{s.deactivatedReason ?? 'inactive'}</span>}</td>
                <td>
                  {s.lastPipeline ? (
                    <>
                      <StatusBadge status={s.lastPipeline.status} />{' '}
                      <Link to={`/pipelines/${s.lastPipeline.id}`}>#{s.lastPipeline.id}</Link>
                    </>
                  ) : (
                    <span className="muted">—</span>
                  )}
                  {s.lastError ? <div className="muted small">{s.lastError}</div> : null}
                </td>
                <td>{s.owner ?? <span className="muted">deleted</span>}</td>
                <td>
                  <label className="check">
                    <input
                      type="checkbox"
                      checked={s.active}
                      disabled={!can('schedule.update') || change.busy}
                      onChange={() => patch(s, { active: !s.active })}
                      aria-label={`Schedule ${s.description || s.id} active`}
                    />{' '}
                    {s.active ? 'yes' : 'no'}
                  </label>
                </td>
                <td className="row-actions">
                  {can('schedule.run') ? (
                    <button type="button" disabled={change.busy} onClick={() => runNow(s)}>
                      Run now
                    </button>
                  ) : null}
                  {can('schedule.update') && s.owner !== me.username ? (
                    <button type="button" disabled={change.busy} onClick={() => patch(s, { takeOwnership: true })}>
                      Take ownership
                    </button>
                  ) : null}
                  {can('schedule.delete') ? (
                    <button type="button" className="danger" onClick={() => setDeleting(s)}>
                      Delete
                    </button>
                  ) : null}
                </td>
              </tr>
            )}
          />
        )}
      </Await>
      <ActionError action={change} />
      {started !== null ? (
        <p className="notice" role="status">
          Started <Link to={`/pipelines/${started}`}>pipeline #{started}</Link>.
        </p>
      ) : null}
      {can('schedule.create') ? <AddSchedule defaultRef={repo.defaultBranch} onAdded={schedules.reload} /> : null}
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete schedule ${deleting?.description || (deleting ? `#${deleting.id}` : '')}?`}
        confirmLabel="Delete"
        danger
        onConfirm={confirmDelete}
        onCancel={() => setDeleting(null)}
      >
        <p>It starts no more pipelines; those it started stay.</p>
      </ConfirmDialog>
    </section>
  );
}

function AddSchedule({ defaultRef, onAdded }: { defaultRef: string; onAdded: () => void }) {
  const { repo } = useRepo();
  const save = useAction();
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const data = new FormData(form);
    void save.run(async () => {
      const variables = parseVariables(String(data.get('variables') ?? ''));
      await api(`/api/v1/repos/${seg(repo.name)}/schedules`, {
        method: 'POST',
        body: {
          description: optionalText(data, 'description'),
          cron: String(data.get('cron')).trim(),
          timezone: optionalText(data, 'timezone'),
          ref: optionalText(data, 'ref') ?? defaultRef,
          variables: Object.keys(variables).length > 0 ? variables : undefined,
          active: data.has('active'),
        },
      });
      // Values leave the page as soon as the server has them.
      form.reset();
      onAdded();
    });
  };
  return (
    <form className="form" onSubmit={submit} aria-labelledby="schedule-form-title">
      <h3 id="schedule-form-title">Add a schedule</h3>
      <label>
        Description
        <input name="description" maxLength={255} autoComplete="off" />
      </label>
      <label>
        Cron pattern <span className="muted">(5 fields, or 6 with seconds first: 0 2 * * * is 02:00 every day)</span>
        <input name="cron" required maxLength={200} autoComplete="off" spellCheck={false} placeholder="0 2 * * *" />
      </label>
      <label>
        Time zone <span className="muted">(IANA name; empty: UTC)</span>
        <input name="timezone" maxLength={100} autoComplete="off" placeholder="Europe/Berlin" />
      </label>
      <label>
        Branch or tag
        <input name="ref" maxLength={255} autoComplete="off" placeholder={defaultRef} />
      </label>
      <label>
        Variables <span className="muted">(KEY=VALUE per line; values are not shown again)</span>
        <textarea name="variables" rows={3} autoComplete="off" spellCheck={false} />
      </label>
      <label className="check">
        <input type="checkbox" name="active" defaultChecked /> Active
      </label>
      <ActionError action={save} />
      <button type="submit" className="primary" disabled={save.busy}>
        Add schedule
      </button>
    </form>
  );
}
