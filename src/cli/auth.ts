// Commands for people and permissions: login/logout/whoami, user, token, member, branch protection
// and the audit log.
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import type { ProtectedBranchJson, TokenJson, UserJson } from '../api/index.js';
import { parseDuration } from '../pipeline/index.js';
import { ApiClient, CliError, type ApiOptions } from './api-client.js';
import { credentialsFile, readCredentials, writeCredentials } from './credentials.js';
import { printJson, printTable } from './output.js';
import { promptHidden, readStdin } from './prompt.js';

type Listing = ApiOptions & { json?: boolean };
/** A token as listed; the answer that creates one also carries its secret, once. */
type IssuedTokenJson = TokenJson & { token?: string };

const path = (...parts: string[]) => parts.map(encodeURIComponent).join('/');

/**
 * Passwords come from stdin (`--password-stdin`: one per line, in the order asked) or from the
 * terminal without echo; never from a flag, which would land in the shell history and `ps`.
 */
class PasswordSource {
  private lines: Promise<string[]> | null = null;

  constructor(private readonly fromStdin: boolean) {}

  async next(prompt: string): Promise<string> {
    if (this.fromStdin) {
      this.lines ??= readStdin().then((text) => text.split(/\r?\n/));
      const line = (await this.lines).shift();
      if (line === undefined || line === '') throw new CliError(`--password-stdin: no line for "${prompt.replace(/:\s*$/, '')}"`);
      return line;
    }
    if (!process.stdin.isTTY) throw new CliError(`${prompt.replace(/:\s*$/, '')}: no terminal to ask on; pass --password-stdin`);
    return promptHidden(prompt);
  }
}

async function newPassword(source: PasswordSource, interactive: boolean): Promise<string> {
  const password = await source.next('New password: ');
  if (interactive && (await source.next('Repeat it: ')) !== password) throw new CliError('the passwords differ');
  return password;
}

/** A point in time from an ISO 8601 time or a duration ago ("2h", "1 day"). */
function timeAgo(value: string, what: string): string {
  const seconds = parseDuration(value);
  if (seconds !== null) return new Date(Date.now() - seconds * 1000).toISOString();
  if (Number.isNaN(Date.parse(value))) throw new CliError(`${what}: expected an ISO 8601 time or a duration like 2h, got "${value}"`);
  return new Date(value).toISOString();
}

function expiry(opts: { expiresIn?: string; expiresAt?: string }): string | undefined {
  if (opts.expiresAt !== undefined) {
    if (Number.isNaN(Date.parse(opts.expiresAt))) throw new CliError(`--expires-at: expected an ISO 8601 time, got "${opts.expiresAt}"`);
    return new Date(opts.expiresAt).toISOString();
  }
  if (opts.expiresIn === undefined || opts.expiresIn === 'never') return undefined;
  const seconds = parseDuration(opts.expiresIn);
  if (seconds === null || seconds <= 0) throw new CliError(`--expires-in: expected a duration like 30d, or never, got "${opts.expiresIn}"`);
  return new Date(Date.now() + seconds * 1000).toISOString();
}

// ---- login, logout, whoami ----

async function send(
  server: string,
  method: string,
  url: string,
  opts: { cookie?: string; csrf?: string; body?: unknown; token?: string },
): Promise<Response> {
  const headers: Record<string, string> = {};
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.cookie) headers.cookie = opts.cookie;
  if (opts.csrf) headers['x-csrf-token'] = opts.csrf;
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  try {
    return await fetch(server + url, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  } catch (err) {
    throw new CliError(`cannot reach ${server}: ${(err as Error).message}`);
  }
}

async function failure(res: Response, what: string): Promise<CliError> {
  const text = await res.text();
  let message = text;
  try {
    message = (JSON.parse(text) as { message?: string }).message ?? text;
  } catch {
    // Plain text error.
  }
  return new CliError(`${what}: ${res.status} ${message}`);
}

