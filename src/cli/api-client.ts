// The CLI's view of a Tandem server: URL and token from flags, TANDEM_SERVER / TANDEM_TOKEN, or
// what `tandem login` saved.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readCredentials } from './credentials.js';

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/**
 * A refused request as a sentence: the server's message already names the object ("no pipeline
 * 42"); the method, path and status code are for the debug log, not the user.
 */
export function errorInWords(status: number, message: string): string {
  // The server's 401 tells an HTTP client how to send a token; the CLI user needs the command instead.
  if (status === 401) return 'the server did not accept the token (missing, wrong, expired or revoked): run tandem login, or pass --token';
  if (status === 403) return `not allowed: ${message || 'your role does not permit this'}`;
  if (status === 404) return message || 'not found';
  if (status === 410) return message || 'gone';
  if (status === 429) return `${message || 'too many requests'}: try again later`;
  if (status >= 500) return `the server failed (${status})${message ? `: ${message}` : ''}`;
  return message || `the server refused the request (${status})`;
}

export interface ApiOptions {
  server?: string;
  token?: string;
  dataDir?: string;
}

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
  ) {}

  /** The server URL from --server, TANDEM_SERVER, the last `tandem login`, or the local default. */
  static serverOf(opts: ApiOptions): string {
    return (opts.server ?? process.env.TANDEM_SERVER ?? readCredentials().current ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  }

  /** Token from --token, TANDEM_TOKEN, `tandem login` for this server, or a local server's admin.token. */
  static fromOptions(opts: ApiOptions): ApiClient {
    const server = ApiClient.serverOf(opts);
    let token = opts.token ?? process.env.TANDEM_TOKEN ?? readCredentials().servers[server]?.token;
    if (!token) {
      // A local `tandem up` writes its admin token into the data dir: use it when nothing else is given.
      const file = join(resolve(opts.dataDir ?? process.env.TANDEM_DATA_DIR ?? '.tandem'), 'admin.token');
      try {
        token = readFileSync(file, 'utf8').trim();
      } catch {
        throw new CliError(`no API token for ${server}: run tandem login, pass --token, set TANDEM_TOKEN, or run where ${file} exists`);
      }
    }
    return new ApiClient(server, token);
  }

  async raw(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(this.baseUrl + path, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new CliError(
        `cannot reach ${this.baseUrl}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`,
      );
    }
    if (!res.ok) {
      const text = await res.text();
      let message = text;
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? text;
      } catch {
        // Plain text error.
      }
      throw new CliError(errorInWords(res.status, message.trim()));
    }
    return res;
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.raw(method, path, body);
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }

  /** Reads a Server-Sent Events stream, calling onEvent for each event until the server closes it. */
  async sse(path: string, onEvent: (event: string, data: string, id?: string) => void, signal?: AbortSignal): Promise<void> {
    const res = await this.raw('GET', path, undefined, { accept: 'text/event-stream' });
    if (!res.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    const reader = res.body.getReader();
    signal?.addEventListener('abort', () => void reader.cancel(), { once: true });
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        let id: string | undefined;
        const data: string[] = [];
        for (const line of frame.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('id: ')) id = line.slice(4);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
        }
        if (data.length > 0) onEvent(event, data.join('\n'), id);
      }
    }
  }
}
