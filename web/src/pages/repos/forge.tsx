// Where the repository's commit statuses go (the check on a pull request), and how their delivery
// is going: the last status sent, the last error, how many wait. The token and the App's private
// key are write-only: the page never sees them, and leaving them empty keeps the stored ones.
import { useState, type FormEvent } from 'react';
import { api } from '../../api.js';
import { ActionOutcome, useAction } from '../../components/action.js';
import { useRepo } from '../../components/repo-frame.js';
import { seg } from '../../router.js';
import type { Repo } from '../../types.js';
import { optionalNumber, optionalText } from './form.js';

const FORGES: Record<string, string> = { github: 'GitHub', gitlab: 'GitLab', gitea: 'Gitea / Forgejo', bitbucket: 'Bitbucket' };

function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : 'never';
}

export function ForgeSettings() {
  const { repo, can, reload } = useRepo();
  const action = useAction();
  const [saved, setSaved] = useState(false);
  const forge = repo.forge;
  const editable = can('repo.update');

  const send = (body: Record<string, unknown> | null, form?: HTMLFormElement) =>
    action
      .run(async () => {
        await api<Repo>(`/api/v1/repos/${seg(repo.name)}`, { method: 'PATCH', body: { forge: body } });
        form?.reset();
        reload();
      })
      .then(setSaved);

  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const data = new FormData(form);
    setSaved(false);
    void send(
      {
        type: optionalText(data, 'type'),
        apiUrl: optionalText(data, 'apiUrl'),
        project: optionalText(data, 'project'),
        token: optionalText(data, 'token'),
        appId: optionalText(data, 'appId'),
        privateKey: optionalText(data, 'privateKey'),
        installationId: optionalNumber(data, 'installationId'),
        statuses: optionalText(data, 'statuses'),
      },
      form,
    );
  };

  return (
    <section aria-labelledby="settings-forge" className="repo-section">
      <h2 id="settings-forge">Commit statuses</h2>
      <p className="muted">
        Tandem sets a status on each commit it runs a pipeline for (the check on a pull request), linked to the pipeline's page. With a
        GitHub App instead of a token, GitHub gets Checks runs.
      </p>
      {forge ? (
        <dl className="facts" aria-label="Delivery of commit statuses">
          <dt>Sent to</dt>
          <dd>
            {FORGES[forge.type] ?? forge.type} <span className="mono">{forge.project}</span> at <span className="mono">{forge.apiUrl}</span>
            {forge.appId ? ` as GitHub App ${forge.appId}` : ''}
          </dd>
          <dt>Credential</dt>
          <dd>{forge.appId ? 'GitHub App private key set' : forge.hasToken ? 'token set' : 'none'}</dd>
          <dt>Last delivery</dt>
          <dd>{when(forge.delivery?.lastSentAt)}</dd>
          <dt>Waiting</dt>
          <dd>{forge.delivery?.pending ?? 0}</dd>
          <dt>Last error</dt>
          <dd>
            {forge.delivery?.lastError ? (
              <>
                <span className="wrap-anywhere">{forge.delivery.lastError}</span>{' '}
                <span className="muted">({when(forge.delivery.lastErrorAt)})</span>
              </>
            ) : (
              'none'
            )}
          </dd>
        </dl>
      ) : (
        <p>No forge: statuses are not sent.</p>
      )}
      {editable ? (
        <form className="form" onSubmit={submit}>
          <label>
            Forge
            <select name="type" defaultValue={forge?.type ?? 'github'}>
              {Object.entries(FORGES).map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          </label>
          <label>
            API URL <span className="muted">(empty: GitHub's, GitLab.com's or Bitbucket Cloud's)</span>
            <input name="apiUrl" type="url" defaultValue={forge?.apiUrl ?? ''} autoComplete="off" />
          </label>
          <label>
            Project <span className="muted">(owner/name, or GitLab's project id)</span>
            <input name="project" defaultValue={forge?.project ?? ''} required autoComplete="off" />
          </label>
          <label>
            Token <span className="muted">{forge?.hasToken ? '(set; empty keeps it)' : ''}</span>
            <input name="token" type="password" autoComplete="new-password" />
          </label>
          <label>
            GitHub App id <span className="muted">(instead of a token: Checks runs)</span>
            <input name="appId" inputMode="numeric" defaultValue={forge?.appId ?? ''} autoComplete="off" />
          </label>
          <label>
            GitHub App private key <span className="muted">{forge?.appId ? '(set; empty keeps it)' : '(.pem)'}</span>
            <textarea name="privateKey" rows={3} autoComplete="off" spellCheck={false} />
          </label>
          <label>
            Installation id <span className="muted">(empty: looked up)</span>
            <input name="installationId" type="number" min={1} defaultValue={forge?.installationId ?? ''} />
          </label>
          <label>
            Statuses
            <select name="statuses" defaultValue={forge?.statuses ?? 'pipeline'}>
              <option value="pipeline">one per pipeline</option>
              <option value="jobs">one per pipeline and one per job</option>
            </select>
          </label>
          <ActionOutcome action={action} saved={saved} />
          <div className="actions">
            <button type="submit" className="primary" disabled={action.busy}>
              Save forge
            </button>
            {forge ? (
              <button type="button" disabled={action.busy} onClick={() => void send(null)}>
                Stop sending statuses
              </button>
            ) : null}
          </div>
        </form>
      ) : null}
    </section>
  );
}
