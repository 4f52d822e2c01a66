import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { isWebhookProvider, WEBHOOK_PROVIDERS, type WebhookProvider } from '../api/index.js';
import { globMatcher } from '../pipeline/index.js';
import { isBranchOrTagRef, isZeroSha, refEvent, ZERO_SHA } from './types.js';
import type { ForgeProject, MergeRequestAction, MergeRequestInfo, PushEvent } from './types.js';

import { DomainError } from '../errors.js';

/** A delivery refused: malformed (unreadable), unauthenticated (its signature), invalid (its payload). */
export class WebhookError extends DomainError {
  override name = 'WebhookError';
  constructor(kind: 'malformed' | 'unauthenticated' | 'invalid', message: string) {
    super(kind, message);
  }
}

export type WebhookHeaders = Record<string, string | string[] | undefined>;

export interface WebhookResult {
  ok: true;
  provider: WebhookProvider;
  /** The provider's delivery id, else `body-sha256:<hex>` (a redelivery has the same body). */
  deliveryId: string;
  /** The provider's event name as sent in its header (push, Tag Push Hook, repo:refs_changed...). */
  eventName: string;
  /** Every ref change in the delivery: Bitbucket sends several in one; the others at most one. */
  events: PushEvent[];
  /** events[0], or null when the delivery triggers nothing (ping, other event types and actions). */
  event: PushEvent | null;
  ignoredReason?: string;
}

const PROVIDER_NAMES: Record<WebhookProvider, string> = {
  github: 'GitHub',
  gitlab: 'GitLab',
  gitea: 'Gitea',
  bitbucket: 'Bitbucket',
};

function header(headers: WebhookHeaders, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== wanted || value === undefined) continue;
    if (Array.isArray(value)) {
      // Two signatures or two event names mean a proxy or an attacker is interfering.
      if (value.length > 1) throw new WebhookError('malformed', `header ${name} appears more than once`);
      return value[0];
    }
    return value;
  }
  return undefined;
}

function requireHeader(headers: WebhookHeaders, names: string[], kind: 'malformed' | 'unauthenticated'): string {
  for (const name of names) {
    const value = header(headers, name);
    if (value !== undefined && value !== '') return value;
  }
  throw new WebhookError(kind, `missing header ${names.join(' or ')}`);
}

function verifyHmacHex(providedHex: string, headerName: string, secret: string, body: Buffer): void {
  if (!/^[0-9a-f]{64}$/i.test(providedHex)) {
    throw new WebhookError('unauthenticated', `${headerName} is not a 64-digit hex HMAC-SHA256 signature`);
  }
  const expected = createHmac('sha256', secret).update(body).digest();
  if (!timingSafeEqual(Buffer.from(providedHex, 'hex'), expected)) {
    throw new WebhookError(
      'unauthenticated',
      `${headerName} does not match the body: check that the webhook secret is the same on both sides`,
    );
  }
}

function verifyPrefixedHmac(headers: WebhookHeaders, name: string, secret: string, body: Buffer): void {
  const value = requireHeader(headers, [name], 'unauthenticated');
  if (!value.startsWith('sha256=')) throw new WebhookError('unauthenticated', `${name} must start with "sha256="`);
  verifyHmacHex(value.slice('sha256='.length), name, secret, body);
}

function verifyToken(provided: string, secret: string, headerName: string): void {
  // Digests have equal length whatever the inputs, so the comparison leaks neither content nor length.
  const a = createHash('sha256').update(provided).digest();
  const b = createHash('sha256').update(secret).digest();
  if (!timingSafeEqual(a, b)) throw new WebhookError('unauthenticated', `${headerName} does not match the repository's webhook secret`);
}

/** GitHub's own cap on a delivery; anything larger is not a forge talking. */
export const MAX_PAYLOAD_BYTES = 25 * 1024 * 1024;
/** Real payloads nest about 6 deep; far deeper is an attack on the parser (time, and stack for the code that walks it). */
export const MAX_PAYLOAD_DEPTH = 64;

