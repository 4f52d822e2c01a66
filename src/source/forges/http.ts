// One HTTP attempt against a forge's REST API, for the clients of this folder: a time limit per
// request, and the answer sorted the way the outbox needs it: a rate limit (ForgeRateLimitedError
// with when to come back), a failure worth retrying (5xx, no answer), or a refusal (other 4xx).
// Messages name the forge, the method and the path; never the credential (the query string is left
// out and any echo of the token in an error body is blanked).
import { describeFetchError } from '../includes.js';
import { ForgeRateLimitedError, ForgeRequestError, type ForgeClientOptions } from './types.js';

export interface ForgeHttpRequest {
  method: 'GET' | 'POST';
  url: URL;
  headers: Record<string, string>;
  /** Sent as JSON. */
  body?: unknown;
  /** An error answer the caller handles itself (GitLab's "already in that state"): returned, not thrown. */
  accept?: (status: number, body: unknown) => boolean;
}

export interface ForgeHttpResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

/** When no header says how long to wait, a rate-limited request is tried again after this (GitHub documents at least a minute). */
const DEFAULT_RATE_LIMIT_WAIT_MS = 60_000;
/** Header values below this are delays in seconds (the IETF RateLimit-Reset), above it Unix times (GitLab, GitHub). */
const EPOCH_SECONDS_FLOOR = 1_000_000_000;

/** `forge` is the name in messages ("GitLab"); `secrets` are blanked from any message. */
export async function forgeFetch(
  forge: string,
  req: ForgeHttpRequest,
  opts: ForgeClientOptions,
  secrets: readonly string[],
): Promise<ForgeHttpResponse> {
  const label = `${forge} ${req.method} ${req.url.pathname}`;
  const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
  if (req.body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  let body: unknown;
  try {
    response = await fetch(req.url, {
      method: req.method,
      headers,
      body: req.body === undefined ? undefined : JSON.stringify(req.body),
      // A redirect is not followed: the credential (GitLab's PRIVATE-TOKEN header too) would go with it.
      redirect: 'manual',
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
    body = await readBody(response);
  } catch (err) {
    const reason = (err as Error).name === 'TimeoutError' ? `no answer within ${opts.timeoutMs / 1000} s` : describeFetchError(err);
    throw new ForgeRequestError(blank(`${label}: ${reason}`, secrets), 0, true);
  }
  if (response.ok || req.accept?.(response.status, body)) return { status: response.status, headers: response.headers, body };

  if (response.status >= 300 && response.status < 400) {
    const to = (response.headers.get('location') ?? '').replace(/\?.*$/, '');
    throw new ForgeRequestError(
      blank(
        `${label} answered ${response.status}, a redirect to ${to || 'nowhere'}: forge.apiUrl should name the API root itself`,
        secrets,
      ),
      response.status,
      false,
    );
  }
  const detail = errorDetail(body);
  const message = blank(`${label} answered ${response.status}${detail ? `: ${detail}` : ''}`, secrets);
  const retryAt = rateLimitedUntil(response.status, response.headers, opts.now());
  if (retryAt !== null) throw new ForgeRateLimitedError(message, retryAt);
  // 408: the forge gave up waiting for us; 409: GitLab's "another update to this commit status is in progress".
  const retryable = response.status >= 500 || response.status === 408 || response.status === 409;
  throw new ForgeRequestError(message, response.status, retryable);
}

async function readBody(response: Response): Promise<unknown> {
  const text = await response.text();
  if (text === '') return null;
  if ((response.headers.get('content-type') ?? '').includes('json')) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}

/**
 * When a refused request may be tried again, or null when it was not a rate limit: every 429, and a
 * 403 that says it is one (an exhausted remaining count or a Retry-After, or `saysLimited`: GitHub's
 * secondary limit may come with its message only), as GitHub-style forges do.
 */
export function rateLimitedUntil(status: number, headers: Headers, now: number, saysLimited = false): number | null {
  const retryAfter = headers.get('retry-after');
  const remaining = headers.get('ratelimit-remaining') ?? headers.get('x-ratelimit-remaining');
  const limited = status === 429 || (status === 403 && (retryAfter !== null || remaining === '0' || saysLimited));
  if (!limited) return null;
  if (retryAfter !== null) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds)) return now + Math.max(0, seconds) * 1000;
    const date = Date.parse(retryAfter);
    if (Number.isFinite(date)) return Math.max(now, date);
  }
  const reset = Number(headers.get('ratelimit-reset') ?? headers.get('x-ratelimit-reset') ?? NaN);
  if (Number.isFinite(reset)) return reset >= EPOCH_SECONDS_FLOOR ? Math.max(now, reset * 1000) : now + reset * 1000;
  return now + DEFAULT_RATE_LIMIT_WAIT_MS;
}

/** The forge's own words from an error body (`message`, `error`, Bitbucket's `error.message`, DC's `errors[0].message`), shortened. */
function errorDetail(body: unknown): string {
  let text = '';
  if (typeof body === 'string') text = body;
  else if (body !== null && typeof body === 'object') {
    const b = body as { message?: unknown; error?: unknown; errors?: unknown };
    const first = Array.isArray(b.errors) ? (b.errors[0] as { message?: unknown } | undefined) : undefined;
    const candidate = b.message ?? (b.error as { message?: unknown } | undefined)?.message ?? b.error ?? first?.message ?? '';
    text = typeof candidate === 'string' ? candidate : JSON.stringify(candidate);
  }
  text = text.replace(/\s+/g, ' ').trim();
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

function blank(message: string, secrets: readonly string[]): string {
  let out = message;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('[masked]');
  return out;
}

/** An API root with the path below it: keeps the root's own path (a forge under /gitlab/), one slash between. */
export function apiUrl(root: string, path: string, query?: Record<string, string>): URL {
  const url = new URL(root.replace(/\/+$/, '') + path);
  for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
  return url;
}

/** `owner/name` split in two, or a refusal naming the setting when it is not that. */
export function ownerAndName(forge: string, project: string): [string, string] {
  const parts = project.split('/');
  if (parts.length !== 2 || parts.some((p) => p === '')) {
    throw new ForgeRequestError(`${forge}: forge.project must be \`owner/name\`, not \`${project}\``, 0, false);
  }
  return [parts[0], parts[1]];
}

/** A branch or tag name from a ref as Tandem keeps it (refs/heads/main → main); other refs stay as they are. */
export function shortRef(ref: string): string {
  return ref.replace(/^refs\/(heads|tags)\//, '');
}

/** `text` cut to `max` characters with an ellipsis, for forges that refuse longer fields. */
export function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
