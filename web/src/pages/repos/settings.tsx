// A repository's settings: where it is fetched from and with which credential, its visibility and
// badge, webhooks and their secret, commit statuses, CI/CD variables, notifications, members and
// protected branches. Each control shows only to those allowed to use it; the server decides
// anyway, and its refusal is shown where it happened.
import { useState, type FormEvent } from 'react';
import { api } from '../../api.js';
import { RepoFrame, useRepo } from '../../components/repo-frame.js';
import { ConfirmDialog } from '../../components/confirm.js';
import { seg } from '../../router.js';
import type { Repo } from '../../types.js';
import { ActionError, ActionOutcome, useAction } from '../../components/action.js';
import { MembersSettings, ProtectedBranchesSettings } from './access.js';
import { CopyButton } from './copy.js';
import { CredentialsSettings } from './credentials.js';
import { ForgeSettings } from './forge.js';
import { optionalNumber, optionalText } from './form.js';
import { VariablesSettings } from './variables.js';
import { NotificationsSection } from '../../components/notifications.js';

export function RepoSettings({ name }: { name: string }) {
  return (
    <RepoFrame name={name} title="Settings">
      <GeneralSettings />
      <CredentialsSettings />
      <WebhookSettings />
      <ForgeSettings />
      <VariablesSettings />
      <NotificationSettings />
      <MembersSettings />
      <ProtectedBranchesSettings />
    </RepoFrame>
  );
}

/** Who hears of this repository's pipelines: its maintainers manage the list (its targets are credentials too). */
function NotificationSettings() {
  const { repo, can } = useRepo();
  if (!can('notification.read')) return null;
  return (
    <NotificationsSection
      path={`/api/v1/repos/${seg(repo.name)}/notifications`}
      canManage={can('notification.create')}
      mine={false}
      headingId="settings-notifications"
    />
  );
}

/** PATCHes the framed repository, then reloads the frame so every section sees the change. */
function useRepoUpdate() {
  const { repo, reload } = useRepo();
  const action = useAction();
  const update = (
    changes: Partial<
      Pick<Repo, 'url' | 'path' | 'defaultBranch' | 'pollInterval' | 'visibility' | 'quarantineFlakyTests' | 'maxConcurrentJobs'>
    > & {
      webhookSecret?: string;
    },
  ) =>
    action.run(async () => {
      await api<Repo>(`/api/v1/repos/${seg(repo.name)}`, { method: 'PATCH', body: changes });
      reload();
    });
  return { action, update };
}

function GeneralSettings() {
  const { repo, can } = useRepo();
  const { action, update } = useRepoUpdate();
  const [saved, setSaved] = useState(false);
  const editable = can('repo.update');
  const badgeUrl = (kind: string) =>
    `${location.origin}/api/v1/repos/${seg(repo.name)}/badges/${kind}.svg?ref=${encodeURIComponent(repo.defaultBranch)}`;
  const badge = `![pipeline](${badgeUrl('pipeline')})`;
  const coverageBadge = `![coverage](${badgeUrl('coverage')})`;

  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const data = new FormData(e.currentTarget);
    setSaved(false);
    void update({
      url: optionalText(data, 'url'),
      path: optionalText(data, 'path'),
      defaultBranch: optionalText(data, 'defaultBranch'),
      pollInterval: optionalNumber(data, 'pollInterval') ?? 0,
      visibility: data.get('visibility') === 'public' ? 'public' : 'private',
      quarantineFlakyTests: data.has('quarantineFlakyTests'),
      // Empty: no limit.
      maxConcurrentJobs: optionalNumber(data, 'maxConcurrentJobs') ?? null,
    }).then(setSaved);
  };

  return (
    <section aria-labelledby="settings-general" className="repo-section">
      <h2 id="settings-general">General</h2>
      <form className="form" onSubmit={submit}>
        <fieldset disabled={!editable} className="plain">
          <label>
            Git URL
            <input name="url" defaultValue={repo.url} required autoComplete="off" />
          </label>
          <label>
            Project path <span className="muted">(group/name, as include:project names it)</span>
            <input name="path" defaultValue={repo.path} required autoComplete="off" />
          </label>
          <label>
            Default branch
            <input name="defaultBranch" defaultValue={repo.defaultBranch} required autoComplete="off" />
          </label>
          <label>
            Poll interval in seconds <span className="muted">(0: no polling)</span>
            <input name="pollInterval" type="number" min={0} max={86400} defaultValue={repo.pollInterval ?? 0} />
          </label>
          <label>
            Concurrent jobs <span className="muted">(at most this many of its jobs run at once; empty: no limit)</span>
            <input name="maxConcurrentJobs" type="number" min={1} step={1} defaultValue={repo.maxConcurrentJobs ?? ''} />
          </label>
          <label>
            Visibility <span className="muted">(public: the pipeline and coverage badges are readable without signing in)</span>
            <select name="visibility" defaultValue={repo.visibility}>
              <option value="private">Private</option>
              <option value="public">Public</option>
            </select>
          </label>
          <label className="check">
            <input name="quarantineFlakyTests" type="checkbox" defaultChecked={repo.quarantineFlakyTests} /> Quarantine flaky tests{' '}
            <span className="muted">
              (a job whose only failing tests are known flaky is allowed to fail: the pipeline passes with a warning)
            </span>
          </label>
        </fieldset>
        <p className="muted">
          Pipeline badge: <code>{badge}</code> <CopyButton text={badge} label="Copy the badge's Markdown" />
        </p>
        <p className="muted">
          Coverage badge: <code>{coverageBadge}</code> <CopyButton text={coverageBadge} label="Copy the coverage badge's Markdown" />
        </p>
        <ActionOutcome action={action} saved={saved} />
        {editable ? (
          <button type="submit" className="primary" disabled={action.busy}>
            Save changes
          </button>
        ) : (
          <p className="muted">Only maintainers change these settings.</p>
        )}
      </form>
    </section>
  );
}

