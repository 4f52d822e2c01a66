// How git authenticates to a private repository: an HTTPS token or an SSH deploy key with its known
// hosts. Write-only: the API shows only the kind, the deploy key's public half and fingerprints, so
// the form takes a secret only to replace it and forgets it once the server has it.
import { useState, type FormEvent } from 'react';
import { api } from '../../api.js';
import { ActionOutcome, useAction } from '../../components/action.js';
import { ConfirmDialog } from '../../components/confirm.js';
import { useRepo } from '../../components/repo-frame.js';
import { seg } from '../../router.js';
import type { Repo } from '../../types.js';
import { CopyButton } from './copy.js';
import { optionalText } from './form.js';

type Kind = 'token' | 'ssh';

/** ssh://, or git's scp-like host:path (a colon before any slash, no scheme). */
const isSsh = (url: string) => /^(ssh|git\+ssh|ssh\+git):\/\//i.test(url) || (!url.includes('://') && /^[^/]+:/.test(url));

export function CredentialsSettings() {
  const { repo, can, reload } = useRepo();
  const action = useAction();
  const [kind, setKind] = useState<Kind>(isSsh(repo.url) ? 'ssh' : 'token');
  const [saved, setSaved] = useState(false);
  const [removing, setRemoving] = useState(false);
  const editable = can('repo.update');

  const patch = (credentials: Record<string, string> | null) =>
    action.run(async () => {
      await api<Repo>(`/api/v1/repos/${seg(repo.name)}`, { method: 'PATCH', body: { credentials } });
      reload();
    });

  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const data = new FormData(form);
    const username = optionalText(data, 'username');
    const credentials: Record<string, string> =
      kind === 'token'
        ? { type: 'token', token: String(data.get('token')).trim(), ...(username ? { username } : {}) }
        : { type: 'ssh', privateKey: String(data.get('privateKey')), knownHosts: String(data.get('knownHosts')) };
    setSaved(false);
    void patch(credentials).then((ok) => {
      // The secret leaves the page as soon as the server has it.
      if (ok) form.reset();
      setSaved(Boolean(ok));
    });
  };

  return (
    <section aria-labelledby="settings-credentials" className="repo-section">
      <h2 id="settings-credentials">Credentials</h2>
      <p className="muted">
        How Tandem fetches a private repository. Stored encrypted and never shown again; agents get it only to check out this repository's
        jobs.
      </p>
      <CurrentCredential credentials={repo.credentials} />
      <ActionOutcome action={action} saved={saved} />
      {editable ? (
        <>
          <form className="form" onSubmit={submit} aria-labelledby="credentials-form-title">
            <h3 id="credentials-form-title">{repo.credentials ? 'Replace the credential' : 'Set a credential'}</h3>
            <fieldset className="plain">
              <legend>Kind</legend>
              <label className="check">
                <input type="radio" name="kind" value="token" checked={kind === 'token'} onChange={() => setKind('token')} /> HTTPS token{' '}
                <span className="muted">(for https:// URLs)</span>
              </label>
              <label className="check">
                <input type="radio" name="kind" value="ssh" checked={kind === 'ssh'} onChange={() => setKind('ssh')} /> SSH deploy key{' '}
                <span className="muted">(for ssh:// and git@host:path URLs)</span>
              </label>
            </fieldset>
            {kind === 'token' ? (
              <>
                <label>
                  Username <span className="muted">(optional; default x-access-token)</span>
                  <input name="username" autoComplete="off" />
                </label>
                <label>
                  Token
                  <input name="token" type="password" required autoComplete="new-password" />
                </label>
              </>
            ) : (
              <>
                <label>
                  Private key <span className="muted">(OpenSSH format, without a passphrase)</span>
                  <textarea name="privateKey" rows={6} required autoComplete="off" spellCheck={false} className="mono" />
                </label>
                <label>
                  Known hosts <span className="muted">(the host's key lines, e.g. from ssh-keyscan: check their fingerprint)</span>
                  <textarea name="knownHosts" rows={3} required autoComplete="off" spellCheck={false} className="mono" />
                </label>
              </>
            )}
            <button type="submit" className="primary" disabled={action.busy}>
              Save credential
            </button>
          </form>
          {repo.credentials ? (
            <div className="actions">
              <button type="button" className="danger" disabled={action.busy} onClick={() => setRemoving(true)}>
                Remove the credential
              </button>
            </div>
          ) : null}
          <ConfirmDialog
            open={removing}
            title="Remove the credential?"
            confirmLabel="Remove"
            danger
            onConfirm={() => {
              setRemoving(false);
              void patch(null);
            }}
            onCancel={() => setRemoving(false)}
          >
            <p>Tandem then fetches the repository anonymously: a private repository can no longer be fetched.</p>
          </ConfirmDialog>
        </>
      ) : (
        <p className="muted">Only maintainers change the credential.</p>
      )}
    </section>
  );
}

function CurrentCredential({ credentials }: { credentials: Repo['credentials'] }) {
  if (credentials === null)
    return (
      <p>
        Credential: <strong>none</strong> (fetched anonymously)
      </p>
    );
  if (credentials.type === 'token')
    return (
      <p>
        Credential: <strong>HTTPS token</strong> (set)
      </p>
    );
  return (
    <>
      <p>
        Credential: <strong>SSH deploy key</strong> <code className="wrap-anywhere">{credentials.keyFingerprint}</code>
      </p>
      <p>
        Public key, to add as a deploy key on the Git host: <code className="wrap-anywhere">{credentials.publicKey}</code>{' '}
        <CopyButton text={credentials.publicKey} label="Copy the public key" />
      </p>
      <div className="table-wrap">
        <table>
          <caption className="visually-hidden">Known hosts</caption>
          <thead>
            <tr>
              <th>Known host</th>
              <th>Key type</th>
              <th>Fingerprint</th>
            </tr>
          </thead>
          <tbody>
            {credentials.knownHosts.map((k, i) => (
              <tr key={i}>
                <td className="mono">
                  {k.marker ? `@${k.marker} ` : ''}
                  {k.hosts}
                </td>
                <td>{k.type}</td>
                <td className="mono wrap-anywhere">{k.fingerprint}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
