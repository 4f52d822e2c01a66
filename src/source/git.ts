import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GitCredentials, SshKeyCredentials, UrlCredentials } from '../api/index.js';
import { DomainError } from '../errors.js';
import { maskText, shellQuote } from '../executor/index.js';
import { parseRawCommit, type CommitInfo } from '../pipeline/index.js';
import { CatFileBatch, CatFileError, type CatFileObject } from './cat-file.js';
import { gitEnv } from './git-env.js';
import { isZeroSha } from './types.js';

/**
 * A repository location or git operation that failed: invalid when the input was wrong (a URL, ref
 * or sha that cannot be used), upstream when the remote repository failed us (unreachable, refused
 * the credentials, timed out), unavailable while another process holds the mirror's lock,
 * misconfigured when git cannot run here. Messages never hold a URL's credentials.
 */
export class SourceError extends DomainError {
  override name = 'SourceError';
  constructor(
    message: string,
    readonly url?: string,
    readonly stderr?: string,
    kind: 'invalid' | 'upstream' | 'unavailable' | 'misconfigured' = 'invalid',
  ) {
    super(kind, message);
  }
}

const DEFAULT_LS_REMOTE_TIMEOUT_MS = 60_000;
const DEFAULT_FETCH_TIMEOUT_MS = 10 * 60_000;
const KILL_GRACE_MS = 2_000;
const MAX_STDERR = 64 * 1024;
const DEFAULT_MAX_OUTPUT = 64 * 1024 * 1024;
const SHA_RE = /^[0-9a-f]{4,64}$/i;
/** Mirrors with a cat-file process at once (each is a process and a few open pack files). */
const MAX_READERS = 16;
/** A fetch of one ref lets git's auto maintenance run once in this many (see `fetchRef`). */
const MAINTENANCE_EVERY = 20;
const FULL_SHA_RE = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/i;

interface GitRun {
  code: number;
  stdout: Buffer;
  stderr: string;
  timedOut: boolean;
  overflow: boolean;
}

interface RunOptions {
  timeoutMs?: number;
  input?: string;
  maxOutput?: number;
  /** What git authenticates with (given by environment and files: never on the command line, where `ps` shows them). */
  credentials?: GitCredentials | null;
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

function runGit(args: string[], opts: RunOptions = {}, env: NodeJS.ProcessEnv = {}): Promise<GitRun> {
  const maxOutput = opts.maxOutput ?? DEFAULT_MAX_OUTPUT;
  return new Promise((resolve, reject) => {
    // detached: a session of its own, so git and its helpers (ssh, git-remote-https) have no
    // terminal to prompt on and can be killed together on timeout.
    const child = spawn('git', args, {
      env: { ...gitEnv(), ...env },
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const out: Buffer[] = [];
    let outSize = 0;
    let stderr = '';
    let timedOut = false;
    let overflow = false;
    let graceTimer: NodeJS.Timeout | undefined;
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            // SIGTERM first: git removes its lock files on it, so the mirror stays usable.
            killGroup(child.pid, 'SIGTERM');
            graceTimer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS);
          }, opts.timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      outSize += chunk.length;
      if (outSize > maxOutput) {
        if (!overflow) killGroup(child.pid, 'SIGKILL');
        overflow = true;
      } else {
        out.push(chunk);
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      if (stderr.length < MAX_STDERR) stderr += chunk.toString('utf8');
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new SourceError(`cannot run git: ${err.message}`, undefined, undefined, 'misconfigured'));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      clearTimeout(graceTimer);
      resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr, timedOut, overflow });
    });
    if (opts.input !== undefined) {
      child.stdin?.on('error', () => {
        // git exited before reading its input; the exit code tells the story.
      });
      child.stdin?.end(opts.input);
    }
  });
}

/** Hides credentials embedded in a URL (https://token@host/...) before it goes into a message. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}

/** Hides the credentials of every URL in a text (git's messages quote the URL they failed on). */
export function redactUrls(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/@\s'"]*@/gi, '$1***@');
}

/** A deploy key (and its known hosts), as opposed to an https token. */
export function isSshKey(credentials: GitCredentials): credentials is SshKeyCredentials {
  return 'privateKey' in credentials;
}

/**
 * The values of credentials that must never show in a message or a log: the token (and a username
 * that is one, as in `https://TOKEN@host`), the private key and each line of it.
 */
export function credentialSecrets(credentials: GitCredentials | null | undefined): string[] {
  if (!credentials) return [];
  if (isSshKey(credentials))
    return [credentials.privateKey.trim(), ...credentials.privateKey.split('\n').filter((l) => !l.startsWith('-----'))];
  return credentials.password === '' ? [credentials.username] : [credentials.password];
}

