// The route layer's access control: who is calling (bearer token, JOB-TOKEN header or session
// cookie), whether the route's permission allows it (src/auth/permissions.ts), CSRF for changes
// made with a cookie, and the audit record of every change. Nothing is cached between requests:
// a revocation on any replica holds on every replica at the next request.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { recordAudit } from '../auth/index.js';
import { recheckDirectoryAccount } from '../auth/index.js';
import type { LoginPolicy } from '../auth/index.js';
import { decide, roleAtLeast, type Permission, type Role, type RoutePermission } from '../auth/index.js';
import {
  ANONYMOUS,
  callerOf,
  CredentialError,
  principalOfSession,
  prefixOf,
  principalOfToken,
  type Principal,
  type UserPrincipal,
} from '../auth/index.js';
import { memberRepoIds, pipelineProtectedRole, repoStanding, roleIn } from '../auth/index.js';
import type { Job, Pipeline, User } from '../store/index.js';
import { createSession, CSRF_HEADER, csrfMatches, csrfTokenFor, SESSION_COOKIE, type SessionLimits } from '../auth/index.js';
import type { ServerContext } from './context.js';
import { ApiError, formOf, statusOf } from './http.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** The hidden field of the server's HTML forms that carries the session's CSRF token. */
export const CSRF_FORM_FIELD = 'csrf_token';

export interface AuditEntryInput {
  principal: Principal;
  action: string;
  /** The route pattern; its path parameters are recorded with it. */
  route?: string;
  status: number;
  details?: Record<string, unknown>;
}

export interface AccessControl {
  /**
   * The caller of a request to this route, once it may call it; throws 401/403/404 ApiErrors. Runs
   * before the body is read: it may look at the headers, the cookies and the path only.
   */
  check(request: FastifyRequest, route: RoutePermission): Promise<Principal>;
  /** What can only be checked once the body is read (an HTML form's CSRF field); throws ApiErrors. */
  checkBody?(request: FastifyRequest, principal: Principal): void;
  /** Records a change in the audit log. */
  audit(request: FastifyRequest, entry: AuditEntryInput): Promise<void>;
}

/** The signed-in user making the request; 403 for agents, job tokens and anonymous callers. */
export function userOf(principal: Principal): UserPrincipal {
  if (principal.kind !== 'user') throw new ApiError(403, 'this endpoint is for users');
  return principal;
}

export function sessionLimitsOf(ctx: ServerContext): SessionLimits {
  return { maxAgeMs: ctx.config.sessionMaxAgeSeconds * 1000, idleMs: ctx.config.sessionIdleSeconds * 1000 };
}

export function loginPolicyOf(ctx: ServerContext): LoginPolicy {
  return {
    maxFailuresPerUser: ctx.config.loginMaxFailures,
    maxFailuresPerAddress: ctx.config.loginMaxFailuresPerAddress,
    windowMs: ctx.config.loginFailureWindowSeconds * 1000,
    lockoutMs: ctx.config.loginLockoutSeconds * 1000,
  };
}

/** Whether cookies get the Secure attribute (sessionCookieSecure; auto: when externalUrl is https). */
export function secureCookies(ctx: ServerContext): boolean {
  const setting = ctx.config.sessionCookieSecure;
  return setting === 'auto' ? ctx.externalUrl.startsWith('https://') : setting === 'true';
}

/**
 * Signs a user in: a new session and its cookie on the reply. For every way of signing in (a
 * password here, single sign-on's callbacks in src/auth/sso): the caller has checked who it is.
 */
export async function startSession(
  ctx: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
  user: User,
): Promise<{ principal: UserPrincipal; csrfToken: string; expiresAt: string }> {
  const session = await createSession(ctx.store.db, {
    userId: user.id,
    address: request.ip,
    userAgent: request.headers['user-agent'] ?? null,
    now: ctx.clock.now(),
    limits: sessionLimitsOf(ctx),
  });
  reply.setCookie(SESSION_COOKIE, session.token, {
    httpOnly: true,
    secure: secureCookies(ctx),
    sameSite: ctx.config.sessionCookieSameSite,
    path: '/',
    expires: new Date(session.expiresAt),
  });
  return {
    principal: {
      kind: 'user',
      userId: user.id,
      username: user.username,
      admin: user.admin === 1,
      scopes: ['api'],
      sessionId: session.id,
      tokenId: null,
    },
    csrfToken: csrfTokenFor(session.token),
    expiresAt: new Date(session.expiresAt).toISOString(),
  };
}

