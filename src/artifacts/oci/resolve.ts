// Resolves an image reference to the digest of its manifest, as the OCI distribution spec serves it:
// `HEAD /v2/<name>/manifests/<tag or digest>` and the Docker-Content-Digest header. A 401 is
// answered as its WWW-Authenticate challenge asks: Basic with the credentials, or Bearer through
// the token service it names (Docker Hub, GHCR, GitLab, Harbor). A digest given is checked to exist.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { DomainError, type ErrorKind } from '../../errors.js';
import { registryRequest, RegistryTransportError, type RegistryAnswer, type RegistryHttpOptions } from './http.js';
import { formatImageRef, parseImageRef, pinnedRef, registryEndpoint, type ImageRef } from './reference.js';

/** Index and manifest types, OCI and Docker: a multi-platform tag resolves to its index's digest. */
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** Registries refuse manifests above 4 MiB; a larger answer is not a manifest. */
const MANIFEST_MAX_BYTES = 4 * 1024 * 1024;
/** Token answers and error bodies are small JSON. */
const SMALL_BODY_MAX_BYTES = 64 * 1024;
const DEFAULT_TIMEOUT_MS = 30_000;

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface ResolveImageOptions {
  /** Credentials by registry as written in refs (`docker.io`, `registry.example.com:5000`). */
  auths?: Readonly<Record<string, RegistryCredentials>>;
  /** A PEM file of CA certificates trusted besides the system's (a registry with a private CA). */
  caFile?: string;
  /** Speak plain HTTP to the registry (a registry on loopback without TLS); never the default. */
  plainHttp?: boolean;
  /** Per request (the HEAD, a token, a fallback GET); default 30 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** The registry refused or failed; `status` is its HTTP status (0 when it did not answer). */
export class RegistryError extends DomainError {
  override name = 'RegistryError';
  constructor(
    kind: ErrorKind,
    message: string,
    readonly status: number,
  ) {
    super(kind, message);
  }
}

/** `ref` pinned: `registry/repository@sha256:...` of the manifest the registry serves for it now. */
export async function resolveImage(ref: string, options: ResolveImageOptions = {}): Promise<string> {
  const image = parseImageRef(ref);
  const session = new RegistrySession(image, options, options.caFile ? await readCa(ref, options.caFile) : undefined);
  return pinnedRef(image, await session.manifestDigest());
}

async function readCa(ref: string, file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new RegistryError('misconfigured', `image ${ref}: CA file ${file}: ${(err as Error).message}`, 0);
  }
}

class RegistrySession {
  private readonly http: RegistryHttpOptions;
  private readonly label: string;
  private authorization: string | null = null;

  constructor(
    private readonly image: ImageRef,
    private readonly options: ResolveImageOptions,
    ca: string | undefined,
  ) {
    this.http = { ca, timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS, signal: options.signal };
    this.label = `image ${formatImageRef(image)}`;
  }

  async manifestDigest(): Promise<string> {
    const reference = this.image.digest ?? this.image.tag ?? 'latest';
    const scheme = this.options.plainHttp ? 'http' : 'https';
    const url = new URL(`${scheme}://${registryEndpoint(this.image.registry)}/v2/${this.image.repository}/manifests/${reference}`);
    const head = await this.send(url, 'HEAD', MANIFEST_MAX_BYTES);
    if (head.status !== 200) await this.refuse(url, head);
    let digest = header(head, 'docker-content-digest');
    if (!digest) {
      // The header is optional for HEAD in the spec: the digest of the bytes served is the same.
      const get = await this.send(url, 'GET', MANIFEST_MAX_BYTES);
      if (get.status !== 200) await this.refuse(url, get);
      digest = header(get, 'docker-content-digest') ?? `sha256:${createHash('sha256').update(get.body).digest('hex')}`;
    }
    if (!/^sha(256:[a-f0-9]{64}|512:[a-f0-9]{128})$/.test(digest)) {
      throw new RegistryError(
        'upstream',
        `${this.label}: registry ${this.image.registry} answered a malformed digest "${digest.slice(0, 100)}"`,
        200,
      );
    }
    if (this.image.digest && digest !== this.image.digest) {
      throw new RegistryError('upstream', `${this.label}: registry ${this.image.registry} served digest ${digest} for it`, 200);
    }
    return digest;
  }

  /** One request, answering a 401 challenge once: a second 401 is the registry's final word. */
  private async send(url: URL, method: 'GET' | 'HEAD', maxBytes: number): Promise<RegistryAnswer> {
    const attempt = (): Promise<RegistryAnswer> =>
      this.transport(url, method, maxBytes, {
        accept: MANIFEST_ACCEPT,
        ...(this.authorization ? { authorization: this.authorization } : {}),
      });
    const answer = await attempt();
    if (answer.status !== 401 || this.authorization) return answer;
    const challenge = parseChallenge(header(answer, 'www-authenticate') ?? '');
    const credentials = this.options.auths?.[this.image.registry];
    if (challenge?.scheme === 'basic') {
      if (!credentials) return answer;
      this.authorization = basic(credentials);
    } else if (challenge?.scheme === 'bearer') {
      this.authorization = `Bearer ${await this.token(challenge.params, credentials, url)}`;
    } else {
      return answer;
    }
    return attempt();
  }

