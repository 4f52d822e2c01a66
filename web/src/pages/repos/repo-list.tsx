// Repositories the user may see, and for administrators the form that registers a new one.
import { useState, type FormEvent } from 'react';
import { api, useApi } from '../../api.js';
import { Await, DataTable, Empty, Page, Time } from '../../components/common.js';
import { Link, seg } from '../../router.js';
import { useUser } from '../../session.js';
import type { Repo } from '../../types.js';
import { ActionError, useAction } from '../../components/action.js';
import { optionalNumber, optionalText } from './form.js';

export function RepoList() {
  const repos = useApi<Repo[]>('/api/v1/repos', 30_000);
  const user = useUser();
  return (
    <Page title="Repositories">
      <Await loaded={repos} what="repositories">
        {(list) => (
          <DataTable
            rows={list}
            empty={<Empty>{user.admin ? 'No repositories yet: register one below.' : 'You are not a member of any repository yet.'}</Empty>}
            columns={['Name', 'URL', 'Default branch', 'Last polled']}
            row={(r) => (
              <tr key={r.id}>
                <td>
                  <Link to={`/repos/${seg(r.name)}`}>{r.name}</Link>
                </td>
                <td className="mono wrap-anywhere">{r.url}</td>
                <td>
                  <code>{r.defaultBranch}</code>
                </td>
                <td>{r.pollInterval ? <Time iso={r.lastPolledAt} /> : <span className="muted">polling off</span>}</td>
              </tr>
            )}
          />
        )}
      </Await>
      {user.admin ? <NewRepoForm onCreated={repos.reload} /> : null}
    </Page>
  );
}

function NewRepoForm({ onCreated }: { onCreated: () => void }) {
  const action = useAction();
  const [created, setCreated] = useState<Repo | null>(null);

  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const data = new FormData(form);
    const body = {
      name: String(data.get('name')).trim(),
      url: String(data.get('url')).trim(),
      defaultBranch: optionalText(data, 'defaultBranch'),
      pollInterval: optionalNumber(data, 'pollInterval'),
      webhookSecret: optionalText(data, 'webhookSecret'),
    };
    void action.run(async () => {
      const repo = await api<Repo>('/api/v1/repos', { method: 'POST', body });
      setCreated(repo);
      form.reset();
      onCreated();
    });
  };

  return (
    <section aria-labelledby="new-repo">
      <h2 id="new-repo">New repository</h2>
      {created ? (
        <p className="notice" role="status">
          Registered <Link to={`/repos/${seg(created.name)}`}>{created.name}</Link> (default branch <code>{created.defaultBranch}</code>).
        </p>
      ) : null}
      <form className="form" onSubmit={submit} aria-describedby="new-repo-error">
        <label>
          Name
          <input
            name="name"
            required
            pattern="[A-Za-z0-9][A-Za-z0-9._\-]{0,99}"
            title='Letters, digits, ".", "_" and "-", starting with a letter or digit'
            autoComplete="off"
          />
        </label>
        <label>
          Git URL
          <input name="url" required placeholder="https://git.example.com/team/app.git" autoComplete="off" />
        </label>
        <label>
          Default branch <span className="muted">(optional: read from the remote)</span>
          <input name="defaultBranch" autoComplete="off" />
        </label>
        <label>
          Poll interval in seconds <span className="muted">(0 or empty: no polling)</span>
          <input name="pollInterval" type="number" min={0} max={86400} />
        </label>
        <label>
          Webhook secret <span className="muted">(optional, at least 8 characters)</span>
          <input name="webhookSecret" type="password" minLength={8} maxLength={256} autoComplete="new-password" />
        </label>
        <div id="new-repo-error" aria-live="polite">
          <ActionError action={action} />
        </div>
        <button type="submit" className="primary" disabled={action.busy}>
          {action.busy ? 'Registering…' : 'Register repository'}
        </button>
      </form>
    </section>
  );
}