function credentialsOf(request: FastifyRequest): { token: string | null; cookie: string | null } {
  const header = request.headers.authorization;
  let token: string | null = null;
  if (header) {
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new CredentialError('Authorization header: expected "Bearer <token>"');
    token = match[1];
  }
  // GitLab's way for CI_JOB_TOKEN, so scripts written for it work unchanged.
  const jobToken = request.headers['job-token'];
  if (token === null && typeof jobToken === 'string' && jobToken !== '') token = jobToken;
  return { token, cookie: request.cookies?.[SESSION_COOKIE] ?? null };
}

async function authenticate(ctx: ServerContext, request: FastifyRequest): Promise<Principal> {
  const { token, cookie } = credentialsOf(request);
  const now = ctx.clock.now();
  let principal: Principal = ANONYMOUS;
  // Agent tokens come from this replica's copy: an idle agent's renewed long-poll reads nothing.
  if (token !== null)
    principal = prefixOf(token) === 'tda' ? await ctx.agents.principal(token) : await principalOfToken(ctx.store.db, token, now);
  else if (cookie !== null) principal = await principalOfSession(ctx.store.db, cookie, now, sessionLimitsOf(ctx));
  const ldap = ctx.config.ldap;
  if (principal.kind === 'user' && ldap !== undefined) {
    const log = (detail: string) => request.log.warn({ provider: 'ldap', userId: principal.userId }, detail);
    const standing = await recheckDirectoryAccount(ctx.store, principal.userId, {
      config: ldap,
      mappings: ctx.config.groupRoles,
      now,
      log,
    });
    if (standing === 'disabled')
      throw new CredentialError('your directory account is disabled or gone: your sessions and tokens were revoked');
  }
  return principal;
}

/** The 404 a missing repository, pipeline or job gets, worded as the handlers word it. */
function notFound(route: RoutePermission, params: Record<string, string>): ApiError {
  const locator = route.repo!;
  if (locator.by === 'name') return new ApiError(404, `no repository named "${params[locator.param]}"`);
  return new ApiError(404, `no ${locator.by} ${params[locator.param]}`);
}

/**
 * Whether the principal holds a permission on a repository: for checks a handler makes on top of
 * its route's permission (an approval for a protected environment, a protected branch).
 */
export async function requirePermission(
  ctx: ServerContext,
  principal: Principal,
  permission: Permission,
  repo: { id: number; name: string },
  method = 'POST',
): Promise<void> {
  const standing =
    principal.kind === 'user' && !principal.admin
      ? await repoStanding(ctx.store.db, { by: 'name', param: 'name' }, { name: repo.name }, principal.userId)
      : { repoId: repo.id, repoName: repo.name, role: null };
  const decision = decide(permission, method, callerOf(principal), standing);
  if (!decision.allowed) throw new ApiError(decision.status, decision.message);
}

/**
 * A role on a repository, for rules whose role is data (a protected branch's allowed role); `what`
 * names the permission and the reason in the refusal.
 */
export async function requireRole(
  ctx: ServerContext,
  principal: Principal,
  repo: { id: number; name: string },
  role: Role,
  what: string,
): Promise<void> {
  if (principal.kind === 'user' && (principal.admin || roleAtLeast(await roleIn(ctx.store.db, repo.id, principal.userId), role))) return;
  throw new ApiError(403, `missing permission ${what}: it needs the ${role} role on repository ${repo.name}`);
}

/**
 * Starting a job by hand (play, retry): a deploy to a protected environment is its approval
 * (`deployment.approve`, maintainer), and a job of a pipeline on a protected branch needs the
 * branch's allowed role, since it runs with the branch's protected variables.
 */
export async function requireJobStartRights(ctx: ServerContext, principal: Principal, job: Job, permission: Permission): Promise<void> {
  const db = ctx.store.db;
  const repo = await db.selectFrom('repos').select(['id', 'name']).where('id', '=', job.repo_id).executeTakeFirstOrThrow();
  if (job.environment !== null) {
    const env = await db
      .selectFrom('environments')
      .select('protected')
      .where('repo_id', '=', repo.id)
      .where('name', '=', job.environment)
      .executeTakeFirst();
    // A deploy frozen by a spent error budget is started only by a maintainer's override.
    const frozen = await db
      .selectFrom('deploy_freezes')
      .select('id')
      .where('repo', '=', repo.name)
      .where('environment', '=', job.environment)
      .where('lifted_at', 'is', null)
      .executeTakeFirst();
    if (env?.protected === 1 || frozen) await requirePermission(ctx, principal, 'deployment.approve', repo);
  }
  await requireJobRefRole(ctx, principal, job, permission);
}

/**
 * Changing the course of a pipeline on a protected branch (cancelling it or one of its jobs,
 * retrying, playing) needs the branch's allowed role (maintainer unless set otherwise), as
 * GitLab's protected-branch rules ask: a developer may not stop a release branch's deploy.
 */
