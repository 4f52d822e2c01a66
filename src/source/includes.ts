// Files that pipelines include from outside their repository (GitLab's include:project,
// include:component, include:remote and include:template), for the compiler's readIncludeFile.
//
// Projects are read through git and the mirror cache: a repository registered in Tandem by its
// project path, else a source given to `tandem exec` (--include-source), else the configured forge
// (`<forge.url>/<path>.git`). Remote files and templates are fetched over HTTP(S) with a time limit
// and a size cap. Everything is cached so a webhook does not wait on the network for files it had
// already: a mirror is fetched at most once per `cacheTtlMs` (refs move, so not forever), a file at
// a commit is kept (it cannot change), and a remote file or template is kept for `cacheTtlMs`.
import type { ForeignIncludeRequest, ForeignIncludeResult } from '../pipeline/index.js';
import type { UrlCredentials } from '../api/index.js';
import type { MirrorCache } from './git.js';

export interface ForgeSettings {
  /** A GitLab-compatible forge, e.g. https://gitlab.com (projects at `<url>/<path>.git`). */
  url: string;
  /** Reads its private projects (git over HTTPS as `oauth2`) and templates (PRIVATE-TOKEN). */
  token?: string;
}

export interface IncludeResolverOptions {
  mirrors: MirrorCache;
  forge?: ForgeSettings | null;
  /** `tandem exec --include-source`: project path → git URL or local path, tried before the forge. */
  sources?: ReadonlyMap<string, string>;
  /** One remote file or template fetch (default 10 s). */
  timeoutMs?: number;
  /** A remote file or template larger than this is refused (default 1 MiB). */
  maxBytes?: number;
  /** How long fetched mirrors, remote files and templates are reused (default 5 minutes). */
  cacheTtlMs?: number;
  /**
   * Remote includes over plain http://. For tests with a loopback server only: it is no
   * configuration key, so a production configuration cannot turn it on.
   */
  allowHttp?: boolean;
  /**
   * Why include:remote may not fetch from a host (the server refuses addresses inside its own
   * network); null when it may. Absent: every host.
   */
  remoteHostRefusal?: (host: string) => Promise<string | null>;
  now?: () => number;
}

/** A repository registered in Tandem with that project path, or why this pipeline may not read it; null: none. */
export type RegisteredProject = { url: string; defaultBranch: string } | { refused: string } | null;