const PROVIDERS: Record<string, string> = { github: 'GitHub', gitlab: 'GitLab', gitea: 'Gitea / Forgejo', bitbucket: 'Bitbucket' };

/** 32 random bytes as hex: a secret the browser makes, shown once and never stored by the page. */
function randomSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function WebhookSettings() {
  const { repo, can } = useRepo();
  const { action, update } = useRepoUpdate();
  const [shownSecret, setShownSecret] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);

  const setSecret = async (secret: string) => {
    setShownSecret(null);
    if (await update({ webhookSecret: secret })) setShownSecret(secret);
  };
  const generate = () => {
    setConfirming(false);
    void setSecret(randomSecret());
  };
  const submitOwn = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const secret = optionalText(new FormData(form), 'secret');
    if (secret) void setSecret(secret).then(() => form.reset());
  };

  return (
    <section aria-labelledby="settings-webhooks" className="repo-section">
      <h2 id="settings-webhooks">Webhooks</h2>
      <p className="muted">Point your Git host's push webhook at the URL for it. Deliveries are checked against the secret.</p>
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th>Provider</th>
              <th>Webhook URL</th>
              <th>
                <span className="visually-hidden">Copy</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(repo.webhookUrls).map(([provider, url]) => (
              <tr key={provider}>
                <td>{PROVIDERS[provider] ?? provider}</td>
                <td className="mono wrap-anywhere">{url}</td>
                <td>
                  <CopyButton text={url} label={`Copy the ${PROVIDERS[provider] ?? provider} webhook URL`} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p>
        Secret: <strong>{repo.hasWebhookSecret ? 'set' : 'not set'}</strong>
      </p>
      {shownSecret ? (
        <div className="notice" role="status">
          <p>
            The new secret is <code className="wrap-anywhere">{shownSecret}</code>. Copy it into your Git host's webhook settings now: it is
            not shown again.
          </p>
          <CopyButton text={shownSecret} label="Copy the new secret" />
        </div>
      ) : null}
      <ActionError action={action} />
      {can('repo.update') ? (
        <>
          <div className="actions">
            <button type="button" disabled={action.busy} onClick={() => (repo.hasWebhookSecret ? setConfirming(true) : generate())}>
              {repo.hasWebhookSecret ? 'Rotate secret' : 'Generate a secret'}
            </button>
          </div>
          <form className="inline-form" onSubmit={submitOwn}>
            <label>
              Or set a secret of your own
              <input name="secret" type="password" minLength={8} maxLength={256} required autoComplete="new-password" />
            </label>
            <button type="submit" disabled={action.busy}>
              Set secret
            </button>
          </form>
          <ConfirmDialog
            open={confirming}
            title="Rotate the webhook secret?"
            confirmLabel="Rotate"
            danger
            onConfirm={generate}
            onCancel={() => setConfirming(false)}
          >
            <p>Deliveries signed with the current secret are refused from now on, until the Git host has the new one.</p>
          </ConfirmDialog>
        </>
      ) : null}
    </section>
  );
}