  /** The token service's answer for pulling this repository (anonymous when no credentials are set). */
  private async token(params: Record<string, string>, credentials: RegistryCredentials | undefined, registryUrl: URL): Promise<string> {
    let realm: URL;
    try {
      realm = new URL(params.realm ?? '');
    } catch {
      throw new RegistryError('upstream', `${this.label}: registry ${this.image.registry} asked for a token without a valid realm`, 401);
    }
    // The credentials go to the realm: never in clear text unless the registry itself is plain HTTP.
    if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && registryUrl.protocol === 'http:')) {
      throw new RegistryError('upstream', `${this.label}: token realm ${realm.origin} is not HTTPS`, 401);
    }
    if (params.service) realm.searchParams.set('service', params.service);
    realm.searchParams.set('scope', params.scope ?? `repository:${this.image.repository}:pull`);
    const answer = await this.transport(realm, 'GET', SMALL_BODY_MAX_BYTES, credentials ? { authorization: basic(credentials) } : {});
    if (answer.status !== 200) {
      const why =
        answer.status === 401 || answer.status === 403
          ? credentials
            ? 'refused the credentials'
            : 'requires credentials; none are configured'
          : 'failed';
      throw new RegistryError(
        answer.status === 401 ? 'unauthenticated' : answer.status === 403 ? 'forbidden' : 'upstream',
        `${this.label}: token service ${realm.host} ${why} (${answer.status}${errorDetail(answer)})`,
        answer.status,
      );
    }
    let body: unknown;
    try {
      body = JSON.parse(answer.body.toString('utf8'));
    } catch {
      body = null;
    }
    const token =
      body && typeof body === 'object'
        ? ((body as { token?: unknown }).token ?? (body as { access_token?: unknown }).access_token)
        : undefined;
    if (typeof token !== 'string' || token === '') {
      throw new RegistryError('upstream', `${this.label}: token service ${realm.host} answered without a token`, 200);
    }
    return token;
  }

  private async transport(url: URL, method: 'GET' | 'HEAD', maxBytes: number, headers: Record<string, string>): Promise<RegistryAnswer> {
    try {
      return await registryRequest(url, method, headers, maxBytes, this.http);
    } catch (err) {
      if (!(err instanceof RegistryTransportError)) throw err;
      throw new RegistryError('unavailable', `${this.label}: registry ${this.image.registry} did not answer: ${err.message}`, 0);
    }
  }

  /** Throws the refusal, with the registry's own error text (HEAD has no body: a GET fetches it). */
  private async refuse(url: URL, answer: RegistryAnswer): Promise<never> {
    let detailed = answer;
    if (answer.body.length === 0 && answer.status !== 401) {
      detailed = await this.transport(url, 'GET', SMALL_BODY_MAX_BYTES, {
        accept: MANIFEST_ACCEPT,
        ...(this.authorization ? { authorization: this.authorization } : {}),
      }).catch(() => answer);
      if (detailed.status !== answer.status) detailed = answer;
    }
    const status = `${answer.status}${errorDetail(detailed)}`;
    const where = `registry ${this.image.registry}`;
    const credentials = this.options.auths?.[this.image.registry];
    switch (answer.status) {
      case 401:
        throw new RegistryError(
          'unauthenticated',
          `${this.label}: ${where} ${credentials ? `refused the credentials of ${credentials.username}` : 'requires credentials; none are configured'} (${status})`,
          401,
        );
      case 403:
        throw new RegistryError('forbidden', `${this.label}: ${where} denies pulling it (${status})`, 403);
      case 404:
        throw new RegistryError('not_found', `${this.label}: not found in ${where} (${status})`, 404);
      case 429:
        throw new RegistryError('rate_limited', `${this.label}: ${where} is rate limiting (${status})`, 429);
      default:
        throw new RegistryError(
          answer.status >= 500 ? 'unavailable' : 'upstream',
          `${this.label}: ${where} answered ${status}`,
          answer.status,
        );
    }
  }
}

function header(answer: RegistryAnswer, name: string): string | undefined {
  const value = answer.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function basic(credentials: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

/** `: MANIFEST_UNKNOWN manifest unknown` from the registry's JSON error body, or nothing. */
function errorDetail(answer: RegistryAnswer): string {
  let body: unknown;
  try {
    body = JSON.parse(answer.body.toString('utf8'));
  } catch {
    return '';
  }
  const errors = body && typeof body === 'object' ? (body as { errors?: unknown }).errors : undefined;
  if (!Array.isArray(errors)) return '';
  const texts = errors
    .slice(0, 3)
    .map((e: unknown) => (e && typeof e === 'object' ? [(e as { code?: unknown }).code, (e as { message?: unknown }).message] : []))
    .map((parts) => parts.filter((p): p is string => typeof p === 'string').join(' '))
    .filter((text) => text !== '');
  return texts.length ? `: ${texts.join('; ').slice(0, 300)}` : '';
}

/** `Bearer realm="https://auth",service="registry",scope="repository:x:pull"` → its scheme and parameters. */
export function parseChallenge(value: string): { scheme: 'basic' | 'bearer'; params: Record<string, string> } | null {
  const match = /^\s*(\w+)\s*(.*)$/s.exec(value);
  if (!match) return null;
  const scheme = (match[1] ?? '').toLowerCase();
  if (scheme !== 'basic' && scheme !== 'bearer') return null;
  const params: Record<string, string> = {};
  for (const param of (match[2] ?? '').matchAll(/([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g)) {
    params[(param[1] ?? '').toLowerCase()] = param[2] !== undefined ? param[2].replace(/\\(.)/g, '$1') : (param[3] ?? '');
  }
  return { scheme, params };
}