/** What one pipeline may read. */
export interface PipelineIncludes {
  /** The repository registered under a project path, with the access rule applied (docs/security.md). */
  registered?(projectPath: string): Promise<RegisteredProject>;
  /** Whether the forge may be read with its token: not from a fork's pipeline. */
  forge: boolean;
  /** This server's host (CI_SERVER_FQDN): component addresses of registered projects name it. */
  serverHost?: string;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_BYTES = 1024 * 1024;
const DEFAULT_TTL_MS = 5 * 60_000;
/** Bounds of the caches: a long-running server's memory stays flat. */
const MAX_CACHED = 2_000;
/** GitLab's project paths: segments of letters, digits, `_`, `.` and `-`, separated by `/`. */
const PROJECT_PATH = /^[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/;
const FULL_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/i;

type Failure = Extract<ForeignIncludeResult, { ok: false }>;
const fail = (message: string): Failure => ({ ok: false, message });

/** One pipeline's includes, with the commit a ref of a project names as of this pipeline. */
type ScopedIncludes = PipelineIncludes & { commitOf(url: string, ref: string | null): Promise<string | null> };

/** What `lookup` gives for `key`, looked up once while it succeeds (a failure is tried again by the next caller). */
function once<T>(made: Map<string, Promise<T>>, key: string, lookup: () => Promise<T>): Promise<T> {
  let result = made.get(key);
  if (result === undefined) {
    result = lookup();
    made.set(key, result);
    result.catch(() => made.delete(key));
  }
  return result;
}

/** A Map that forgets everything when it grows past MAX_CACHED (cheaper than LRU, and rare). */
function remember<K, V>(map: Map<K, V>, key: K, value: V): V {
  if (map.size >= MAX_CACHED) map.clear();
  map.set(key, value);
  return value;
}

/** The forge's URL as the mirrors normalise URLs (lower-case host, no trailing slash). */
function forgeBase(forge: ForgeSettings): string {
  return new URL(forge.url).href.replace(/\/+$/, '');
}

/** The credentials the mirrors use for a forge project's URL (GitLab takes a token as `oauth2`'s password); null for any other URL. */
export function forgeCredentials(forge: ForgeSettings | null | undefined, url: string): UrlCredentials | null {
  if (!forge?.token || !url.startsWith(`${forgeBase(forge)}/`)) return null;
  return { username: 'oauth2', password: forge.token };
}

export class IncludeResolver {
  private readonly mirrors: MirrorCache;
  private readonly forge: ForgeSettings | null;
  private readonly sources: ReadonlyMap<string, string>;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly ttlMs: number;
  private readonly allowHttp: boolean;
  private readonly remoteHostRefusal: IncludeResolverOptions['remoteHostRefusal'];
  private readonly now: () => number;
  /** When each mirror was last fetched for an include, with the fetch in flight. */
  private readonly fetchedAt = new Map<string, { at: number; done: Promise<void> }>();
  /** Files at a commit: they never change. null: the file does not exist there. */
  private readonly files = new Map<string, Promise<string | null>>();
  /** Remote files and templates by URL, for ttlMs. */
  private readonly documents = new Map<string, { at: number; body: Promise<string> }>();

  constructor(opts: IncludeResolverOptions) {
    this.mirrors = opts.mirrors;
    this.forge = opts.forge ? { ...opts.forge, url: forgeBase(opts.forge) } : null;
    this.sources = opts.sources ?? new Map();
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
    this.ttlMs = opts.cacheTtlMs ?? DEFAULT_TTL_MS;
    this.allowHttp = opts.allowHttp ?? false;
    this.remoteHostRefusal = opts.remoteHostRefusal;
    this.now = opts.now ?? Date.now;
  }

  /** The forge's host, which component addresses of its projects name. */
  get forgeHost(): string | null {
    return this.forge ? new URL(this.forge.url).host : null;
  }

  /**
   * The compiler's readIncludeFile for one pipeline. A pipeline often includes several files of one
   * project: the project's access and the commit of each ref are looked up once per pipeline.
   */
  reader(pipeline: PipelineIncludes): (request: ForeignIncludeRequest) => Promise<ForeignIncludeResult> {
    const { registered } = pipeline;
    const access = new Map<string, Promise<RegisteredProject>>();
    const commits = new Map<string, Promise<string | null>>();
    const scoped: ScopedIncludes = {
      ...pipeline,
      registered: registered && ((path) => once(access, path, () => registered(path))),
      commitOf: (url, ref) => once(commits, `${url}\0${ref ?? ''}`, () => this.commitOf(url, ref)),
    };
    return async (request) => {
      try {
        switch (request.kind) {
          case 'project':
            return await this.project(request, scoped);
          case 'remote':
            return await this.remote(request.url);
          case 'template':
            return await this.template(request.name);
        }
      } catch (err) {
        return fail(err instanceof Error ? err.message : String(err));
      }
    };
  }

  private async locate(
    request: Extract<ForeignIncludeRequest, { kind: 'project' }>,
    pipeline: ScopedIncludes,
  ): Promise<{ url: string; defaultBranch: string | null } | Failure> {
    const { project, host } = request;
    const source = this.sources.get(project);
    if (source !== undefined) return { url: source, defaultBranch: null };
    const hosts = [pipeline.serverHost, this.forgeHost].filter((h): h is string => typeof h === 'string' && h !== '');
    if (host !== undefined && hosts.length > 0 && !hosts.includes(host)) {
      return fail(`component host \`${host}\` is neither this server's nor the forge's (${hosts.map((h) => `\`${h}\``).join(', ')})`);
    }
    const registered = host === undefined || host === pipeline.serverHost ? await pipeline.registered?.(project) : null;
    if (registered && 'refused' in registered) return fail(registered.refused);
    if (registered) return registered;
    if (this.forge) {
      if (!pipeline.forge) return fail(`project \`${project}\`: a fork's pipeline may not read the forge's projects`);
      return { url: `${this.forge.url}/${project}.git`, defaultBranch: null };
    }
    return fail(
      pipeline.registered
        ? `project \`${project}\` is not a repository registered in Tandem (by its path), and no forge is configured (forge.url)`
        : `project \`${project}\` was not given with --include-source ${project}=<git URL or path>, and no forge is configured (--forge-url)`,
    );
  }

  private async project(
    request: Extract<ForeignIncludeRequest, { kind: 'project' }>,
    pipeline: ScopedIncludes,
  ): Promise<ForeignIncludeResult> {
    // The path becomes part of the forge's URL: no `..` may walk out of it.
    if (!PROJECT_PATH.test(request.project) || request.project.split('/').some((segment) => /^\.+$/.test(segment))) {
      return fail(`\`${request.project}\` is not a project path (group/name)`);
    }
    const where = await this.locate(request, pipeline);
    if ('ok' in where) return where;
    const sha = await pipeline.commitOf(where.url, request.ref ?? where.defaultBranch);
    const shownRef = request.ref ?? 'its default branch';
    if (!sha) return fail(`project \`${request.project}\` has no branch, tag or commit \`${shownRef}\``);
    const key = `${where.url}\0${sha}\0${request.file}`;
    const content = await (this.files.get(key) ??
      remember(
        this.files,
        key,
        this.mirrors.readFile(where.url, sha, request.file).catch((err: unknown) => {
          this.files.delete(key);
          throw err;
        }),
      ));
    if (content === null) {
      return {
        ok: false,
        missing: true,
        message: `\`${request.file}\` does not exist in project \`${request.project}\` at \`${shownRef}\``,
      };
    }
    return { ok: true, content, project: { path: request.project, sha } };
  }

  /** The commit a ref names; the mirror is fetched at most once per ttl (a sha already present, never). */
  private async commitOf(url: string, ref: string | null): Promise<string | null> {
    if (ref !== null && FULL_SHA.test(ref)) {
      await this.mirrors.ensure(url, { sha: ref });
      return ref.toLowerCase();
    }
    const last = this.fetchedAt.get(url);
    if (last && this.now() - last.at < this.ttlMs) await last.done;
    else {
      const done = this.mirrors.ensure(url).then(() => undefined);
      remember(this.fetchedAt, url, { at: this.now(), done });
      await done.catch((err: unknown) => {
        this.fetchedAt.delete(url);
        throw err;
      });
    }
    const name = ref ?? (await this.mirrors.mirroredDefaultBranch(url));
    return name === null ? null : this.mirrors.resolveMirroredRef(url, name);
  }

  private async remote(url: string): Promise<ForeignIncludeResult> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return fail(`\`${url}\` is not a URL`);
    }
    if (parsed.protocol !== 'https:' && !(this.allowHttp && parsed.protocol === 'http:')) {
      return fail(`remote include \`${url}\`: only https:// URLs are fetched`);
    }
    const refused = await this.remoteHostRefusal?.(parsed.hostname);
    if (refused) return fail(`remote include \`${url}\`: ${refused}`);
    const content = await this.document(url, {}, (body) => body);
    return { ok: true, content };
  }

  /** GitLab's templates API: GET /api/v4/templates/gitlab_ci_ymls/<name without .gitlab-ci.yml>, JSON `content`. */
  private async template(name: string): Promise<ForeignIncludeResult> {
    if (!this.forge) return fail(`include:template \`${name}\` needs a forge to read templates from: set \`forge.url\` in tandem.yml`);
    const key = name.replace(/\.gitlab-ci\.yml$/, '');
    const url = `${this.forge.url}/api/v4/templates/gitlab_ci_ymls/${encodeURIComponent(key)}`;
    const headers: Record<string, string> = this.forge.token ? { 'PRIVATE-TOKEN': this.forge.token } : {};
    const content = await this.document(url, headers, (body) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        throw new Error(`template \`${name}\`: the forge's answer is not JSON`);
      }
      const text = (parsed as { content?: unknown } | null)?.content;
      if (typeof text !== 'string') throw new Error(`template \`${name}\`: the forge's answer has no \`content\``);
      return text;
    });
    return { ok: true, content };
  }

  /** A fetched document, cached for ttl by URL (with one fetch in flight per URL); failures are not cached. */
  private document(url: string, headers: Record<string, string>, parse: (body: string) => string): Promise<string> {
    const cached = this.documents.get(url);
    if (cached && this.now() - cached.at < this.ttlMs) return cached.body;
    const body = this.fetchText(url, headers).then(parse);
    remember(this.documents, url, { at: this.now(), body });
    body.catch(() => {
      if (this.documents.get(url)?.body === body) this.documents.delete(url);
    });
    return body;
  }

  private async fetchText(url: string, headers: Record<string, string>): Promise<string> {
    const shown = url.replace(/\?.*$/, '');
    let response: Response;
    try {
      response = await fetch(url, { headers, redirect: 'follow', signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      const reason = (err as Error).name === 'TimeoutError' ? `no answer within ${this.timeoutMs / 1000} s` : describeFetchError(err);
      throw new Error(`cannot fetch \`${shown}\`: ${reason}`);
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`cannot fetch \`${shown}\`: HTTP ${response.status}`);
    }
    const declared = Number(response.headers.get('content-length'));
    if (declared > this.maxBytes) {
      await response.body?.cancel();
      throw new Error(`\`${shown}\` is larger than ${this.maxBytes} bytes`);
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = response.body?.getReader();
    try {
      for (;;) {
        const next = await reader?.read();
        if (!next || next.done) break;
        size += next.value.byteLength;
        if (size > this.maxBytes) {
          await reader?.cancel();
          throw new Error(`\`${shown}\` is larger than ${this.maxBytes} bytes`);
        }
        chunks.push(next.value);
      }
    } catch (err) {
      if ((err as Error).name === 'TimeoutError') throw new Error(`cannot fetch \`${shown}\`: no answer within ${this.timeoutMs / 1000} s`);
      throw err;
    }
    return Buffer.concat(chunks).toString('utf8');
  }
}

/** Why fetch() failed, in a word where node gives one (ECONNREFUSED, ENOTFOUND) rather than "fetch failed". */
export function describeFetchError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}
