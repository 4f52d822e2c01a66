// HTTP client of an agent. It knows several server URLs and moves to the next one when a server does
// not answer; requests that change state are idempotent on the server (sequence numbers, fencing
// tokens, digests), so retrying them after a lost response is safe.
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A 409 means the claim is stale: another agent owns the job now, so stop working on it. */
export class StaleClaimError extends HttpError {}

export interface ClientOptions {
  servers: string[];
  token: string;
  /** How long to keep retrying a request while no server answers. */
  retryForMs?: number;
  userAgent?: string;
}

type Body = { json: unknown } | { stream: Readable; length: number } | undefined;

export class ServerClient {
  private current = 0;
  private readonly servers: string[];
  token: string;
  private readonly retryForMs: number;
  private readonly userAgent: string;

  constructor(opts: ClientOptions) {
    if (opts.servers.length === 0) throw new Error('agent: at least one server URL is needed (--server)');
    this.servers = opts.servers.map((s) => s.replace(/\/+$/, ''));
    this.token = opts.token;
    this.retryForMs = opts.retryForMs ?? 60_000;
    this.userAgent = opts.userAgent ?? 'tandem-agent';
  }

  get serverUrl(): string {
    return this.servers[this.current];
  }

  /**
   * Sends a request, failing over between servers with exponential backoff and jitter on network
   * errors and 502/503/504. Other HTTP errors are returned to the caller at once.
   */
  /** `timeoutMs: null` is for streams that stay open as long as both sides live. */
  async request(
    method: string,
    path: string,
    body?: Body,
    opts: { signal?: AbortSignal; timeoutMs?: number | null } = {},
  ): Promise<Response> {
    const deadline = Date.now() + this.retryForMs;
    let attempt = 0;
    for (;;) {
      const base = this.servers[this.current];
      const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, 'user-agent': this.userAgent };
      let payload: RequestInit['body'];
      if (body && 'json' in body) {
        headers['content-type'] = 'application/json';
        payload = JSON.stringify(body.json);
      } else if (body && 'stream' in body) {
        headers['content-type'] = 'application/octet-stream';
        headers['content-length'] = String(body.length);
        payload = Readable.toWeb(body.stream) as ReadableStream;
      }
      const signals = opts.timeoutMs === null ? [] : [AbortSignal.timeout(opts.timeoutMs ?? 60_000)];
      if (opts.signal) signals.push(opts.signal);
      try {
        const res = await fetch(base + path, {
          method,
          headers,
          body: payload,
          signal: AbortSignal.any(signals),
          duplex: 'half',
        } as RequestInit);
        if (res.status !== 502 && res.status !== 503 && res.status !== 504) return res;
        await res.body?.cancel();
      } catch (err) {
        if (opts.signal?.aborted) throw err;
        // A stream body cannot be sent twice.
        if (body && 'stream' in body) throw err;
      }
      if (Date.now() >= deadline)
        throw new Error(`no server answered ${method} ${path} within ${this.retryForMs} ms (tried ${this.servers.join(', ')})`);
      this.current = (this.current + 1) % this.servers.length;
      attempt++;
      const backoff = Math.min(5000, 100 * 2 ** Math.min(attempt, 6));
      await sleep(backoff / 2 + Math.random() * (backoff / 2), undefined, { signal: opts.signal });
    }
  }

  async json<T>(method: string, path: string, body?: unknown, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<T | null> {
    const res = await this.request(method, path, body === undefined ? undefined : { json: body }, opts);
    return parseResponse<T>(res, method, path);
  }

  /** Streams a file in a PUT; the server's JSON answer, if it gives one. */
  async uploadFile<T = unknown>(path: string, file: string, size: number): Promise<T | null> {
    const res = await this.request('PUT', path, { stream: createReadStream(file), length: size }, { timeoutMs: 30 * 60_000 });
    return parseResponse<T>(res, 'PUT', path);
  }

  async download(path: string): Promise<Readable> {
    const res = await this.request('GET', path, undefined, { timeoutMs: 30 * 60_000 });
    if (!res.ok || !res.body) await parseResponse(res, 'GET', path);
    return Readable.fromWeb(res.body as import('node:stream/web').ReadableStream);
  }
}

async function parseResponse<T>(res: Response, method: string, path: string): Promise<T | null> {
  if (res.status === 204) return null;
  const text = await res.text();
  if (!res.ok) {
    let message = text;
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? text;
    } catch {
      // Not JSON: keep the text.
    }
    const ErrorType = res.status === 409 ? StaleClaimError : HttpError;
    throw new ErrorType(res.status, `${method} ${path}: ${res.status} ${message}`);
  }
  return (text ? JSON.parse(text) : null) as T | null;
}