type LoginOptions = ApiOptions & {
  username?: string;
  passwordStdin?: boolean;
  expiresIn?: string;
  ldap?: boolean;
  device?: boolean;
  web?: boolean;
  json?: boolean;
};
type IssuedToken = { id: number; token: string; username: string; expiresAt: string | null };

/**
 * Signs in and keeps a personal token (scope api) for later commands. With a username and password
 * (local, or `ldap`: checked by the server's LDAP directory) the session used to make the token is
 * ended at once; with `device` or `web` a browser approves a code instead (any way of signing in
 * the server's page offers, single sign-on included).
 */
export async function login(opts: LoginOptions): Promise<void> {
  const server = ApiClient.serverOf(opts);
  if (opts.device || opts.web) {
    const conflicting = (['username', 'passwordStdin', 'ldap'] as const).filter((k) => opts[k] !== undefined);
    if (conflicting.length > 0)
      throw new CliError(
        `--${opts.web ? 'web' : 'device'} signs in through a browser: --username, --password-stdin and --ldap are for signing in with a password`,
      );
    return saveLogin(server, await deviceLogin(server, opts), opts.json === true);
  }
  const typed = opts.username ?? process.env.USER;
  if (!typed) throw new CliError('--username is required');
  const password = await new PasswordSource(opts.passwordStdin === true).next(
    `${opts.ldap ? 'LDAP password' : 'Password'} for ${typed} at ${server}: `,
  );
  const signIn = await send(server, 'POST', opts.ldap ? '/api/v1/login/ldap' : '/api/v1/session', { body: { username: typed, password } });
  if (signIn.status !== 201) throw await failure(signIn, 'sign-in failed');
  const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0];
  const { csrfToken } = (await signIn.json()) as { csrfToken: string };
  const made = await send(server, 'POST', '/api/v1/tokens', {
    cookie,
    csrf: csrfToken,
    body: { name: `tandem CLI on ${hostname()}`, scopes: ['api'], expiresAt: expiry({ expiresIn: opts.expiresIn ?? '90d' }) },
  });
  if (made.status !== 201) throw await failure(made, 'creating a token');
  // The Tandem account's name, which for a directory's user may differ from what was typed.
  const token = (await made.json()) as IssuedTokenJson;
  await send(server, 'DELETE', '/api/v1/session', { cookie, csrf: csrfToken });
  await saveLogin(server, { id: token.id, token: token.token!, username: token.username, expiresAt: token.expiresAt }, opts.json === true);
}

/** Keeps the token as this server's login; the token of an earlier login here is revoked rather than left about. */
async function saveLogin(server: string, token: IssuedToken, json: boolean): Promise<void> {
  const credentials = readCredentials();
  const previous = credentials.servers[server];
  if (previous) await send(server, 'DELETE', `/api/v1/tokens/${previous.tokenId}`, { token: previous.token }).catch(() => undefined);
  credentials.servers[server] = { username: token.username, token: token.token, tokenId: token.id };
  credentials.current = server;
  writeCredentials(credentials);
  if (json)
    return printJson({
      server,
      username: token.username,
      tokenId: token.id,
      expiresAt: token.expiresAt,
      credentialsFile: credentialsFile(),
    });
  console.log(
    `Signed in to ${server} as ${token.username}; token #${token.id}${token.expiresAt ? ` (expires ${token.expiresAt})` : ''} saved in ${credentialsFile()}`,
  );
}

type DeviceCodeJson = {
  deviceCode: string;
  userCode: string;
  verificationUri: string;
  verificationUriComplete: string;
  expiresIn: number;
  interval: number;
};

/** The lifetime to ask for, in seconds (null: never expires). */
function lifetimeSeconds(value: string): number | null {
  if (value === 'never') return null;
  const seconds = parseDuration(value);
  if (seconds === null || seconds <= 0) throw new CliError(`--expires-in: expected a duration like 30d, or never, got "${value}"`);
  return Math.round(seconds);
}