export async function requireProtectedRefRole(
  ctx: ServerContext,
  principal: Principal,
  pipeline: Pick<Pipeline, 'id' | 'repo_id' | 'ref' | 'is_tag' | 'merge_request'>,
  permission: Permission,
): Promise<void> {
  const role = await pipelineProtectedRole(ctx.store.db, pipeline);
  if (role === null) return;
  const repo = await ctx.store.db.selectFrom('repos').select(['id', 'name']).where('id', '=', pipeline.repo_id).executeTakeFirstOrThrow();
  await requireRole(ctx, principal, repo, role, `${permission} on protected branch ${pipeline.ref}`);
}

/** requireProtectedRefRole for the pipeline of a job. */
export async function requireJobRefRole(ctx: ServerContext, principal: Principal, job: Job, permission: Permission): Promise<void> {
  const pipeline = await ctx.store.db
    .selectFrom('pipelines')
    .select(['id', 'repo_id', 'ref', 'is_tag', 'merge_request'])
    .where('id', '=', job.pipeline_id)
    .executeTakeFirstOrThrow();
  await requireProtectedRefRole(ctx, principal, pipeline, permission);
}

/** The repositories a principal may see in listings; null: all of them (an admin). */
export async function visibleRepoIds(ctx: ServerContext, principal: Principal): Promise<number[] | null> {
  if (principal.kind === 'user') return principal.admin ? null : memberRepoIds(ctx.store.db, principal.userId);
  if (principal.kind === 'job') return [principal.repoId];
  return [];
}

/** A change made with the session cookie: it must carry the session's CSRF token. */
function needsCsrf(request: FastifyRequest, principal: Principal): boolean {
  return principal.kind === 'user' && principal.sessionId !== null && !SAFE_METHODS.has(request.method);
}

/** A form posted without the header carries its token in a field; a header, when given, wins. */
function isForm(request: FastifyRequest): boolean {
  return (
    typeof request.headers[CSRF_HEADER] !== 'string' && /^application\/x-www-form-urlencoded\b/i.test(request.headers['content-type'] ?? '')
  );
}

function checkCsrf(request: FastifyRequest, given: string | undefined | string[]): void {
  if (typeof given === 'string' && csrfMatches(request.cookies[SESSION_COOKIE]!, given)) return;
  throw new ApiError(
    403,
    `CSRF token missing or wrong: a change made with the session cookie needs the ${CSRF_HEADER} header from POST or GET /api/v1/session (a form: its ${CSRF_FORM_FIELD} field)`,
  );
}

export function databaseAccessControl(ctx: ServerContext): AccessControl {
  return {
    async check(request, route) {
      if (route.rule.who === 'anyone') {
        // Public pages may still show more to a signed-in caller; bad credentials just make it anonymous.
        return authenticate(ctx, request).catch(() => ANONYMOUS);
      }
      const principal = await authenticate(ctx, request);
      // HTML forms (the server's own pages) cannot set headers: theirs comes as a hidden field,
      // checked by checkBody once the body is read.
      if (needsCsrf(request, principal) && !isForm(request)) checkCsrf(request, request.headers[CSRF_HEADER]);
      const params = request.params as Record<string, string>;
      const needsStanding = route.rule.who === 'member' && ((principal.kind === 'user' && !principal.admin) || principal.kind === 'job');
      let standing = null;
      if (needsStanding) {
        try {
          standing = await repoStanding(ctx.store.db, route.repo!, params, principal.kind === 'user' ? principal.userId : null);
        } catch (err) {
          throw new ApiError(statusOf(err) ?? 400, (err as Error).message);
        }
        if (standing === null) throw notFound(route, params);
      }
      const decision = decide(route.permission, request.method, callerOf(principal), standing);
      if (!decision.allowed) throw new ApiError(decision.status, decision.message);
      return principal;
    },

    checkBody(request, principal) {
      if (needsCsrf(request, principal) && isForm(request)) checkCsrf(request, formOf(request)?.get(CSRF_FORM_FIELD) ?? undefined);
    },

    async audit(request, entry) {
      const record = {
        at: ctx.clock.now(),
        replica: ctx.replicaId,
        actor: entry.principal,
        address: request.ip,
        action: entry.action,
        method: request.method,
        route: entry.route,
        params: entry.route ? (request.params as Record<string, string>) : undefined,
        status: entry.status,
        details: entry.details,
      };
      try {
        await recordAudit(ctx.store.db, record);
      } catch (err) {
        // The change is made and committed: failing its response now would only hide that. The
        // record goes to the log instead, where an operator can still find it.
        request.log.error({ err: (err as Error).message, audit: { ...record, actor: record.actor.kind } }, 'audit record not written');
      }
    },
  };
}