/** What ssh's refusal means for a repository with a deploy key, in the words of its settings; null when it is something else. */
function sshRefusal(url: string, stderr: string): string | null {
  const target = sshHostOf(url);
  const host = target ? knownHostName(target.host, target.port) : 'the host';
  if (
    /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|host key is known for|Host key for .* has changed/i.test(stderr)
  ) {
    const sent = /The fingerprint for the (\S+) key sent by the remote host is\s+(SHA256:[A-Za-z0-9+/]+)/.exec(stderr);
    return (
      `the host key ${host} presented${sent ? ` (${sent[1]} ${sent[2]})` : ''} is not one of the repository's known hosts ` +
      "(credentials.knownHosts): ssh refused to connect. Compare the host's key fingerprint with the one your Git host publishes, then set the known hosts again"
    );
  }
  if (/Permission denied \(publickey/.test(stderr))
    return `${host} refused the deploy key (Permission denied (publickey)): add its public key, shown in the repository's settings, as a deploy key of the repository there`;
  return null;
}

function failure(what: string, url: string, run: GitRun, opts: RunOptions): SourceError {
  const ssh = opts.credentials && isSshKey(opts.credentials) && !run.timedOut ? sshRefusal(url, run.stderr) : null;
  const detail = run.timedOut
    ? `timed out after ${opts.timeoutMs} ms`
    : run.overflow
      ? `output larger than ${opts.maxOutput ?? DEFAULT_MAX_OUTPUT} bytes`
      : (ssh ?? (run.stderr.trim() || `git exited with code ${run.code}`));
  const secrets = credentialSecrets(opts.credentials);
  const stderr = maskText(redactUrls(run.stderr), secrets);
  return new SourceError(maskText(`${what} ${redactUrl(url)} failed: ${redactUrls(detail)}`, secrets), redactUrl(url), stderr, 'upstream');
}

async function gitOk(what: string, url: string, args: string[], opts: RunOptions = {}): Promise<Buffer> {
  const run = await withCredentials(url, opts.credentials, (env) => runGit(args, opts, env));
  if (run.code !== 0 || run.timedOut || run.overflow) throw failure(what, url, run, opts);
  return run.stdout;
}

const ALLOWED_SCHEMES = new Set(['https', 'http', 'ssh', 'git+ssh', 'ssh+git', 'git', 'file']);

/**
 * Canonical form of a repository location, used as the mirror key and passed to git.
 * Accepts https://, http://, ssh://, file://, scp-like user@host:path and local paths (made absolute).
 */
export function normalizeRepoUrl(input: string): string {
  const raw = input.trim();
  if (raw === '') throw new SourceError('repository URL is empty');
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(raw)) throw new SourceError(`repository URL ${JSON.stringify(redactUrls(input))} contains control characters`);
  if (raw.startsWith('-')) throw new SourceError(`repository URL ${JSON.stringify(redactUrls(input))} must not start with "-"`);
  // <transport>::<address> runs a remote helper (ext:: runs arbitrary commands): never from config.
  const helper = /^([a-z][a-z0-9+.-]*)::/i.exec(raw);
  if (helper)
    throw new SourceError(`repository URL ${JSON.stringify(redactUrls(input))}: remote helper syntax "${helper[1]}::" is not allowed`);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw);
  if (scheme) {
    const name = scheme[1].toLowerCase();
    if (!ALLOWED_SCHEMES.has(name)) {
      throw new SourceError(
        `repository URL ${JSON.stringify(redactUrl(input))}: unsupported scheme "${name}" (use https://, ssh://, git://, file://, user@host:path or a local path)`,
      );
    }
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      throw new SourceError(`repository URL ${JSON.stringify(redactUrls(input))} is not a valid URL`);
    }
    if (name === 'file') {
      if (parsed.host !== '')
        throw new SourceError(`repository URL ${JSON.stringify(redactUrls(input))}: file:// URLs must not name a host`);
    } else if (parsed.hostname === '') {
      throw new SourceError(`repository URL ${JSON.stringify(redactUrls(input))} has no host`);
    } else if (/^(-|%2d)/i.test(parsed.hostname) || /^(-|%2d)/i.test(parsed.username)) {
      // ssh would read it as an option (-oProxyCommand=...).
      throw new SourceError(`repository URL ${JSON.stringify(redactUrls(input))}: a host or user must not start with "-"`);
    }
    const out = parsed.href.replace(/\/+$/, '');
    return name === 'file' && out === 'file://' ? 'file:///' : out;
  }
  // git's rule: a colon before any slash makes it scp-like (host:path), otherwise it is a path.
  const colon = raw.indexOf(':');
  const slash = raw.indexOf('/');
  if (colon > 0 && (slash === -1 || colon < slash)) {
    const host = raw.slice(0, colon);
    const repoPath = raw.slice(colon + 1);
    if (!/^([A-Za-z0-9._~][A-Za-z0-9._~-]*@)?[A-Za-z0-9.][A-Za-z0-9.-]*$/.test(host)) {
      throw new SourceError(`repository URL ${JSON.stringify(redactUrls(input))}: "${host}" is neither a known scheme nor a host`);
    }
    if (repoPath === '') throw new SourceError(`repository URL ${JSON.stringify(redactUrls(input))} has no path after the colon`);
    return `${host}:${repoPath.replace(/(.)\/+$/, '$1')}`;
  }
  return path.resolve(raw);
}

