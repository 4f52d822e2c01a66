// Users, sessions, personal tokens, repository members, protected branches and the audit log.
import { z } from 'zod';
import { queryAudit } from '../../auth/index.js';
import { LoginError, passwordLogin } from '../../auth/index.js';
import { ROLES, SCOPES } from '../../auth/index.js';
import {
  listMembers,
  listProtectedBranches,
  protectBranches,
  removeMember,
  roleIn,
  setMember,
  unprotectBranches,
} from '../../auth/index.js';
import { csrfTokenFor, deleteSession, deleteSessionsOf, SESSION_COOKIE } from '../../auth/index.js';
import { createPersonalToken, listTokens, revokePersonalToken } from '../../auth/index.js';
import {
  createUser,
  deleteUser,
  findUser,
  hasExternalIdentity,
  listUsers,
  setAdmin,
  setPassword,
  USERNAME_PATTERN,
  USERNAME_RULE,
} from '../../auth/index.js';
import { auditView, protectedBranchView, userView } from '../presenters.js';
import { requireRepo } from '../../repos/index.js';
import type { ServerContext } from '../context.js';
import { loginPolicyOf, userOf } from '../auth.js';
import { ApiError, type RouteTable } from '../http.js';
import { pageParams } from '../query.js';
import { localSignIn, passwordInput, signInBody } from '../sign-in.js';

const username = z.string().regex(USERNAME_PATTERN, USERNAME_RULE);
const MAX_AUDIT_PAGE = 1000;
/** Routes of signed-in users (USER rules) are never reached by other principals; this narrows the type. */
function timeParam(value: string | undefined, what: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) throw new ApiError(400, `${what}: expected an ISO 8601 time or epoch milliseconds, got "${value}"`);
  return ms;
}

