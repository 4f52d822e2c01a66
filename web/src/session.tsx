// Who is signed in. The session cookie is HttpOnly: the UI learns the user (and the CSRF token for
// changes) from GET /api/v1/session, and forgets both when the server answers 401.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, ApiError, setCsrfToken, UNAUTHORIZED_EVENT } from './api.js';
import type { Session, User } from './types.js';

interface SessionState {
  /** undefined: still asking the server; null: signed out. */
  session: Session | null | undefined;
  signIn: (username: string, password: string, via: 'local' | 'ldap') => Promise<void>;
  signOut: () => Promise<void>;
}

const SessionContext = createContext<SessionState | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null | undefined>(undefined);

  const refresh = useCallback(async () => {
    try {
      const me = await api<Session>('/api/v1/session');
      setCsrfToken(me.csrfToken);
      setSession(me);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) throw err;
      setCsrfToken(null);
      setSession(null);
    }
  }, []);

  useEffect(() => {
    void Promise.resolve()
      .then(refresh)
      .catch(() => setSession(null));
    const gone = () => {
      setCsrfToken(null);
      setSession(null);
    };
    window.addEventListener(UNAUTHORIZED_EVENT, gone);
    return () => window.removeEventListener(UNAUTHORIZED_EVENT, gone);
  }, [refresh]);

  const signIn = useCallback(
    async (username: string, password: string, via: 'local' | 'ldap') => {
      const path = via === 'ldap' ? '/api/v1/login/ldap' : '/api/v1/session';
      const result = await api<{ user: User; csrfToken: string }>(path, { method: 'POST', body: { username, password } });
      setCsrfToken(result.csrfToken);
      await refresh();
    },
    [refresh],
  );

  const signOut = useCallback(async () => {
    try {
      await api('/api/v1/session', { method: 'DELETE' });
    } finally {
      setCsrfToken(null);
      setSession(null);
    }
  }, []);

  const value = useMemo(() => ({ session, signIn, signOut }), [session, signIn, signOut]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionState {
  const state = useContext(SessionContext);
  if (!state) throw new Error('useSession outside SessionProvider');
  return state;
}

/** The signed-in user (pages behind sign-in only). */
export function useUser(): User {
  const { session } = useSession();
  if (!session) throw new Error('useUser on a page shown signed out');
  return session.user;
}