function decoded(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/**
 * A normalised URL without its credentials, and the credentials: stored apart (encrypted), they
 * never show where the URL does. ssh authenticates with keys: a password in an ssh URL is refused.
 */
export function splitUrlCredentials(url: string): { url: string; credentials: UrlCredentials | null } {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined || scheme === 'file') return { url, credentials: null };
  const parsed = new URL(url);
  if (scheme !== 'http' && scheme !== 'https') {
    if (parsed.password !== '')
      throw new SourceError(
        `repository URL ${JSON.stringify(redactUrl(url))}: ${scheme} URLs authenticate with keys, not a password in the URL`,
      );
    return { url, credentials: null };
  }
  if (parsed.username === '' && parsed.password === '') return { url, credentials: null };
  const credentials = { username: decoded(parsed.username), password: decoded(parsed.password) };
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.href.replace(/\/+$/, ''), credentials };
}

/**
 * git configuration (by environment) that sends the credentials to this URL only: not to a host it
 * redirects to, and not on git's command line.
 */
function basicAuthEnv(url: string, credentials: UrlCredentials): NodeJS.ProcessEnv {
  const basic = Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64');
  return { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: `http.${url}.extraHeader`, GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}` };
}

const KEY_DIR_PREFIX = 'tandem-ssh-';
/** `tandem-ssh-PID-XXXXXX`; a deploy's ssh control directory is `tandem-ssh-XXXXXX` (src/deploy/targets/ssh.ts), never matched. */
const KEY_DIR = new RegExp(`^${KEY_DIR_PREFIX}(\\d+)-`);
let sweptKeyDirs: Promise<void> | undefined;

/**
 * Removes the key directories of processes that died during a git call (killed, crashed): their
 * names hold the pid. Once per process, before its first deploy key is written.
 */
async function removeLeftoverKeyDirs(): Promise<void> {
  const names = await readdir(tmpdir()).catch((): string[] => []);
  for (const name of names) {
    const pid = Number(KEY_DIR.exec(name)?.[1] ?? NaN);
    if (pid > 0 && pid !== process.pid && !pidAlive(pid))
      await rm(path.join(tmpdir(), name), { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * Runs fn with the environment that makes git authenticate with these credentials. A deploy key
 * and its known hosts go to files in a fresh 0700 directory, removed when fn is done; ssh reads
 * nothing else: no ~/.ssh/config, no default identities, no agent, no other known_hosts, and it
 * connects only to a host whose key is among the known hosts (StrictHostKeyChecking=yes).
 */
async function withCredentials<T>(
  url: string,
  credentials: GitCredentials | null | undefined,
  fn: (env: NodeJS.ProcessEnv) => Promise<T>,
): Promise<T> {
  if (!credentials) return fn({});
  if (!isSshKey(credentials)) return fn(basicAuthEnv(url, credentials));
  sweptKeyDirs ??= removeLeftoverKeyDirs();
  await sweptKeyDirs;
  const dir = await mkdtemp(path.join(tmpdir(), `${KEY_DIR_PREFIX}${process.pid}-`));
  try {
    const key = path.join(dir, 'key');
    const knownHosts = path.join(dir, 'known_hosts');
    await writeFile(key, credentials.privateKey, { mode: 0o600 });
    await writeFile(knownHosts, credentials.knownHosts, { mode: 0o600 });
    const ssh = [
      'ssh',
      '-F /dev/null',
      `-i ${shellQuote(key)}`,
      '-o IdentitiesOnly=yes',
      '-o IdentityAgent=none',
      '-o StrictHostKeyChecking=yes',
      `-o UserKnownHostsFile=${shellQuote(knownHosts)}`,
      '-o GlobalKnownHostsFile=/dev/null',
      '-o UpdateHostKeys=no',
      '-o BatchMode=yes',
    ].join(' ');
    return await fn({ GIT_SSH_COMMAND: ssh, GIT_SSH_VARIANT: 'ssh' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** How ssh names a host in known_hosts: `host`, or `[host]:port` off port 22. */
export function knownHostName(host: string, port: number | null): string {
  return port === null || port === 22 ? host : `[${host}]:${port}`;
}

/** The host and port (null: ssh's default) of an ssh repository URL (ssh://, or scp-like host:path); null for others. */
export function sshHostOf(url: string): { host: string; port: number | null } | null {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    const target = repoUrlTarget(url);
    return target.kind === 'remote' ? { host: target.host, port: null } : null;
  }
  if (!['ssh', 'git+ssh', 'ssh+git'].includes(scheme)) return null;
  const parsed = new URL(url);
  return { host: parsed.hostname.replace(/^\[|\]$/g, ''), port: parsed.port === '' ? null : Number(parsed.port) };
}

export type RepoUrlTarget = { kind: 'local'; path: string } | { kind: 'remote'; host: string };

/** What a normalised repository URL reads: a path on this host (a local path, file://) or a host over the network. */
export function repoUrlTarget(url: string): RepoUrlTarget {
  if (/^file:\/\//i.test(url)) return { kind: 'local', path: fileURLToPath(url) };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return { kind: 'remote', host: new URL(url).hostname.replace(/^\[|\]$/g, '') };
  if (path.isAbsolute(url)) return { kind: 'local', path: url };
  return { kind: 'remote', host: url.slice(0, url.indexOf(':')).replace(/^.*@/, '') };
}

function parseRefs(stdout: Buffer): Map<string, string> {
  const direct = new Map<string, string>();
  const peeled = new Map<string, string>();
  for (const line of stdout.toString('utf8').split('\n')) {
    const tab = line.indexOf('\t');
    if (tab < 0) continue;
    const sha = line.slice(0, tab);
    const ref = line.slice(tab + 1);
    if (!ref.startsWith('refs/heads/') && !ref.startsWith('refs/tags/')) continue;
    if (ref.endsWith('^{}')) peeled.set(ref.slice(0, -3), sha);
    else direct.set(ref, sha);
  }
  for (const [ref, sha] of peeled) if (direct.has(ref)) direct.set(ref, sha);
  return direct;
}

/** Branches and tags of a remote repository (annotated tags peeled to their commit). */
export async function lsRemote(
  url: string,
  opts: { timeoutMs?: number; credentials?: GitCredentials | null } = {},
): Promise<Map<string, string>> {
  const repo = normalizeRepoUrl(url);
  const stdout = await gitOk('git ls-remote of', repo, ['ls-remote', '--heads', '--tags', '--', repo], {
    timeoutMs: opts.timeoutMs ?? DEFAULT_LS_REMOTE_TIMEOUT_MS,
    credentials: opts.credentials,
  });
  return parseRefs(stdout);
}

function checkSha(sha: string, field: string): void {
  if (!SHA_RE.test(sha)) throw new SourceError(`${field} ${JSON.stringify(sha)} is not a commit sha (4 to 64 hex digits)`);
}

/** Refuses revision syntax (main~1, @{-1}, :/text, a..b) so a ref only ever names a ref or a sha. */
function isRefName(ref: string): boolean {
  // eslint-disable-next-line no-control-regex
  return !(ref === '' || ref.startsWith('-') || ref.includes('..') || ref.includes('@{') || /[\x00-\x20\x7f~^:?*[\\]/.test(ref));
}

function checkRefName(ref: string): void {
  if (!isRefName(ref)) throw new SourceError(`invalid ref name ${JSON.stringify(ref)}`);
}

/** A path inside the repository, relative to its root. */
function repoRelative(file: string): string {
  const clean = path.posix.normalize(file.replace(/^(\.\/|\/)+/, ''));
  if (clean === '.' || clean === '' || clean.startsWith('../') || clean === '..' || /[\n\0]/.test(clean)) {
    throw new SourceError(`invalid repository path ${JSON.stringify(file)}`);
  }
  return clean;
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function lockIsStale(lockPath: string, maxAgeMs: number): Promise<boolean> {
  try {
    const [info, content] = await Promise.all([stat(lockPath), readFile(lockPath, 'utf8')]);
    const m = /^(\d+)@(\S+) /.exec(content);
    if (m && m[2] === hostname() && !pidAlive(Number(m[1]))) return true;
    return Date.now() - info.mtimeMs > maxAgeMs;
  } catch {
    return false;
  }
}

/** Serialises git writes to one mirror across processes sharing the cache directory. */
/** Runs fn holding the lock file; fn learns whether another holder made it wait. */
async function withFileLock<T>(lockPath: string, maxAgeMs: number, fn: (waited: boolean) => Promise<T>): Promise<T> {
  const token = `${process.pid}@${hostname()} ${randomBytes(8).toString('hex')}`;
  const deadline = Date.now() + maxAgeMs;
  let waited = false;
  for (;;) {
    try {
      const fh = await open(lockPath, 'wx');
      try {
        await fh.writeFile(token);
      } finally {
        await fh.close();
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (await lockIsStale(lockPath, maxAgeMs)) {
      await rm(lockPath, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new SourceError(`timed out waiting for lock ${lockPath}`, undefined, undefined, 'unavailable');
    waited = true;
    await sleep(25 + Math.random() * 50);
  }
  try {
    return await fn(waited);
  } finally {
    const current = await readFile(lockPath, 'utf8').catch(() => null);
    if (current === token) await rm(lockPath, { force: true });
  }
}

export interface MirrorCacheOptions {
  /** Limit for one clone or fetch (default 10 minutes). */
  fetchTimeoutMs?: number;
  /**
   * The credentials of a (normalised, credential-free) URL, asked for before each clone or fetch
   * that was not given its own (`ensure`'s and `checkout`'s `credentials`).
   */
  credentials?: (url: string) => Promise<GitCredentials | null> | GitCredentials | null;
}

/**
 * The mirror's branches (as origin's remote-tracking refs) and tags, as a packed-refs file, read
 * from the ref files directly: no git process. Loose refs win over packed ones, as in git.
 */
async function workspaceRefs(mirror: string): Promise<string> {
  const refs = new Map<string, string>();
  const packed = await readFile(path.join(mirror, 'packed-refs'), 'utf8').catch(() => '');
  for (const line of packed.split('\n')) {
    const m = /^([0-9a-f]{40}) (refs\/(?:heads|tags)\/\S+)$/.exec(line);
    if (m) refs.set(m[2], m[1]);
  }
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(path.join(mirror, dir), { withFileTypes: true }).catch(() => [])) {
      const rel = `${dir}/${entry.name}`;
      if (entry.isDirectory()) await walk(rel);
      else if (entry.isFile()) {
        const value = (await readFile(path.join(mirror, rel), 'utf8').catch(() => '')).trim();
        if (FULL_SHA_RE.test(value)) refs.set(rel, value);
      }
    }
  };
  await walk('refs/heads');
  await walk('refs/tags');
  // No header traits: git then peels annotated tags itself instead of trusting this file.
  let out = '';
  for (const ref of [...refs.keys()].sort()) {
    const name = ref.startsWith('refs/heads/') ? `refs/remotes/origin/${ref.slice('refs/heads/'.length)}` : ref;
    out += `${refs.get(ref)} ${name}\n`;
  }
  return out;
}

/**
 * Bare mirrors of remote repositories under one directory, one per normalised URL.
 * Safe for concurrent use from one process and from several processes sharing the directory.
 */
export class MirrorCache {
  private readonly locks = new Map<string, Promise<void>>();
  /**
   * Commits known to be in a mirror. Git keeps reachable objects, and unreachable ones for weeks
   * before gc, so a positive answer stays true long enough to skip one git process per call.
   */
  private readonly present = new Set<string>();
  private readonly fetchTimeoutMs: number;
  private readonly credentials: MirrorCacheOptions['credentials'];
  /** One `git cat-file --batch` per mirror read lately, least recently used first (bounded, see `reader`). */
  private readonly readers = new Map<string, CatFileBatch>();
  private refFetches = 0;

  constructor(
    readonly dir: string,
    opts: MirrorCacheOptions = {},
  ) {
    this.fetchTimeoutMs = opts.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
    this.credentials = opts.credentials;
  }

  private async credentialsFor(repoUrl: string, given: GitCredentials | null | undefined): Promise<GitCredentials | null> {
    return given ?? (await this.credentials?.(repoUrl)) ?? null;
  }

  private key(repoUrl: string): string {
    return createHash('sha256').update(repoUrl).digest('hex').slice(0, 40);
  }

  /** Where the mirror of url lives (whether or not it exists yet). */
  mirrorPath(url: string): string {
    return path.join(this.dir, `${this.key(normalizeRepoUrl(url))}.git`);
  }

  /** Runs fn after earlier calls for the same key; fn learns whether it had to wait for one. */
  private serialize<T>(key: string, fn: (waited: boolean) => Promise<T>): Promise<T> {
    const queued = this.locks.get(key);
    const prev = queued ?? Promise.resolve();
    const run = prev.then(() => fn(queued !== undefined));
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(key, tail);
    void tail.then(() => {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    });
    return run;
  }

  private remember(mirror: string, sha: string): string {
    // A bound keeps a long-running server's memory flat; forgetting costs one git process.
    if (this.present.size >= 10_000) this.present.clear();
    this.present.add(`${mirror}@${sha}`);
    return mirror;
  }

  private async hasCommit(mirror: string, sha: string): Promise<boolean> {
    return (await this.readObject(mirror, sha, `${sha}^{commit}`))?.type === 'commit';
  }

  /** The mirror's cat-file process; the least recently used one closes when there are MAX_READERS. */
  private reader(mirror: string): CatFileBatch {
    let reader = this.readers.get(mirror);
    if (reader) this.readers.delete(mirror);
    else {
      const [oldest] = this.readers;
      if (this.readers.size >= MAX_READERS && oldest) {
        this.readers.delete(oldest[0]);
        void oldest[1].close();
      }
      reader = new CatFileBatch(mirror);
    }
    this.readers.set(mirror, reader);
    return reader;
  }

  /**
   * An object of the mirror by name (`<sha>:<path>`, `<sha>^{commit}`) at a commit sha; null when
   * missing. A full sha is read by the mirror's long-lived cat-file process, retried once on a new
   * one when it died; an abbreviation (rare: typed by hand) by a process of its own, since a
   * long-lived process may not see an abbreviation of objects fetched after it started.
   */
  private async readObject(mirror: string, sha: string, name: string): Promise<CatFileObject | null> {
    const once = async (reader: CatFileBatch, owned: boolean) => {
      try {
        return await reader.read(name);
      } finally {
        if (owned) await reader.close();
      }
    };
    try {
      if (!FULL_SHA_RE.test(sha)) return await once(new CatFileBatch(mirror), true);
      try {
        return await once(this.reader(mirror), false);
      } catch (err) {
        if (!(err instanceof CatFileError) || (err.kind !== 'died' && err.kind !== 'busy')) throw err;
        // Busy: many reads at once (a burst of pushes); a process of its own keeps the queue bounded.
        return await once(err.kind === 'died' ? this.reader(mirror) : new CatFileBatch(mirror), err.kind === 'busy');
      }
    } catch (err) {
      if (!(err instanceof CatFileError)) throw err;
      throw new SourceError(
        `reading ${name} from ${mirror} failed: ${err.message}`,
        undefined,
        err.stderr,
        err.kind === 'invalid' ? 'invalid' : err.kind === 'spawn' ? 'misconfigured' : 'upstream',
      );
    }
  }

  /** Ends the mirrors' cat-file processes (at shutdown); a later read starts new ones. */
  async close(): Promise<void> {
    const readers = [...this.readers.values()];
    this.readers.clear();
    await Promise.all(readers.map((r) => r.close()));
  }

  private async peel(mirror: string, rev: string): Promise<string | null> {
    const run = await runGit(['--git-dir', mirror, 'rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`]);
    return run.code === 0 ? run.stdout.toString('utf8').trim() : null;
  }

  private async clone(repoUrl: string, mirror: string, credentials: GitCredentials | null): Promise<void> {
    const prefix = `.tmp-${path.basename(mirror, '.git')}-`;
    // Leftovers of a process that died mid-clone; we hold the lock, so none is in use.
    for (const name of await readdir(this.dir)) {
      if (name.startsWith(prefix)) await rm(path.join(this.dir, name), { recursive: true, force: true });
    }
    // Cloned aside and renamed into place, so a crash never leaves a half mirror at the real path.
    const tmp = path.join(this.dir, `${prefix}${randomBytes(6).toString('hex')}`);
    try {
      await gitOk('git clone --mirror of', repoUrl, ['clone', '--mirror', '--quiet', '--', repoUrl, tmp], {
        timeoutMs: this.fetchTimeoutMs,
        credentials,
      });
      await rename(tmp, mirror);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /**
   * Makes sure the mirror of url exists and is fresh: clones it when missing, otherwise fetches
   * (with --prune), skipping the fetch when sha is given and already present. Returns the mirror path.
   * Given sha and the full `ref` it was pushed to, fetches that ref alone first (see `fetchRef`).
   * Throws SourceError when the repository is unreachable or sha is still missing after the fetch.
   * `credentials`: for this call's clone or fetch, instead of asking the `credentials` option.
   */
  async ensure(url: string, opts: { sha?: string; ref?: string; credentials?: GitCredentials | null } = {}): Promise<string> {
    const repoUrl = normalizeRepoUrl(url);
    const mirror = path.join(this.dir, `${this.key(repoUrl)}.git`);
    const { sha } = opts;
    if (sha !== undefined) {
      checkSha(sha, 'sha');
      if (this.present.has(`${mirror}@${sha}`)) return mirror;
      if ((await exists(mirror)) && (await this.hasCommit(mirror, sha))) return this.remember(mirror, sha);
    }
    // A hint: a ref that cannot be fetched alone costs a full fetch, never an error.
    const ref = opts.ref !== undefined && opts.ref.startsWith('refs/') && isRefName(opts.ref) ? opts.ref : undefined;
    return this.serialize(mirror, async (queued) => {
      await mkdir(this.dir, { recursive: true });
      let found = false;
      await withFileLock(`${mirror}.lock`, this.fetchTimeoutMs + 60_000, async (waited) => {
        // Only a holder we waited for can have fetched sha since the check above; otherwise
        // asking git again would cost a process for nothing (this is on the push-to-job path).
        if (sha !== undefined && (queued || waited) && (await this.hasCommit(mirror, sha))) return void (found = true);
        const credentials = await this.credentialsFor(repoUrl, opts.credentials);
        if (!(await exists(mirror))) {
          // A mirror deleted under a running server (a cleanup) is cloned anew: a cat-file process
          // started on the old one must not answer for it.
          await this.readers.get(mirror)?.close();
          this.readers.delete(mirror);
          return this.clone(repoUrl, mirror, credentials);
        }
        if (sha !== undefined && ref !== undefined && (await this.fetchRef(repoUrl, mirror, ref, credentials))) {
          found = await this.hasCommit(mirror, sha);
          // Pushed and then moved by a force push: only a fetch of everything can still find it.
          if (found) return;
        }
        await gitOk('git fetch of', repoUrl, ['--git-dir', mirror, 'fetch', '--prune', '--quiet', 'origin'], {
          timeoutMs: this.fetchTimeoutMs,
          credentials,
        });
      });
      if (sha !== undefined && !found && !(await this.hasCommit(mirror, sha))) {
        throw new SourceError(
          `commit ${sha} not found in ${redactUrl(repoUrl)} (unknown, or no longer reachable from any branch or tag)`,
          redactUrl(repoUrl),
        );
      }
      return sha === undefined ? mirror : this.remember(mirror, sha);
    });
  }

  /**
   * Fetches one ref of the remote into the mirror: the remote advertises only that ref (protocol
   * v2), and the mirror's other refs are left for the next full fetch. Auto maintenance (a git
   * process deciding whether to gc) runs on one such fetch in MAINTENANCE_EVERY, full fetches
   * keep theirs. false when the remote has no such ref (deleted since the push).
   */
  private async fetchRef(repoUrl: string, mirror: string, ref: string, credentials: GitCredentials | null): Promise<boolean> {
    this.refFetches++;
    const maintenance = this.refFetches % MAINTENANCE_EVERY === 0 ? [] : ['-c', 'maintenance.auto=false'];
    const args = ['--git-dir', mirror, ...maintenance, 'fetch', '--quiet', 'origin', `+${ref}:${ref}`];
    const opts = { timeoutMs: this.fetchTimeoutMs, credentials };
    const run = await withCredentials(repoUrl, credentials, (env) => runGit(args, opts, env));
    if (run.code === 0 && !run.timedOut && !run.overflow) return true;
    if (!run.timedOut && /couldn't find remote ref/i.test(run.stderr)) return false;
    throw failure('git fetch of', repoUrl, run, opts);
  }

  /**
   * Commit sha for a branch name, tag name, full ref (refs/...) or sha; null when unknown.
   * Fetches first unless ref is a full sha already in the mirror, so names resolve to the remote's current state.
   */
  async resolveRef(url: string, ref: string): Promise<string | null> {
    checkRefName(ref);
    const mirror = this.mirrorPath(url);
    if (FULL_SHA_RE.test(ref) && (await exists(mirror))) {
      const hit = await this.peel(mirror, ref);
      if (hit) return hit;
    }
    await this.ensure(url);
    return this.peelName(mirror, ref);
  }

  private async peelName(mirror: string, ref: string): Promise<string | null> {
    const candidates = ref.startsWith('refs/') ? [ref] : [`refs/heads/${ref}`, `refs/tags/${ref}`];
    if (SHA_RE.test(ref)) candidates.push(ref);
    for (const candidate of candidates) {
      const hit = await this.peel(mirror, candidate);
      if (hit) return hit;
    }
    return null;
  }

  /** Like resolveRef, but from the mirror as it is, without fetching; null when the mirror or the ref is missing. */
  async resolveMirroredRef(url: string, ref: string): Promise<string | null> {
    checkRefName(ref);
    const mirror = this.mirrorPath(url);
    return (await exists(mirror)) ? this.peelName(mirror, ref) : null;
  }

  /** The branch the remote's HEAD named when the mirror was cloned (its default branch); null when unknown. */
  async mirroredDefaultBranch(url: string): Promise<string | null> {
    const head = await readFile(path.join(this.mirrorPath(url), 'HEAD'), 'utf8').catch(() => '');
    return /^ref: refs\/heads\/(\S+)\s*$/.exec(head)?.[1] ?? null;
  }

  /** Content of a file at a commit (UTF-8); null when the path does not exist there or is not a file. */
  async readFile(url: string, sha: string, file: string): Promise<string | null> {
    return (await this.readFirstFile(url, sha, [file]))?.content ?? null;
  }

  /** The first of these files that exists at the commit (e.g. .tandem.yml, else .gitlab-ci.yml), asked of git together. */
  async readFirstFile(url: string, sha: string, files: string[]): Promise<{ path: string; content: string } | null> {
    const mirror = await this.ensure(url, { sha });
    const rels = files.map(repoRelative);
    // cat-file says "missing" instead of failing, so a missing path is told apart from a broken
    // repository; a tree of that name is not a file.
    const objects = await Promise.all(rels.map((rel) => this.readObject(mirror, sha, `${sha}:${rel}`)));
    const index = objects.findIndex((o) => o?.type === 'blob');
    return index < 0 ? null : { path: rels[index], content: objects[index]!.content.toString('utf8') };
  }

  /** The message, author and date of a commit (GitLab's CI_COMMIT_*); null when the object is not a commit. */
  async commitInfo(url: string, sha: string): Promise<CommitInfo | null> {
    checkSha(sha, 'sha');
    const mirror = await this.ensure(url, { sha });
    const commit = await this.readObject(mirror, sha, `${sha}^{commit}`);
    return commit?.type === 'commit' ? parseRawCommit(commit.content.toString('utf8')) : null;
  }

  /** Every file path (relative, '/'-separated) in the tree of a commit. */
  async listFiles(url: string, sha: string): Promise<string[]> {
    const mirror = await this.ensure(url, { sha });
    const out = await gitOk('listing files of', normalizeRepoUrl(url), [
      '--git-dir',
      mirror,
      'ls-tree',
      '-r',
      '-z',
      '--name-only',
      '--end-of-options',
      sha,
    ]);
    return out
      .toString('utf8')
      .split('\0')
      .filter((p) => p !== '');
  }

  /**
   * Paths changed between two commits (a rename counts as both paths). null when beforeSha is
   * null, all zeros (a new branch) or not in the repository (e.g. after a force push).
   */
  async changedFiles(url: string, beforeSha: string | null, sha: string): Promise<string[] | null> {
    if (beforeSha === null || isZeroSha(beforeSha)) return null;
    checkSha(beforeSha, 'beforeSha');
    const mirror = await this.ensure(url, { sha });
    if (!(await this.hasCommit(mirror, beforeSha))) return null;
    const out = await gitOk('diffing commits of', normalizeRepoUrl(url), [
      '--git-dir',
      mirror,
      'diff',
      '--name-only',
      '-z',
      '--no-renames',
      beforeSha,
      sha,
      '--',
    ]);
    return out
      .toString('utf8')
      .split('\0')
      .filter((p) => p !== '');
  }

  /**
   * A job workspace at dest (missing or empty): a clone borrowing objects from the mirror,
   * HEAD detached at sha, origin pointing at the real repository. `ref` and `credentials`: for a
   * fetch this needs, as `ensure` takes them; the workspace keeps no credentials.
   */
  async checkout(url: string, sha: string, dest: string, opts: { ref?: string; credentials?: GitCredentials | null } = {}): Promise<void> {
    const repoUrl = normalizeRepoUrl(url);
    const mirror = await this.ensure(url, { sha, ref: opts.ref, credentials: opts.credentials });
    const target = path.resolve(dest);
    const entries = await readdir(target).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [];
      throw new SourceError(`workspace ${target} cannot be read: ${err.message}`);
    });
    if (entries.length > 0) throw new SourceError(`workspace ${target} is not empty`);
    // The repository is written by hand rather than by `git clone --shared` + `git checkout`: one
    // git process instead of three keeps the push-to-first-step latency low. Objects are borrowed
    // from the mirror through alternates (nothing is copied); the mirror's branches and tags are
    // copied as refs so `git describe` and `git log origin/main` work in jobs.
    const gitDir = path.join(target, '.git');
    await mkdir(path.join(gitDir, 'objects', 'info'), { recursive: true });
    await mkdir(path.join(gitDir, 'refs', 'heads'), { recursive: true });
    await writeFile(path.join(gitDir, 'objects', 'info', 'alternates'), `${path.join(path.resolve(mirror), 'objects')}\n`);
    await writeFile(path.join(gitDir, 'HEAD'), `${sha}\n`);
    await writeFile(
      path.join(gitDir, 'config'),
      `[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = false\n` +
        `[remote "origin"]\n\turl = ${repoUrl.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n`,
    );
    await writeFile(path.join(gitDir, 'packed-refs'), await workspaceRefs(mirror));
    await gitOk('checking out a workspace of', repoUrl, ['-C', target, 'reset', '--quiet', '--hard', sha, '--']);
  }
}
