// Pipeline notification subscriptions: a repository's (its settings, for maintainers) and a user's
// own (their profile). One list and one form for both; the server decides what each may add. A
// webhook's secret is write-only: the list says only whether it signs.
import { useState, type FormEvent } from 'react';
import { api, useApi } from '../api.js';
import type { Notification } from '../types.js';
import { ActionError, useAction } from './action.js';
import { Await, DataTable, Empty, Time } from './common.js';
import { ConfirmDialog } from './confirm.js';

const TYPES = [
  { value: 'email', label: 'Email' },
  { value: 'slack', label: 'Slack-compatible webhook' },
  { value: 'teams', label: 'Microsoft Teams webhook' },
  { value: 'webhook', label: 'JSON webhook (signed)' },
];

const EVENTS = [
  { value: 'failed', label: 'Failed' },
  { value: 'fixed', label: 'Fixed (succeeded after a failure of its branch or tag)' },
  { value: 'success', label: 'Succeeded' },
  { value: 'manual', label: 'Waiting for a manual action' },
];

export function NotificationsSection({
  path,
  canManage,
  mine,
  headingId,
}: {
  /** The list's URL, which also takes new subscriptions (POST). */
  path: string;
  canManage: boolean;
  /** The user's own: email defaults to their address, and a repository may be named. */
  mine: boolean;
  headingId: string;
}) {
  const list = useApi<Notification[]>(path);
  const save = useAction();
  const remove = useAction();
  const [type, setType] = useState('email');
  const [deleting, setDeleting] = useState<Notification | null>(null);
  const [saved, setSaved] = useState<number | null>(null);

  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const data = new FormData(form);
    const text = (name: string) => String(data.get(name) ?? '').trim();
    const body: Record<string, unknown> = { type, events: data.getAll('events').map(String) };
    if (text('target')) body.target = text('target');
    if (type === 'webhook' && text('secret')) body.secret = text('secret');
    if (mine && text('repo')) body.repo = text('repo');
    setSaved(null);
    void save.run(async () => {
      const created = await api<{ id: number }>(path, { method: 'POST', body });
      // The secret leaves the page as soon as the server has it.
      form.reset();
      setType('email');
      setSaved(created.id);
      list.reload();
    });
  };

  const confirmDelete = () => {
    const sub = deleting;
    if (sub === null) return;
    void remove.run(async () => {
      await api(`/api/v1/notifications/${sub.id}`, { method: 'DELETE' });
      list.reload();
    });
    setDeleting(null);
  };

  return (
    <section aria-labelledby={headingId} className="repo-section">
      <h2 id={headingId}>Notifications</h2>
      <p className="muted">
        Who is told when a pipeline fails, is fixed, succeeds or waits for a manual action. A failure message names the failed jobs and
        links to the line of each job&apos;s log where it failed.
      </p>
      <Await loaded={list} what="notifications">
        {(rows) => (
          <DataTable
            rows={rows}
            empty={<Empty>No notifications yet.</Empty>}
            columns={[
              ...(mine ? ['Repository'] : []),
              'To',
              'Events',
              'Last message',
              'Created',
              <span className="visually-hidden">Actions</span>,
            ]}
            row={(n) => (
              <tr key={n.id}>
                {mine ? <td>{n.repo ?? <span className="muted">every repository you can read</span>}</td> : null}
                <td>
                  <span className="badge flag">{n.type}</span> <code>{n.target}</code>
                  {n.signed ? <span className="badge flag">signed</span> : null}
                  {n.active ? null : <span className="badge status-failed">inactive</span>}
                </td>
                <td>{n.events.join(', ')}</td>
                <td>
                  <LastDelivery delivery={n.lastDelivery} />
                </td>
                <td>
                  <Time iso={n.createdAt} /> <span className="muted">by {n.createdBy}</span>
                </td>
                <td className="row-actions">
                  {canManage ? (
                    <button type="button" className="danger" onClick={() => setDeleting(n)} aria-label={`Delete notification ${n.id}`}>
                      Delete
                    </button>
                  ) : null}
                </td>
              </tr>
            )}
          />
        )}
      </Await>
      <ActionError action={remove} />
      {canManage ? (
        <form className="form" onSubmit={submit} aria-labelledby={`${headingId}-form`}>
          <h3 id={`${headingId}-form`}>Add a notification</h3>
          <label>
            Send to
            <select name="type" value={type} onChange={(e) => setType(e.target.value)}>
              {TYPES.map((t) => (
                <option key={t.value} value={t.value}>
                  {t.label}
                </option>
              ))}
            </select>
          </label>
          <label>
            {type === 'email' ? 'Email addresses (separated by commas)' : 'Webhook URL'}
            <input
              name="target"
              type={type === 'email' ? 'text' : 'url'}
              required={!(mine && type === 'email')}
              placeholder={mine && type === 'email' ? 'your own address' : type === 'email' ? 'team@example.com' : 'https://'}
              autoComplete="off"
            />
          </label>
          {mine ? (
            <label>
              Repository <span className="muted">(empty: every repository you can read)</span>
              <input name="repo" autoComplete="off" />
            </label>
          ) : null}
          <fieldset>
            <legend>When a pipeline</legend>
            {EVENTS.map((ev) => (
              <label key={ev.value} className="check">
                <input type="checkbox" name="events" value={ev.value} defaultChecked={ev.value === 'failed' || ev.value === 'fixed'} />{' '}
                {ev.label}
              </label>
            ))}
          </fieldset>
          {type === 'webhook' ? (
            <label>
              Signing secret{' '}
              <span className="muted">(optional, at least 16 characters: X-Tandem-Signature is its HMAC-SHA256 of the body)</span>
              <input name="secret" type="password" minLength={16} autoComplete="new-password" />
            </label>
          ) : null}
          <ActionError action={save} />
          {saved !== null ? (
            <p className="notice" role="status">
              Notification #{saved} added.
            </p>
          ) : null}
          <button type="submit" className="primary" disabled={save.busy}>
            Add notification
          </button>
        </form>
      ) : null}
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete notification #${deleting?.id ?? ''}?`}
        confirmLabel="Delete"
        danger
        onConfirm={confirmDelete}
        onCancel={() => setDeleting(null)}
      >
        <p>Pipelines from now on are no longer reported to {deleting?.target}; messages not sent yet are dropped.</p>
      </ConfirmDialog>
    </section>
  );
}

/** What became of the newest message: sent, waiting (with the error that delays it), or given up. */
function LastDelivery({ delivery }: { delivery: Notification['lastDelivery'] }) {
  if (delivery === null) return <span className="muted">none yet</span>;
  const badge = delivery.status === 'sent' ? 'status-success' : delivery.status === 'failed' ? 'status-failed' : 'status-pending';
  const label = delivery.status === 'pending' && delivery.error ? 'retrying' : delivery.status;
  return (
    <>
      <span className={`badge ${badge}`}>{label}</span> <Time iso={delivery.at} />
      {delivery.error && delivery.status !== 'sent' ? <div className="muted">{delivery.error}</div> : null}
    </>
  );
}
