// Sign-in: a local (or LDAP) password, or a single sign-on provider's button. Shown for every path
// while signed out, and returns to that path afterwards.
import { useState, type FormEvent } from 'react';
import { useApi } from '../api.js';
import { ErrorBox } from '../components/common.js';
import { useSession } from '../session.js';
import type { LoginProviders } from '../types.js';

export function SignIn({ returnTo }: { returnTo: string }) {
  const { signIn } = useSession();
  const providers = useApi<LoginProviders>('/api/v1/login/providers');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [via, setVia] = useState<'local' | 'ldap'>('local');
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  const back = encodeURIComponent(returnTo);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(username, password, via);
    } catch (err) {
      setError(err instanceof Error ? err : new Error(String(err)));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="sign-in" id="main">
      <h1>Sign in to Tandem</h1>
      {error ? <ErrorBox error={error} /> : null}
      <form onSubmit={submit} className="form" aria-label="Sign in">
        <label>
          Username
          <input
            name="username"
            autoComplete="username"
            required
            value={username}
            onChange={(e) => setUsername(e.target.value)}
            autoFocus
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        {providers.data?.ldap ? (
          <label>
            Directory
            <select value={via} onChange={(e) => setVia(e.target.value as 'local' | 'ldap')}>
              <option value="local">Tandem account</option>
              <option value="ldap">LDAP</option>
            </select>
          </label>
        ) : null}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      {providers.data?.oidc || providers.data?.saml ? (
        <div className="sso">
          {providers.data.oidc ? (
            <a className="button" href={`/api/v1/login/oidc?return=${back}`}>
              Sign in with OpenID Connect
            </a>
          ) : null}
          {providers.data.saml ? (
            <a className="button" href={`/api/v1/login/saml?return=${back}`}>
              Sign in with SAML
            </a>
          ) : null}
        </div>
      ) : null}
    </main>
  );
}