/** Refuses JSON nested deeper than MAX_PAYLOAD_DEPTH, in one pass that stops where it gets too deep. */
function checkDepth(where: string, text: string): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > MAX_PAYLOAD_DEPTH)
        throw new WebhookError('invalid', `${where}: JSON nested deeper than ${MAX_PAYLOAD_DEPTH} levels at offset ${i}`);
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
}

function parseJson(where: string, headers: WebhookHeaders, body: Buffer): Payload {
  if (body.length > MAX_PAYLOAD_BYTES)
    throw new WebhookError('invalid', `${where}: body of ${body.length} bytes is larger than ${MAX_PAYLOAD_BYTES}`);
  let text = body.toString('utf8');
  // GitHub and Gitea can be set to send application/x-www-form-urlencoded with the JSON in "payload".
  if ((header(headers, 'content-type') ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    const form = new URLSearchParams(text).get('payload');
    if (form === null) throw new WebhookError('malformed', `${where}: form-encoded body has no "payload" field`);
    text = form;
  }
  checkDepth(where, text);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new WebhookError('malformed', `${where}: malformed JSON body: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new WebhookError('invalid', `${where}: body must be a JSON object`);
  }
  return new Payload(value, where);
}

const SHA_RE = /^[0-9a-f]{7,64}$/i;

/** Typed reads from a webhook body; a missing or mistyped field is a 422 naming its path. */
class Payload {
  constructor(
    private readonly value: unknown,
    private readonly where: string,
    private readonly prefix = '',
  ) {}

  private lookup(path: string): unknown {
    let cur = this.value;
    for (const part of path.split('.')) {
      if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
      cur = (cur as Record<string, unknown>)[part];
    }
    return cur;
  }

  private fail(path: string, problem: string): WebhookError {
    return new WebhookError('invalid', `${this.where}: field "${this.prefix}${path}" ${problem}`);
  }

  optStr(path: string): string | undefined {
    const v = this.lookup(path);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw this.fail(path, 'must be a string');
    return v;
  }

  str(path: string): string {
    const v = this.optStr(path);
    if (v === undefined || v === '') throw this.fail(path, 'is missing');
    return v;
  }

  /** An id the forge sends as a number or a string. */
  optId(path: string): string | null {
    const v = this.lookup(path);
    if (v === undefined || v === null) return null;
    if (typeof v === 'string' && v !== '') return v;
    if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
    throw this.fail(path, 'must be an integer or a string');
  }

  num(path: string): number {
    const v = this.lookup(path);
    if (v === undefined || v === null) throw this.fail(path, 'is missing');
    if (typeof v !== 'number' || !Number.isInteger(v)) throw this.fail(path, 'must be an integer');
    return v;
  }

  optBool(path: string): boolean | undefined {
    const v = this.lookup(path);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') throw this.fail(path, 'must be true or false');
    return v;
  }

  optSha(path: string): string | undefined {
    const v = this.optStr(path);
    if (v === undefined || v === '') return undefined;
    if (!SHA_RE.test(v)) throw this.fail(path, `is not a commit sha: ${JSON.stringify(v)}`);
    return v.toLowerCase();
  }

  sha(path: string): string {
    const v = this.optSha(path);
    if (v === undefined) throw this.fail(path, 'is missing');
    return v;
  }

  /** A nested object, or null when the field is null or absent. */
  optObj(path: string): Payload | null {
    const v = this.lookup(path);
    if (v === undefined || v === null) return null;
    if (typeof v !== 'object' || Array.isArray(v)) throw this.fail(path, 'must be an object');
    return new Payload(v, this.where, `${this.prefix}${path}.`);
  }

  list(path: string): Payload[] {
    const v = this.lookup(path);
    if (v === undefined || v === null) throw this.fail(path, 'is missing');
    if (!Array.isArray(v)) throw this.fail(path, 'must be a list');
    return v.map((item, i) => {
      if (item === null || typeof item !== 'object' || Array.isArray(item)) throw this.fail(`${path}[${i}]`, 'must be an object');
      return new Payload(item, this.where, `${this.prefix}${path}[${i}].`);
    });
  }
}

type Parsed = { events: PushEvent[]; ignoredReason?: string };

const ignore = (reason: string): Parsed => ({ events: [], ignoredReason: reason });

/** GitHub and Gitea share the push payload: ref, before, after, head_commit. */
function githubStylePush(p: Payload): Parsed {
  const ref = p.str('ref');
  if (!isBranchOrTagRef(ref)) return ignore(`push to ${ref} is neither a branch nor a tag`);
  const after = p.sha('after');
  const deleted = p.optBool('deleted') ?? isZeroSha(after);
  // For an annotated tag "after" is the tag object; head_commit is the commit it points at.
  const sha = deleted ? ZERO_SHA : (p.optSha('head_commit.id') ?? after);
  return { events: [refEvent(ref, sha, p.optSha('before') ?? null)] };
}

/** The repository at `prefix` of a payload: its id, path and clone URL under the given field names. */
function project(p: Payload, fields: { id: string; path: string; url?: string }): ForgeProject {
  return {
    id: p.optId(fields.id),
    path: p.optStr(fields.path) ?? null,
    url: fields.url === undefined ? null : (p.optStr(fields.url) ?? null),
  };
}

/**
 * The merge request event. `ref` is the forge's own ref for the head commit in the target
 * repository, never refs/heads/<source branch>: a fork's branch may share a protected branch's name.
 */
function mergeRequestEvent(ref: string, sha: string, beforeSha: string | null, info: Omit<MergeRequestInfo, 'fromFork'>): PushEvent {
  const { sourceProject: source, targetProject: target } = info;
  const fromFork = source.id === null || target.id === null || source.id !== target.id;
  return { kind: 'merge_request', ref, sha, beforeSha, deleted: false, branch: info.sourceBranch, mergeRequest: { ...info, fromFork } };
}

/** GitHub and Gitea: the head repository is null when the fork was deleted. */
function githubStyleProject(p: Payload, side: 'head' | 'base'): ForgeProject {
  return project(p, {
    id: `pull_request.${side}.repo.id`,
    path: `pull_request.${side}.repo.full_name`,
    url: `pull_request.${side}.repo.clone_url`,
  });
}

/** GitHub and Gitea pull_request payloads; they differ in the name of the "new commits" action. */
function githubStylePullRequest(p: Payload, actions: Record<string, MergeRequestAction>): Parsed {
  const raw = p.str('action');
  const action = actions[raw];
  if (action === undefined) return ignore(`pull_request action "${raw}" does not trigger pipelines`);
  const iid = p.num('number');
  const sha = p.sha('pull_request.head.sha');
  const info = {
    iid,
    sourceBranch: p.str('pull_request.head.ref'),
    targetBranch: p.str('pull_request.base.ref'),
    title: p.optStr('pull_request.title') ?? '',
    action,
    sourceProject: githubStyleProject(p, 'head'),
    targetProject: githubStyleProject(p, 'base'),
  };
  const before = action === 'updated' ? (p.optSha('before') ?? null) : null;
  return { events: [mergeRequestEvent(`refs/pull/${iid}/head`, sha, isZeroSha(before) ? null : before, info)] };
}

function bodyDigest(body: Buffer): string {
  return `body-sha256:${createHash('sha256').update(body).digest('hex')}`;
}

interface Delivery {
  deliveryId: string;
  eventName: string;
  parsed: Parsed;
}

function github(headers: WebhookHeaders, body: Buffer, secret: string): Delivery {
  verifyPrefixedHmac(headers, 'X-Hub-Signature-256', secret, body);
  const eventName = requireHeader(headers, ['X-GitHub-Event'], 'malformed');
  const deliveryId = header(headers, 'X-GitHub-Delivery') || bodyDigest(body);
  const where = `GitHub ${eventName} payload`;
  switch (eventName) {
    case 'ping':
      return { deliveryId, eventName, parsed: ignore('ping') };
    case 'push':
      return { deliveryId, eventName, parsed: githubStylePush(parseJson(where, headers, body)) };
    case 'pull_request':
      return {
        deliveryId,
        eventName,
        parsed: githubStylePullRequest(parseJson(where, headers, body), {
          opened: 'opened',
          synchronize: 'updated',
          reopened: 'reopened',
        }),
      };
    default:
      return { deliveryId, eventName, parsed: ignore(`GitHub event "${eventName}" does not trigger pipelines`) };
  }
}

function gitlab(headers: WebhookHeaders, body: Buffer, secret: string): Delivery {
  verifyToken(requireHeader(headers, ['X-Gitlab-Token'], 'unauthenticated'), secret, 'X-Gitlab-Token');
  const eventName = requireHeader(headers, ['X-Gitlab-Event'], 'malformed');
  const deliveryId = header(headers, 'X-Gitlab-Event-UUID') || bodyDigest(body);
  const where = `GitLab ${eventName} payload`;
  if (eventName === 'Push Hook' || eventName === 'Tag Push Hook') {
    const p = parseJson(where, headers, body);
    const ref = p.str('ref');
    if (!isBranchOrTagRef(ref)) return { deliveryId, eventName, parsed: ignore(`push to ${ref} is neither a branch nor a tag`) };
    const after = p.sha('after');
    // checkout_sha is the commit (after is the tag object for annotated tags); null on deletion.
    const sha = isZeroSha(after) ? ZERO_SHA : (p.optSha('checkout_sha') ?? after);
    return { deliveryId, eventName, parsed: { events: [refEvent(ref, sha, p.optSha('before') ?? null)] } };
  }
  if (eventName === 'Merge Request Hook') {
    const p = parseJson(where, headers, body);
    const raw = p.str('object_attributes.action');
    const oldrev = p.optSha('object_attributes.oldrev') ?? null;
    let action: MergeRequestAction;
    if (raw === 'open') action = 'opened';
    else if (raw === 'reopen') action = 'reopened';
    // GitLab also sends "update" for title or label edits; oldrev is there only when commits were pushed.
    else if (raw === 'update' && oldrev !== null) action = 'updated';
    else if (raw === 'update') return { deliveryId, eventName, parsed: ignore('merge request update without new commits') };
    else return { deliveryId, eventName, parsed: ignore(`merge request action "${raw}" does not trigger pipelines`) };
    const iid = p.num('object_attributes.iid');
    const info = {
      iid,
      sourceBranch: p.str('object_attributes.source_branch'),
      targetBranch: p.str('object_attributes.target_branch'),
      title: p.optStr('object_attributes.title') ?? '',
      action,
      sourceProject: project(p, {
        id: 'object_attributes.source_project_id',
        path: 'object_attributes.source.path_with_namespace',
        url: 'object_attributes.source.git_http_url',
      }),
      targetProject: project(p, {
        id: 'object_attributes.target_project_id',
        path: 'object_attributes.target.path_with_namespace',
        url: 'object_attributes.target.git_http_url',
      }),
    };
    const sha = p.sha('object_attributes.last_commit.id');
    return { deliveryId, eventName, parsed: { events: [mergeRequestEvent(`refs/merge-requests/${iid}/head`, sha, oldrev, info)] } };
  }
  return { deliveryId, eventName, parsed: ignore(`GitLab event "${eventName}" does not trigger pipelines`) };
}

function gitea(headers: WebhookHeaders, body: Buffer, secret: string): Delivery {
  const sigHeader = header(headers, 'X-Gitea-Signature') ? 'X-Gitea-Signature' : 'X-Forgejo-Signature';
  verifyHmacHex(requireHeader(headers, ['X-Gitea-Signature', 'X-Forgejo-Signature'], 'unauthenticated'), sigHeader, secret, body);
  const eventName = requireHeader(headers, ['X-Gitea-Event', 'X-Forgejo-Event'], 'malformed');
  const deliveryId = header(headers, 'X-Gitea-Delivery') || header(headers, 'X-Forgejo-Delivery') || bodyDigest(body);
  const where = `Gitea ${eventName} payload`;
  switch (eventName) {
    case 'push':
      return { deliveryId, eventName, parsed: githubStylePush(parseJson(where, headers, body)) };
    case 'pull_request':
      return {
        deliveryId,
        eventName,
        parsed: githubStylePullRequest(parseJson(where, headers, body), {
          opened: 'opened',
          synchronized: 'updated',
          reopened: 'reopened',
        }),
      };
    case 'delete': {
      // Gitea reports a deleted branch or tag only by this event, with a short name and no sha.
      const p = parseJson(where, headers, body);
      const refType = p.str('ref_type');
      if (refType !== 'branch' && refType !== 'tag')
        throw new WebhookError('invalid', `${where}: field "ref_type" must be "branch" or "tag"`);
      const name = p.str('ref');
      const ref = name.startsWith('refs/') ? name : `refs/${refType === 'branch' ? 'heads' : 'tags'}/${name}`;
      return { deliveryId, eventName, parsed: { events: [refEvent(ref, ZERO_SHA, null)] } };
    }
    default:
      return { deliveryId, eventName, parsed: ignore(`Gitea event "${eventName}" does not trigger pipelines`) };
  }
}

function bitbucketServerChanges(p: Payload): Parsed {
  const events: PushEvent[] = [];
  for (const change of p.list('changes')) {
    const ref = change.optStr('ref.id') ?? change.str('refId');
    if (!isBranchOrTagRef(ref)) continue;
    const type = change.optStr('type');
    const to = change.sha('toHash');
    events.push(refEvent(ref, type === 'DELETE' ? ZERO_SHA : to, change.optSha('fromHash') ?? null));
  }
  return events.length > 0 ? { events } : ignore('no branch or tag changed');
}

function bitbucketCloudPush(p: Payload): Parsed {
  const events: PushEvent[] = [];
  for (const change of p.list('push.changes')) {
    const next = change.optObj('new');
    const prev = change.optObj('old');
    const side = next ?? prev;
    if (side === null) throw new WebhookError('invalid', 'Bitbucket repo:push payload: a change has neither "new" nor "old"');
    const ref = `refs/${side.str('type') === 'tag' ? 'tags' : 'heads'}/${side.str('name')}`;
    events.push(refEvent(ref, next ? next.sha('target.hash') : ZERO_SHA, prev ? prev.sha('target.hash') : null));
  }
  return events.length > 0 ? { events } : ignore('no branch or tag changed');
}

function bitbucketProject(p: Payload, side: 'fromRef' | 'toRef'): ForgeProject {
  const repo = `pullRequest.${side}.repository`;
  const key = p.optStr(`${repo}.project.key`);
  const slug = p.optStr(`${repo}.slug`);
  return { id: p.optId(`${repo}.id`), path: key !== undefined && slug !== undefined ? `${key}/${slug}` : null, url: null };
}

function bitbucketPullRequest(p: Payload, action: MergeRequestAction): Parsed {
  const iid = p.num('pullRequest.id');
  const info = {
    iid,
    sourceBranch: p.str('pullRequest.fromRef.displayId'),
    targetBranch: p.str('pullRequest.toRef.displayId'),
    title: p.optStr('pullRequest.title') ?? '',
    action,
    sourceProject: bitbucketProject(p, 'fromRef'),
    targetProject: bitbucketProject(p, 'toRef'),
  };
  const sha = p.sha('pullRequest.fromRef.latestCommit');
  const before = p.optSha('previousFromHash') ?? null;
  return { events: [mergeRequestEvent(`refs/pull-requests/${iid}/from`, sha, before, info)] };
}

function bitbucket(headers: WebhookHeaders, body: Buffer, secret: string): Delivery {
  verifyPrefixedHmac(headers, 'X-Hub-Signature', secret, body);
  const eventName = requireHeader(headers, ['X-Event-Key'], 'malformed');
  // X-Request-Id: Server/Data Center; X-Request-UUID: Cloud.
  const deliveryId = header(headers, 'X-Request-Id') || header(headers, 'X-Request-UUID') || bodyDigest(body);
  const where = `Bitbucket ${eventName} payload`;
  switch (eventName) {
    case 'diagnostics:ping':
      return { deliveryId, eventName, parsed: ignore('ping') };
    case 'repo:refs_changed':
      return { deliveryId, eventName, parsed: bitbucketServerChanges(parseJson(where, headers, body)) };
    case 'repo:push':
      return { deliveryId, eventName, parsed: bitbucketCloudPush(parseJson(where, headers, body)) };
    case 'pr:opened':
      return { deliveryId, eventName, parsed: bitbucketPullRequest(parseJson(where, headers, body), 'opened') };
    case 'pr:from_ref_updated':
      return { deliveryId, eventName, parsed: bitbucketPullRequest(parseJson(where, headers, body), 'updated') };
    default:
      return { deliveryId, eventName, parsed: ignore(`Bitbucket event "${eventName}" does not trigger pipelines`) };
  }
}

const HANDLERS: Record<WebhookProvider, (headers: WebhookHeaders, body: Buffer, secret: string) => Delivery> = {
  github,
  gitlab,
  gitea,
  bitbucket,
};

/**
 * Authenticates and parses one webhook delivery. The signature is checked before the body is
 * parsed. Throws WebhookError: 401 (no secret configured, missing or wrong signature),
 * 400 (unknown provider, missing event header, malformed JSON), 422 (a required field is missing).
 */
export function parseWebhook(provider: WebhookProvider, headers: WebhookHeaders, rawBody: Buffer, secret: string | null): WebhookResult {
  if (!isWebhookProvider(provider)) {
    throw new WebhookError('malformed', `unknown webhook provider "${String(provider)}" (expected one of ${WEBHOOK_PROVIDERS.join(', ')})`);
  }
  if (secret === null || secret === '') {
    throw new WebhookError(
      'unauthenticated',
      `this repository has no webhook secret, so ${PROVIDER_NAMES[provider]} deliveries cannot be verified: set a webhook secret on the repository in Tandem and the same secret in the ${PROVIDER_NAMES[provider]} webhook settings`,
    );
  }
  const { deliveryId, eventName, parsed } = HANDLERS[provider](headers, rawBody, secret);
  const result: WebhookResult = {
    ok: true,
    provider,
    deliveryId,
    eventName,
    events: parsed.events,
    event: parsed.events[0] ?? null,
  };
  if (parsed.ignoredReason !== undefined) result.ignoredReason = parsed.ignoredReason;
  return result;
}

export interface RefFilters {
  branches?: string[];
  tags?: string[];
}

function matchesPatterns(name: string, patterns: string[] | undefined): boolean {
  if (patterns === undefined) return true;
  const positive = patterns.filter((p) => !p.startsWith('!'));
  const negative = patterns.filter((p) => p.startsWith('!')).map((p) => p.slice(1));
  const included = positive.length === 0 ? patterns.length > 0 : globMatcher(positive, { anyDepth: true })(name);
  return included && !(negative.length > 0 && globMatcher(negative, { anyDepth: true })(name));
}

/**
 * Whether a refs/heads/* or refs/tags/* ref passes the repository's filters. A missing list lets
 * every branch (or tag) through, an empty list none; "!pattern" excludes. Globs (matched in linear
 * time, see pipeline/glob.ts): "*" stays within one path segment, "**" crosses them (release/**).
 */
export function refMatchesFilters(ref: string, filters: RefFilters): boolean {
  if (ref.startsWith('refs/heads/')) return matchesPatterns(ref.slice('refs/heads/'.length), filters.branches);
  if (ref.startsWith('refs/tags/')) return matchesPatterns(ref.slice('refs/tags/'.length), filters.tags);
  return false;
}
