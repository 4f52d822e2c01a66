// The one way the UI talks to the server: JSON over fetch with the session cookie, the session's
// CSRF token on every change, and errors that carry the server's own message.
import { useCallback, useEffect, useEffectEvent, useState } from 'react';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

let csrfToken: string | null = null;

/** Set by the session once it knows the token (sign-in, or GET /api/v1/session). */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Fired when the server says the session is gone, so the app can show the sign-in page. */
export const UNAUTHORIZED_EVENT = 'tandem:unauthorized';

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  body?: unknown;
  signal?: AbortSignal;
}

export async function request(path: string, opts: RequestOptions = {}): Promise<Response> {
  const method = opts.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json' };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  const res = await fetch(path, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    credentials: 'same-origin',
    signal: opts.signal,
  });
  if (res.ok) return res;
  const text = await res.text();
  let message = text || res.statusText;
  try {
    const parsed = JSON.parse(text) as { message?: string; error?: string };
    message = parsed.message ?? parsed.error ?? message;
  } catch {
    // Not JSON (a proxy's page): the text itself is the best message there is.
  }
  if (res.status === 401 && path !== '/api/v1/session') window.dispatchEvent(new Event(UNAUTHORIZED_EVENT));
  throw new ApiError(res.status, message);
}

export async function api<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const res = await request(path, opts);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | Error | undefined;
  loading: boolean;
  /** Loads again, keeping the current data on screen meanwhile. */
  reload: () => void;
  /** Replaces the data locally (a live event's update). */
  setData: (update: (current: T | undefined) => T | undefined) => void;
}

/** GETs `path` (null: nothing yet) and again whenever it changes; `refreshMs` polls. */
export function useApi<T>(path: string | null, refreshMs?: number): Loaded<T> {
  const [generation, setGeneration] = useState(0);
  // One record of the last answer and what it answered: data of another path is never shown.
  const [state, setState] = useState<{ path: string | null; generation: number; data?: T; error?: Error }>({ path: null, generation: -1 });

  useEffect(() => {
    if (path === null) return;
    const abort = new AbortController();
    api<T>(path, { signal: abort.signal }).then(
      (data) => setState({ path, generation, data }),
      (err: unknown) => {
        if (abort.signal.aborted) return;
        const error = err instanceof Error ? err : new Error(String(err));
        setState((s) => ({ path, generation, data: s.path === path ? s.data : undefined, error }));
      },
    );
    return () => abort.abort();
  }, [path, generation]);

  useEffect(() => {
    if (path === null || !refreshMs) return;
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') setGeneration((g) => g + 1);
    }, refreshMs);
    return () => clearInterval(timer);
  }, [path, refreshMs]);

  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  const update = useCallback((fn: (current: T | undefined) => T | undefined) => setState((s) => ({ ...s, data: fn(s.data) })), []);
  const current = state.path === path;
  return {
    data: current ? state.data : undefined,
    error: current ? state.error : undefined,
    loading: path !== null && (!current || state.generation !== generation),
    reload,
    setData: update,
  };
}

/**
 * Listens to a server-sent event stream while mounted. The browser reconnects by itself (sending
 * Last-Event-ID); `onEvent` gets each event's name and parsed data.
 */
export function useEventStream(
  path: string | null,
  onEvent: (name: string, data: unknown, id: string) => void,
  names: readonly string[],
): void {
  const handler = useEffectEvent(onEvent);
  const key = names.join(',');
  useEffect(() => {
    if (path === null) return;
    const source = new EventSource(path, { withCredentials: true });
    const listeners = key.split(',').map((name) => {
      const listener = (e: MessageEvent<string>) => {
        let data: unknown = e.data;
        try {
          data = JSON.parse(e.data);
        } catch {
          // A plain text event (a log chunk): handed over as it is.
        }
        handler(name, data, e.lastEventId);
      };
      source.addEventListener(name, listener);
      return [name, listener] as const;
    });
    return () => {
      for (const [name, listener] of listeners) source.removeEventListener(name, listener);
      source.close();
    };
  }, [path, key]);
}