/**
 * Opens a URL in the browser: $BROWSER (a command given the URL), else the desktop's opener. False
 * when there is none to run; whether a browser then appears is beyond knowing, so the URL is printed too.
 */
function openBrowser(url: string): Promise<boolean> {
  const [command, args] = process.env.BROWSER
    ? [process.env.BROWSER, [url]]
    : process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['rundll32', ['url.dll,FileProtocolHandler', url]]
        : ['xdg-open', [url]];
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'ignore', detached: true });
    child.once('error', () => resolve(false));
    child.once('spawn', () => {
      child.unref();
      resolve(true);
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * RFC 8628 from the device's side: a code for the person to approve in a browser, then polls at
 * the server's interval (longer after slow_down) until it is approved, denied or expired. A server
 * that cannot be reached for a moment (a replica restarting) is polled again until the code expires.
 */
async function deviceLogin(server: string, opts: LoginOptions): Promise<IssuedToken> {
  const started = await send(server, 'POST', '/api/v1/login/device', {
    body: { name: `tandem CLI on ${hostname()}`, tokenExpiresInSeconds: lifetimeSeconds(opts.expiresIn ?? '90d') },
  });
  if (started.status !== 200) throw await failure(started, 'starting the device sign-in');
  const code = (await started.json()) as DeviceCodeJson;
  process.stderr.write(`To sign in, open ${code.verificationUri} in a browser and enter the code ${code.userCode}\n`);
  if (opts.web) {
    const opened = await openBrowser(code.verificationUriComplete);
    process.stderr.write(`${opened ? 'Opening' : 'No browser to open here; open'} ${code.verificationUriComplete}\n`);
  }
  process.stderr.write(`Waiting for the approval (the code expires in ${Math.round(code.expiresIn / 60)} min)...\n`);
  const deadline = Date.now() + code.expiresIn * 1000;
  let interval = code.interval;
  for (;;) {
    await sleep(interval * 1000);
    let res: Response;
    try {
      res = await send(server, 'POST', '/api/v1/login/device/token', { body: { deviceCode: code.deviceCode } });
    } catch (err) {
      if (Date.now() > deadline) throw err;
      process.stderr.write(`${(err as Error).message}; trying again\n`);
      continue;
    }
    if (res.status === 200) {
      const issued = (await res.json()) as { token: string; tokenId: number; username: string; expiresAt: string | null };
      return { id: issued.tokenId, token: issued.token, username: issued.username, expiresAt: issued.expiresAt };
    }
    if (res.status >= 500 && Date.now() < deadline) continue;
    const body = (await res.json().catch(() => ({}))) as { error?: string; message?: string; interval?: number };
    if (body.error === 'authorization_pending') continue;
    if (body.error === 'slow_down') interval = body.interval ?? interval + 5;
    else if (body.error === 'access_denied') throw new CliError(`the sign-in was denied in the browser: no token from ${server}`);
    else if (body.error === 'expired_token')
      throw new CliError(`code ${code.userCode} expired before it was approved: run tandem login --device again`);
    else throw new CliError(`device sign-in failed: ${res.status} ${body.message ?? ''}`);
  }
}

export async function logout(opts: ApiOptions): Promise<void> {
  const server = ApiClient.serverOf(opts);
  const credentials = readCredentials();
  const saved = credentials.servers[server];
  if (!saved) throw new CliError(`not signed in to ${server}`);
  const res = await send(server, 'DELETE', `/api/v1/tokens/${saved.tokenId}`, { token: saved.token });
  if (res.status !== 204 && res.status !== 401) throw await failure(res, 'revoking the token');
  delete credentials.servers[server];
  if (credentials.current === server) credentials.current = null;
  writeCredentials(credentials);
  console.log(`Signed out of ${server}; token #${saved.tokenId} revoked`);
}

export async function whoami(opts: Listing): Promise<void> {
  const me = await ApiClient.fromOptions(opts).json<{ user: UserJson; via: string; scopes: string[] }>('GET', '/api/v1/session');
  if (opts.json) return printJson(me);
  console.log(`${me.user.username}${me.user.admin ? ' (instance admin)' : ''}, by ${me.via} with scopes ${me.scopes.join(', ')}`);
}

// ---- users ----

export async function userAdd(
  username: string,
  opts: ApiOptions & { admin?: boolean; email?: string; password?: boolean; passwordStdin?: boolean; json?: boolean },
): Promise<void> {
  const wantsPassword = opts.password === true || opts.passwordStdin === true;
  const password = wantsPassword
    ? await newPassword(new PasswordSource(opts.passwordStdin === true), opts.passwordStdin !== true)
    : undefined;
  const user = await ApiClient.fromOptions(opts).json<UserJson>('POST', '/api/v1/users', {
    username,
    password,
    email: opts.email,
    admin: opts.admin,
  });
  if (opts.json) return printJson(user);
  console.log(`Added ${user.username}${user.admin ? ' (instance admin)' : ''}${user.hasPassword ? '' : ' without a password'}`);
}

export async function userList(opts: Listing): Promise<void> {
  const users = await ApiClient.fromOptions(opts).json<UserJson[]>('GET', '/api/v1/users');
  if (opts.json) return printJson(users);
  printTable(users, ['username', 'admin', 'hasPassword', 'email', 'lastLoginAt']);
}

export async function userRemove(username: string, opts: ApiOptions): Promise<void> {
  await ApiClient.fromOptions(opts).json('DELETE', `/api/v1/users/${path(username)}`);
  console.log(`Removed ${username}`);
}

export async function userAdmin(username: string, opts: ApiOptions & { revoke?: boolean; json?: boolean }): Promise<void> {
  const user = await ApiClient.fromOptions(opts).json<UserJson>('PATCH', `/api/v1/users/${path(username)}`, {
    admin: opts.revoke !== true,
  });
  if (opts.json) return printJson(user);
  console.log(`${user.username} is ${user.admin ? 'now' : 'no longer'} an instance admin`);
}

/** Your own password asks for the current one (when you have one); an admin sets anyone's. */
export async function userPasswd(username: string, opts: ApiOptions & { passwordStdin?: boolean }): Promise<void> {
  const api = ApiClient.fromOptions(opts);
  const me = await api.json<{ user: UserJson }>('GET', '/api/v1/session');
  const source = new PasswordSource(opts.passwordStdin === true);
  const password = await newPassword(source, opts.passwordStdin !== true);
  const currentPassword = me.user.username === username && me.user.hasPassword ? await source.next('Current password: ') : undefined;
  await api.json('PUT', `/api/v1/users/${path(username)}/password`, { password, currentPassword });
  console.log(`Password of ${username} set${me.user.username === username ? '; your other sessions are signed out' : ''}`);
}

// ---- tokens ----

export async function tokenCreate(
  opts: ApiOptions & { name: string; scope?: string[]; expiresIn?: string; expiresAt?: string; user?: string; json?: boolean },
): Promise<void> {
  const scopes = (opts.scope ?? ['api'])
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
  const created = await ApiClient.fromOptions(opts).json<IssuedTokenJson>('POST', '/api/v1/tokens', {
    name: opts.name,
    scopes,
    expiresAt: expiry(opts),
    username: opts.user,
  });
  if (opts.json) return printJson(created);
  // The token alone on stdout, so `$(tandem token create ...)` captures it; the note on stderr.
  console.log(created.token);
  console.error(
    `Token #${created.id} "${created.name}" of ${created.username} (${created.scopes.join(', ')})${created.expiresAt ? `, expires ${created.expiresAt}` : ''}: shown once, store it now`,
  );
}

export async function tokenList(opts: Listing & { all?: boolean; user?: string }): Promise<void> {
  const query = opts.all ? '?all=true' : opts.user ? `?username=${encodeURIComponent(opts.user)}` : '';
  const tokens = await ApiClient.fromOptions(opts).json<TokenJson[]>('GET', `/api/v1/tokens${query}`);
  if (opts.json) return printJson(tokens);
  printTable(tokens, ['id', 'name', 'username', 'scopes', 'expiresAt', 'expired', 'lastUsedAt']);
}

export async function tokenRevoke(id: string, opts: ApiOptions): Promise<void> {
  await ApiClient.fromOptions(opts).json('DELETE', `/api/v1/tokens/${Number(id)}`);
  console.log(`Revoked token #${id}`);
}

// ---- members and protected branches ----

export async function memberSet(repo: string, username: string, role: string, opts: ApiOptions & { json?: boolean }): Promise<void> {
  const result = await ApiClient.fromOptions(opts).json<{ username: string; role: string }>(
    'PUT',
    `/api/v1/repos/${path(repo, 'members', username)}`,
    { role },
  );
  if (opts.json) return printJson(result);
  console.log(`${result.username} is ${result.role} of ${repo}`);
}

export async function memberRemove(repo: string, username: string, opts: ApiOptions): Promise<void> {
  await ApiClient.fromOptions(opts).json('DELETE', `/api/v1/repos/${path(repo, 'members', username)}`);
  console.log(`${username} is no longer a member of ${repo}`);
}

export async function memberList(repo: string, opts: Listing): Promise<void> {
  const members = await ApiClient.fromOptions(opts).json<Record<string, unknown>[]>('GET', `/api/v1/repos/${path(repo)}/members`);
  if (opts.json) return printJson(members);
  printTable(members, ['username', 'role', 'source', 'since']);
}

export async function branchProtect(repo: string, pattern: string, opts: ApiOptions & { role?: string; json?: boolean }): Promise<void> {
  const result = await ApiClient.fromOptions(opts).json<ProtectedBranchJson>('POST', `/api/v1/repos/${path(repo)}/protected-branches`, {
    pattern,
    allowedRole: opts.role,
  });
  if (opts.json) return printJson(result);
  console.log(`${repo}: branches matching ${result.pattern} are protected (pipelines and manual jobs: ${result.allowedRole} and above)`);
}

export async function branchUnprotect(repo: string, pattern: string, opts: ApiOptions): Promise<void> {
  const api = ApiClient.fromOptions(opts);
  const found = (await api.json<ProtectedBranchJson[]>('GET', `/api/v1/repos/${path(repo)}/protected-branches`)).find(
    (p) => p.pattern === pattern,
  );
  if (!found) throw new CliError(`${repo} has no protected branch pattern ${pattern}`);
  await api.json('DELETE', `/api/v1/repos/${path(repo)}/protected-branches/${found.id}`);
  console.log(`${repo}: ${pattern} is no longer protected`);
}

export async function branchList(repo: string, opts: Listing): Promise<void> {
  const patterns = await ApiClient.fromOptions(opts).json<ProtectedBranchJson[]>('GET', `/api/v1/repos/${path(repo)}/protected-branches`);
  if (opts.json) return printJson(patterns);
  printTable(patterns, ['pattern', 'allowedRole', 'createdAt']);
}

// ---- audit ----

export async function audit(
  opts: Listing & { actor?: string; action?: string; since?: string; until?: string; limit?: string },
): Promise<void> {
  const query = new URLSearchParams();
  if (opts.actor) query.set('actor', opts.actor);
  if (opts.action) query.set('action', opts.action);
  if (opts.since) query.set('since', timeAgo(opts.since, '--since'));
  if (opts.until) query.set('until', timeAgo(opts.until, '--until'));
  query.set('limit', String(Number(opts.limit ?? 100)));
  const entries = await ApiClient.fromOptions(opts).json<Record<string, unknown>[]>('GET', `/api/v1/audit?${query}`);
  if (opts.json) return printJson(entries);
  printTable(entries, ['at', 'actor', 'address', 'action', 'params', 'status', 'details']);
}
