// Signing in, shared by the API's sign-in routes (a password, LDAP, OpenID Connect, SAML) and the
// sign-in page: what a username and password sign-in sends, where a browser may return to, the
// sign-ins themselves with their lockouts and audit records of refusals, and the session they end in.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { limitedSignIn, localPasswordSignIn, LoginError } from '../auth/index.js';
import { MAX_PASSWORD_LENGTH } from '../auth/index.js';
import { ANONYMOUS } from '../auth/index.js';
import { ldapLogin } from '../auth/index.js';
import { SsoError, type ExternalIdentity, type SsoProvider } from '../auth/index.js';
import { findOrCreateExternalUser } from '../auth/index.js';
import type { User } from '../store/index.js';
import { loginPolicyOf, startSession } from './auth.js';
import type { ServerContext } from './context.js';
import { ApiError, STATUS_OF_KIND, statusOf, type RouteTable } from './http.js';

/** Control characters (NUL, line breaks, escapes) have no place in a name or a password: refused before any lookup. */
const withoutControls = (s: string) => !/\p{Cc}/u.test(s);
const NO_CONTROLS = 'must not contain control characters (NUL, tab, line breaks, escapes)';
// Long enough for any policy; longer ones are refused before hashing (argon2 reads every byte).
export const passwordInput = z
  .string()
  .min(1)
  .max(MAX_PASSWORD_LENGTH * 4)
  .refine(withoutControls, NO_CONTROLS);

/** What a sign-in with a username and password sends: locally, or to be checked by an LDAP directory. */
export const signInBody = z
  .object({ username: z.string().min(1).max(64).refine(withoutControls, NO_CONTROLS), password: passwordInput })
  .strict();

export const PROVIDER_NAMES: Record<SsoProvider, string> = { oidc: 'OpenID Connect', ldap: 'LDAP', saml: 'SAML' };

/**
 * Where a browser may be sent once signed in: a path on this server (default `/`). Anything that a
 * browser could read as another origin (`//host`, `/\host`, a scheme, control characters) is refused,
 * so a login link can never redirect to a look-alike site.
 */
export function safeReturnPath(value: unknown): string {
  if (value === undefined || value === '') return '/';
  const refuse = (why: string) => new ApiError(400, `return: ${why}; expected a path on this server such as /repos/web`);
  if (typeof value !== 'string') throw refuse('given more than once');
  if (value.length > 2048) throw refuse('longer than 2048 characters');
  // Browsers treat a backslash as a slash and drop tabs and newlines: `/\evil.example` is `//evil.example`.
  const unsafeCharacter = [...value].some((c) => c === '\\' || c.charCodeAt(0) <= 0x20 || c.charCodeAt(0) === 0x7f);
  if (!value.startsWith('/') || value.startsWith('//') || unsafeCharacter) throw refuse('not a path on this server');
  const base = 'http://tandem.invalid';
  const parsed = new URL(value, base);
  if (parsed.origin !== base) throw refuse('not a path on this server');
  return value;
}

/** The ways of signing in this server offers, for sign-in pages (the API's and the HTML one). */
export function loginProviders(ctx: ServerContext): { local: true; oidc: boolean; ldap: boolean; saml: boolean } {
  return { local: true, oidc: ctx.config.oidc !== undefined, ldap: ctx.config.ldap !== undefined, saml: ctx.config.saml !== undefined };
}

/** An SsoError as the log sees it (its detail, which may name accounts); the client sees its message. */
export function logSsoFailure(request: FastifyRequest, provider: SsoProvider, err: unknown): void {
  if (!(err instanceof SsoError)) return;
  request.log[err.reason === 'config' ? 'error' : 'warn'](
    { provider, kind: err.reason },
    `${PROVIDER_NAMES[provider]} sign-in failed: ${err.detail}`,
  );
}

/** The last step of a sign-in: a refusal is logged as `logSsoFailure` does and written to the audit log. */
export async function finishingSignIn<T>(
  routes: RouteTable,
  request: FastifyRequest,
  route: string,
  provider: SsoProvider,
  username: string | null,
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await run();
  } catch (err) {
    logSsoFailure(request, provider, err);
    const status = statusOf(err);
    if (status !== null) {
      const details = { provider, ...(username === null ? {} : { username }), failed: (err as Error).message };
      await routes.audit(request, { principal: ANONYMOUS, action: 'session.create', route, status, details });
    }
    throw err;
  }
}

/** Signs in the person a provider vouched for; the details are for the audit record. */
export async function signInExternal(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply, identity: ExternalIdentity) {
  const { user, created, warnings } = await findOrCreateExternalUser(ctx.store, identity, ctx.config.groupRoles, ctx.clock.now());
  for (const warning of warnings) request.log.warn({ provider: identity.provider }, warning);
  const session = await startSession(ctx, request, reply, user);
  const details = { provider: identity.provider, sessionId: session.principal.sessionId, ...(created ? { created: true } : {}) };
  return { user, session, details };
}

/**
 * A sign-in with a directory password, for POST /api/v1/login/ldap and the sign-in page's form: the
 * lockout rules (counted under the normalised name and the entry it resolved to), the audit record
 * of a refusal, then the session cookie on the reply. LDAP must be configured.
 */
export async function ldapSignIn(
  ctx: ServerContext,
  routes: RouteTable,
  request: FastifyRequest,
  reply: FastifyReply,
  route: string,
  credentials: { username: string; password: string },
) {
  const config = ctx.config.ldap;
  if (!config) throw new ApiError(404, 'LDAP sign-in is not configured on this server');
  return finishingSignIn(routes, request, route, 'ldap', credentials.username, async () => {
    const attempt = {
      username: credentials.username,
      address: request.ip,
      now: ctx.clock.now(),
      policy: loginPolicyOf(ctx),
      secret: 'ldap' as const,
    };
    const identity = await limitedSignIn(ctx.store, attempt, async (username, resolved) => {
      try {
        return await ldapLogin(config, username, credentials.password, { resolved });
      } catch (err) {
        if (!(err instanceof SsoError && err.reason === 'credentials')) throw err;
        request.log.warn({ provider: 'ldap' }, `LDAP sign-in failed: ${err.detail}`);
        return null;
      }
    });
    return signInExternal(ctx, request, reply, identity);
  });
}

/**
 * A sign-in with a local password, for POST /api/v1/session and the sign-in page's POST /login: the
 * lockout rules, the audit record of a refusal (the route layer records only successes; the caller
 * records the success), then the session cookie on the reply.
 */
export async function localSignIn(
  ctx: ServerContext,
  routes: RouteTable,
  request: FastifyRequest,
  reply: FastifyReply,
  route: string,
  credentials: { username: string; password: string },
) {
  let user: User;
  try {
    user = await localPasswordSignIn(ctx.store, { ...credentials, address: request.ip, now: ctx.clock.now(), policy: loginPolicyOf(ctx) });
  } catch (err) {
    if (err instanceof LoginError) {
      const details = { username: credentials.username, failed: err.message };
      await routes.audit(request, { principal: ANONYMOUS, action: 'session.create', route, status: STATUS_OF_KIND[err.kind], details });
    }
    throw err;
  }
  return { user, session: await startSession(ctx, request, reply, user) };
}