export function registerAuthRoutes(routes: RouteTable, ctx: ServerContext): void {
  const db = ctx.store.db;
  const minLength = () => ctx.config.passwordMinLength;

  // ---- Sessions ----

  routes.add({
    method: 'POST',
    url: '/api/v1/session',
    summary: 'Sign in with a username and password: sets the session cookie and returns the CSRF token for changes',
    tag: 'auth',
    access: 'public',
    body: signInBody,
    async handler({ body, request, reply, audit }) {
      const { user, session } = await localSignIn(ctx, routes, request, reply, '/api/v1/session', body);
      audit({ sessionId: session.principal.sessionId }, session.principal);
      reply.code(201);
      return { user: userView(user), csrfToken: session.csrfToken, expiresAt: session.expiresAt };
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/session',
    summary: 'Who is signed in (by session or token), with the CSRF token of a session',
    tag: 'auth',
    access: 'user',
    async handler({ principal, request }) {
      const me = userOf(principal);
      const user = await findUser(db, me.username);
      const cookie = request.cookies[SESSION_COOKIE];
      return {
        user: userView(user),
        via: me.sessionId !== null ? 'session' : 'token',
        scopes: me.scopes,
        tokenId: me.tokenId,
        csrfToken: me.sessionId !== null && cookie ? csrfTokenFor(cookie) : null,
      };
    },
  });

  routes.add({
    method: 'DELETE',
    url: '/api/v1/session',
    summary: 'Sign out: the session ends on every replica',
    tag: 'auth',
    access: 'user',
    async handler({ principal, reply }) {
      const me = userOf(principal);
      if (me.sessionId === null)
        throw new ApiError(409, 'signed in with a token, not a session: revoke the token with DELETE /api/v1/tokens/:id');
      await deleteSession(db, me.sessionId);
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      reply.code(204);
      return null;
    },
  });

  // ---- Users ----

  routes.add({
    method: 'POST',
    url: '/api/v1/users',
    summary: 'Create a local user (a password is optional: users of identity providers need none)',
    tag: 'auth',
    access: 'user',
    body: z
      .object({
        username,
        password: passwordInput.optional(),
        email: z.string().email().max(254).nullable().optional(),
        admin: z.boolean().optional(),
      })
      .strict(),
    async handler({ body, reply, audit }) {
      const user = await createUser(db, { ...body, now: ctx.clock.now(), passwordMinLength: minLength() });
      audit({ username: user.username, admin: user.admin === 1 });
      reply.code(201);
      return userView(user);
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/users',
    summary: 'List users',
    tag: 'auth',
    access: 'user',
    async handler() {
      return (await listUsers(db)).map(userView);
    },
  });

  routes.add({
    method: 'PATCH',
    url: '/api/v1/users/:username',
    summary: 'Make a user an instance administrator or not',
    tag: 'auth',
    access: 'user',
    body: z.object({ admin: z.boolean() }).strict(),
    async handler({ params, body, audit }) {
      const user = await setAdmin(ctx.store, params.username, body.admin, ctx.clock.now());
      audit({ username: user.username, admin: body.admin });
      return userView(user);
    },
  });

  routes.add({
    method: 'DELETE',
    url: '/api/v1/users/:username',
    summary: 'Delete a user with their sessions, tokens and memberships',
    tag: 'auth',
    access: 'user',
    async handler({ params, reply, audit }) {
      await deleteUser(ctx.store, params.username);
      audit({ username: params.username });
      reply.code(204);
      return null;
    },
  });

  routes.add({
    method: 'PUT',
    url: '/api/v1/users/:username/password',
    summary:
      "Set a password: your own (with the current one, when you have one; an account linked to an identity provider sets no first one itself), or anyone's as an admin; signs the user out elsewhere",
    tag: 'auth',
    access: 'user',
    body: z.object({ password: passwordInput, currentPassword: passwordInput.optional() }).strict(),
    async handler({ principal, params, body, request, reply, audit }) {
      const me = userOf(principal);
      const user = await findUser(db, params.username);
      const own = user.id === me.userId;
      if (!own && !me.admin)
        throw new ApiError(403, `missing permission user.password: changing ${user.username}'s password needs an instance administrator`);
      // A session or token of an account a provider vouches for does not prove who holds it now (it
      // may outlive the person's place in the directory): such an account sets no first local password itself.
      if (own && user.password_hash === null && (await hasExternalIdentity(db, user.id))) {
        throw new ApiError(
          403,
          `${user.username} signs in through an identity provider and has no local password: an instance administrator can set one`,
        );
      }
      if (own && user.password_hash !== null) {
        if (body.currentPassword === undefined) throw new ApiError(422, 'currentPassword: required to change your own password');
        // Through the sign-in check, so guessing the current password is limited like any sign-in.
        try {
          await passwordLogin(ctx.store, {
            username: user.username,
            password: body.currentPassword,
            address: request.ip,
            now: ctx.clock.now(),
            policy: loginPolicyOf(ctx),
          });
        } catch (err) {
          // The caller is signed in: a wrong current password is not a failed authentication of this request.
          if (err instanceof LoginError && err.kind === 'unauthenticated') throw new ApiError(403, 'currentPassword: wrong password');
          throw err;
        }
      }
      await setPassword(db, user, body.password, { now: ctx.clock.now(), passwordMinLength: minLength() });
      await deleteSessionsOf(db, user.id, own ? (me.sessionId ?? undefined) : undefined);
      audit({ username: user.username });
      reply.code(204);
      return null;
    },
  });

  // ---- Personal tokens ----

  routes.add({
    method: 'POST',
    url: '/api/v1/tokens',
    summary:
      'Create a personal token (shown once). Scopes: api, read_api, register_agent (admins: an agent registration token); admins may create one for another user',
    tag: 'auth',
    access: 'user',
    body: z
      .object({
        name: z.string().min(1).max(100),
        scopes: z.array(z.enum(SCOPES)).min(1).default(['api']),
        expiresAt: z.iso.datetime({ offset: true }).nullable().optional(),
        username: username.optional(),
      })
      .strict(),
    async handler({ principal, body, reply, audit }) {
      const me = userOf(principal);
      const now = ctx.clock.now();
      const owner = body.username === undefined || body.username === me.username ? await findUser(db, me.username) : null;
      if (owner === null && !me.admin)
        throw new ApiError(403, 'missing permission token.create: a token for another user needs an instance administrator');
      const user = owner ?? (await findUser(db, body.username!));
      if (body.scopes.includes('register_agent') && user.admin !== 1)
        throw new ApiError(403, 'missing permission agent.register: scope register_agent is for tokens of instance administrators');
      const expiresAt = body.expiresAt ? Date.parse(body.expiresAt) : null;
      if (expiresAt !== null && expiresAt <= now) throw new ApiError(422, `expiresAt: ${body.expiresAt} is in the past`);
      const created = await createPersonalToken(db, { userId: user.id, name: body.name, scopes: body.scopes, expiresAt, now });
      audit({ tokenId: created.id, name: body.name, username: user.username, scopes: body.scopes, expiresAt: body.expiresAt ?? null });
      reply.code(201);
      return {
        id: created.id,
        name: body.name,
        username: user.username,
        scopes: body.scopes,
        expiresAt: expiresAt === null ? null : new Date(expiresAt).toISOString(),
        token: created.token,
      };
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/tokens',
    summary: 'Your personal tokens (admins: ?username=NAME, or ?all=true)',
    tag: 'auth',
    access: 'user',
    async handler({ principal, query }) {
      const me = userOf(principal);
      const now = ctx.clock.now();
      if (query.all === 'true' || (query.username !== undefined && query.username !== me.username)) {
        if (!me.admin) throw new ApiError(403, "missing permission token.list: other users' tokens need an instance administrator");
        if (query.all === 'true') return listTokens(db, { now });
        return listTokens(db, { userId: (await findUser(db, query.username!)).id, now });
      }
      return listTokens(db, { userId: me.userId, now });
    },
  });

  routes.add({
    method: 'DELETE',
    url: '/api/v1/tokens/:id',
    summary: 'Revoke a personal token (yours, or anyone’s as an admin): refused on every replica from the next request',
    tag: 'auth',
    access: 'user',
    async handler({ principal, params, reply, audit }) {
      const me = userOf(principal);
      const id = Number(params.id);
      // Another user's token is "not found" to a non-admin, so ids tell nothing about others' tokens.
      const token = await revokePersonalToken(db, { tokenId: id, userId: me.userId, asAdmin: me.admin });
      if (!token) throw new ApiError(404, `no token ${params.id} of yours`);
      audit({ tokenId: token.id, name: token.name });
      reply.code(204);
      return null;
    },
  });

  // ---- Members ----

  routes.add({
    method: 'GET',
    url: '/api/v1/repos/:name/members',
    summary: 'Members of a repository and their roles',
    tag: 'members',
    access: 'user',
    async handler({ params }) {
      return listMembers(db, (await requireRepo(ctx.store, params.name)).id);
    },
  });

  routes.add({
    method: 'PUT',
    url: '/api/v1/repos/:name/members/:username',
    summary: 'Give a user a role on a repository: guest, reporter, developer, maintainer or owner (owner: by owners only)',
    tag: 'members',
    access: 'user',
    body: z.object({ role: z.enum(ROLES) }).strict(),
    async handler({ principal, params, body, audit }) {
      const me = userOf(principal);
      const repo = await requireRepo(ctx.store, params.name);
      const by = { admin: me.admin, role: me.admin ? null : await roleIn(db, repo.id, me.userId) };
      const { previous } = await setMember(ctx.store, {
        repoId: repo.id,
        username: params.username,
        role: body.role,
        by,
        now: ctx.clock.now(),
      });
      audit({ username: params.username, role: body.role, previous });
      return { username: params.username, role: body.role };
    },
  });

  routes.add({
    method: 'DELETE',
    url: '/api/v1/repos/:name/members/:username',
    summary: 'Take a user’s role on a repository away',
    tag: 'members',
    access: 'user',
    async handler({ principal, params, reply, audit }) {
      const me = userOf(principal);
      const repo = await requireRepo(ctx.store, params.name);
      const by = { admin: me.admin, role: me.admin ? null : await roleIn(db, repo.id, me.userId) };
      const { previous } = await removeMember(ctx.store, { repoId: repo.id, username: params.username, by });
      audit({ username: params.username, previous });
      reply.code(204);
      return null;
    },
  });

  // ---- Protected branches ----

  routes.add({
    method: 'GET',
    url: '/api/v1/repos/:name/protected-branches',
    summary:
      'Protected branch patterns: their pipelines see protected variables; running pipelines and manual jobs on them needs the allowed role',
    tag: 'members',
    access: 'user',
    async handler({ params }) {
      return (await listProtectedBranches(db, (await requireRepo(ctx.store, params.name)).id)).map(protectedBranchView);
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/repos/:name/protected-branches',
    summary: 'Protect branches by name or glob (release/*); allowedRole: developer, maintainer (default) or owner',
    tag: 'members',
    access: 'user',
    body: z
      .object({ pattern: z.string().min(1).max(200), allowedRole: z.enum(['developer', 'maintainer', 'owner']).default('maintainer') })
      .strict(),
    async handler({ params, body, reply, audit }) {
      const repo = await requireRepo(ctx.store, params.name);
      const row = await protectBranches(db, {
        repoId: repo.id,
        pattern: body.pattern,
        allowedRole: body.allowedRole,
        now: ctx.clock.now(),
      });
      audit({ pattern: body.pattern, allowedRole: body.allowedRole });
      reply.code(201);
      return protectedBranchView(row);
    },
  });

  routes.add({
    method: 'DELETE',
    url: '/api/v1/repos/:name/protected-branches/:id',
    summary: 'Unprotect branches (by the id of their pattern)',
    tag: 'members',
    access: 'user',
    async handler({ params, reply, audit }) {
      const repo = await requireRepo(ctx.store, params.name);
      const id = Number(params.id);
      const pattern = await unprotectBranches(db, { repoId: repo.id, patternId: id });
      if (pattern === undefined) throw new ApiError(404, `${repo.name} has no protected branch pattern ${params.id}`);
      audit({ pattern });
      reply.code(204);
      return null;
    },
  });

  // ---- Audit ----

  routes.add({
    method: 'GET',
    url: '/api/v1/audit',
    summary: 'The audit log, newest first: ?actor=USERNAME&action=PERMISSION&since=&until= (ISO 8601 or epoch ms)&limit=&before=ID',
    tag: 'auth',
    access: 'user',
    async handler({ query }) {
      const { limit, before } = pageParams(query, { fallback: 100, max: MAX_AUDIT_PAGE });
      const entries = await queryAudit(db, {
        actor: query.actor || undefined,
        action: query.action || undefined,
        since: timeParam(query.since, 'since'),
        until: timeParam(query.until, 'until'),
        before,
        limit,
      });
      return entries.map(auditView);
    },
  });
}
