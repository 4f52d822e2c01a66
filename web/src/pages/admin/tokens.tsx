// Your personal access tokens for the API and the CLI: create one with scopes and an expiry (its
// secret is shown once, here), see when each was last used, revoke it.
import { useState, type FormEvent } from 'react';
import { api, useApi } from '../../api.js';
import { useAction } from '../../components/action.js';
import { Await, DataTable, Empty, ErrorBox, Page, Time } from '../../components/common.js';
import { ConfirmDialog } from '../../components/confirm.js';
import { useUser } from '../../session.js';
import type { CreatedToken, TokenInfo } from './types.js';

const SCOPES = [
  { value: 'api', label: 'api: everything you may do' },
  { value: 'read_api', label: 'read_api: reading only' },
  { value: 'register_agent', label: 'register_agent: registering agents only', admin: true },
];

function OnceSecret({ created, onDone }: { created: CreatedToken; onDone: () => void }) {
  const [copied, setCopied] = useState<'yes' | 'failed' | null>(null);
  const copy = () =>
    navigator.clipboard.writeText(created.token).then(
      () => setCopied('yes'),
      () => setCopied('failed'),
    );
  return (
    <section className="notice" aria-labelledby="new-token">
      <h2 id="new-token">Token {created.name} created</h2>
      <p>Copy it now: it is shown only once.</p>
      <div className="secret">
        <code aria-label="Token secret">{created.token}</code>
        <button type="button" onClick={() => void copy()}>
          Copy
        </button>
        <span role="status">
          {copied === 'yes' ? 'Copied.' : copied === 'failed' ? 'Copying failed: select the token and copy it.' : ''}
        </span>
      </div>
      <p>
        Send it as <code>Authorization: Bearer …</code>, or give it to the CLI as <code>TANDEM_TOKEN</code> or <code>--token</code>.
      </p>
      <button type="button" onClick={onDone}>
        Done
      </button>
    </section>
  );
}

function NewToken({ onCreated }: { onCreated: (token: CreatedToken) => void }) {
  const user = useUser();
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>(['api']);
  const [expires, setExpires] = useState('');
  const action = useAction();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    // The end of the chosen day, local time.
    const body = { name, scopes, expiresAt: expires ? new Date(`${expires}T23:59:59`).toISOString() : null };
    const result: { created?: CreatedToken } = {};
    const ok = await action.run(async () => {
      result.created = await api<CreatedToken>('/api/v1/tokens', { method: 'POST', body });
    });
    if (ok && result.created) {
      setName('');
      setExpires('');
      onCreated(result.created);
    }
  };

  const toggle = (scope: string, on: boolean) => setScopes((s) => (on ? [...s, scope] : s.filter((x) => x !== scope)));

  return (
    <form className="form" onSubmit={(e) => void submit(e)} aria-labelledby="create-token">
      <h2 id="create-token">New token</h2>
      <label>
        Name
        <input required value={name} onChange={(e) => setName(e.target.value)} placeholder="laptop CLI" />
      </label>
      <fieldset className="scopes">
        <legend>Scopes</legend>
        {SCOPES.filter((s) => !s.admin || user.admin).map((s) => (
          <label key={s.value}>
            <input type="checkbox" checked={scopes.includes(s.value)} onChange={(e) => toggle(s.value, e.target.checked)} /> {s.label}
          </label>
        ))}
      </fieldset>
      <label>
        Expires on (optional)
        <input type="date" value={expires} onChange={(e) => setExpires(e.target.value)} />
      </label>
      {action.error ? <ErrorBox error={action.error} /> : null}
      <button type="submit" className="primary" disabled={action.busy || scopes.length === 0}>
        {action.busy ? 'Creating…' : 'Create token'}
      </button>
    </form>
  );
}

export function TokensPage() {
  const tokens = useApi<TokenInfo[]>('/api/v1/tokens');
  const [created, setCreated] = useState<CreatedToken | null>(null);
  const [revoking, setRevoking] = useState<TokenInfo | null>(null);
  const revoke = useAction();

  const confirmRevoke = async () => {
    if (!revoking) return;
    if (await revoke.run(() => api(`/api/v1/tokens/${revoking.id}`, { method: 'DELETE' }))) {
      setRevoking(null);
      tokens.reload();
    }
  };

  return (
    <Page title="Access tokens">
      {created ? <OnceSecret created={created} onDone={() => setCreated(null)} /> : null}
      <Await loaded={tokens} what="tokens">
        {(list) => (
          <DataTable
            rows={list}
            empty={<Empty>No tokens yet.</Empty>}
            columns={['Name', 'Scopes', 'Created', 'Expires', 'Last used', 'Actions']}
            row={(t) => (
              <tr key={t.id}>
                <th scope="row">{t.name}</th>
                <td>{t.scopes.join(', ')}</td>
                <td>
                  <Time iso={t.createdAt} />
                </td>
                <td>
                  {t.expired ? <span className="badge status-failed">expired</span> : null}{' '}
                  {t.expiresAt ? <Time iso={t.expiresAt} /> : <span className="muted">never</span>}
                </td>
                <td>
                  <Time iso={t.lastUsedAt} />
                </td>
                <td>
                  <button type="button" className="danger" onClick={() => setRevoking(t)} aria-label={`Revoke ${t.name}`}>
                    Revoke
                  </button>
                </td>
              </tr>
            )}
          />
        )}
      </Await>
      <NewToken
        onCreated={(token) => {
          setCreated(token);
          tokens.reload();
        }}
      />
      <ConfirmDialog
        open={revoking !== null}
        title={`Revoke ${revoking?.name ?? ''}?`}
        confirmLabel="Revoke token"
        danger
        busy={revoke.busy}
        onConfirm={() => void confirmRevoke()}
        onCancel={() => setRevoking(null)}
      >
        <p>Every request with it is refused from now on, on every server.</p>
        {revoke.error ? <ErrorBox error={revoke.error} /> : null}
      </ConfirmDialog>
    </Page>
  );
}
