// A real Tandem server for the auth suites, with its log captured (to prove secrets stay out of
// it), and helpers to call it as a given user, token or browser session.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { loadConfig } from '../../src/config/index.js';
import type { Role } from '../../src/auth/permissions.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { makeRemote, type TestRemote } from '../support/git.js';

export interface Reply<T = unknown> {
  status: number;
  body: T;
  text: string;
  headers: Headers;
}

/** How a request authenticates: a bearer token, or a browser session (cookie, with its CSRF token). */
export type As = { token: string } | { session: Session } | { headers: Record<string, string> } | null;

export interface Session {
  cookie: string;
  csrf: string;
}

export async function call<T = unknown>(
  baseUrl: string,
  method: string,
  urlPath: string,
  opts: { as?: As; body?: unknown; headers?: Record<string, string>; csrf?: boolean } = {},
): Promise<Reply<T>> {
  const headers: Record<string, string> = {};
  const as = opts.as ?? null;
  if (as && 'token' in as) headers.authorization = `Bearer ${as.token}`;
  if (as && 'session' in as) {
    headers.cookie = as.session.cookie;
    if (opts.csrf !== false) headers['x-csrf-token'] = as.session.csrf;
  }
  if (as && 'headers' in as) Object.assign(headers, as.headers);
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  Object.assign(headers, opts.headers);
  const res = await fetch(baseUrl + urlPath, {
    method,
    headers,
    body: opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body),
  });
  const text = await res.text();
  let body: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('json') && text) body = JSON.parse(text);
  return { status: res.status, body: body as T, text, headers: res.headers };
}

export class AuthServer {
  private constructor(
    readonly server: RunningServer,
    readonly dataDir: string,
    readonly adminToken: string,
    private readonly logLines: string[],
  ) {}

  get url(): string {
    return this.server.url;
  }

  /** Everything the server logged (at debug level and above), for "never in the logs" checks. */
  logs(): string {
    return this.logLines.join('');
  }

  static async start(settings: Record<string, unknown> = {}): Promise<AuthServer> {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'tandem-auth-'));
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const config = loadConfig({ dataDir, port: 0, listen: '127.0.0.1', logLevel: 'debug', ...settings }, {});
    const server = await startServer(config, pino({ level: 'debug' }, sink));
    if (!server.newAdminToken) throw new Error('a fresh data dir must create the admin token');
    return new AuthServer(server, dataDir, server.newAdminToken, lines);
  }

  api<T = unknown>(
    method: string,
    urlPath: string,
    opts: { as?: As; body?: unknown; headers?: Record<string, string>; csrf?: boolean } = {},
  ): Promise<Reply<T>> {
    return call<T>(this.url, method, urlPath, { ...opts, as: opts.as === undefined ? { token: this.adminToken } : opts.as });
  }

  /** A user created by the admin, with an `api` token the admin made for them. */
  async user(username: string, opts: { password?: string; admin?: boolean; scopes?: string[] } = {}): Promise<{ token: string }> {
    const created = await this.api('POST', '/api/v1/users', { body: { username, password: opts.password, admin: opts.admin } });
    if (created.status !== 201) throw new Error(`creating ${username}: ${created.status} ${created.text}`);
    return { token: await this.tokenFor(username, opts.scopes ?? ['api']) };
  }

  async tokenFor(username: string, scopes: string[] = ['api'], extra: Record<string, unknown> = {}): Promise<string> {
    const res = await this.api<{ token: string }>('POST', '/api/v1/tokens', {
      body: { name: `${username} ${scopes.join('+')}`, scopes, username, ...extra },
    });
    if (res.status !== 201) throw new Error(`token for ${username}: ${res.status} ${res.text}`);
    return res.body.token;
  }

  async member(repo: string, username: string, role: Role): Promise<void> {
    const res = await this.api('PUT', `/api/v1/repos/${repo}/members/${username}`, { body: { role } });
    if (res.status !== 200) throw new Error(`member ${username} ${role} on ${repo}: ${res.status} ${res.text}`);
  }

  /** Signs in; the session's cookie and CSRF token on success. */
  async signIn(
    username: string,
    password: string,
    headers: Record<string, string> = {},
  ): Promise<{ reply: Reply<{ csrfToken: string; message?: string }>; session: Session | null }> {
    const reply = await call<{ csrfToken: string; message?: string }>(this.url, 'POST', '/api/v1/session', {
      as: null,
      body: { username, password },
      headers,
    });
    const setCookie = reply.headers.get('set-cookie');
    if (reply.status !== 201 || !setCookie) return { reply, session: null };
    return { reply, session: { cookie: setCookie.split(';')[0], csrf: reply.body.csrfToken } };
  }

  /** A bare repository with these files on main (and `branches` beside it), registered under `name`. */
  async repo(
    name: string,
    files: Record<string, string> = { '.gitlab-ci.yml': 'job:\n  script: [echo ok]\n' },
    branches: string[] = [],
  ): Promise<TestRemote> {
    const remote = await makeRemote(await mkdtemp(path.join(this.dataDir, `${name}-`)));
    await remote.commit(files, 'initial');
    await remote.push('main', ...branches.map((b) => `main:${b}`));
    const res = await this.api('POST', '/api/v1/repos', { body: { name, url: remote.bare } });
    if (res.status !== 201) throw new Error(`registering ${name}: ${res.status} ${res.text}`);
    return remote;
  }

  async close(): Promise<void> {
    await this.server.close();
    await rm(this.dataDir, { recursive: true, force: true });
  }
}
