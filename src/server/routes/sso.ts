// Single sign-on: OpenID Connect and SAML (redirect flows through the browser) and LDAP (a username
// and password checked by the directory). Each ends as a password sign-in does (startSession: the
// session cookie and a CSRF token), for the Tandem account linked to the provider's identity (made
// at the first sign-in) with the roles its groups give (groupRoles). Nothing is kept in memory
// between the two halves of a redirect flow: they meet in the database (src/auth/sso/pending.ts).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { limitedSignIn } from '../../auth/login.js';
import type { Principal } from '../../auth/principal.js';
import { ldapLogin } from '../../auth/sso/ldap.js';
import { discoverOidc, type OidcClient } from '../../auth/sso/oidc.js';
import { DatabaseSamlRequests, refuseOverOidcLimit, saveOidcLogin, takeOidcLogin } from '../../auth/sso/pending.js';
import { samlFinishLogin, samlLoginUrl } from '../../auth/sso/saml.js';
import { SsoError, type ExternalIdentity, type SsoProvider } from '../../auth/sso/types.js';
import { findOrCreateExternalUser } from '../../auth/users.js';
import { userView } from '../../auth/views.js';
import type { ServerContext } from '../context.js';
import { loginPolicyOf, secureCookies, startSession } from '../auth.js';
import { ApiError, formOf, statusOf, type RouteTable } from '../http.js';
import { signInBody } from './auth.js';

export const OIDC_CALLBACK_PATH = '/api/v1/login/oidc/callback';
export const SAML_ACS_PATH = '/api/v1/login/saml/acs';
const LDAP_PATH = '/api/v1/login/ldap';
/** How long a browser may take at the OpenID provider (SAML has saml.requestTtlSeconds). */
const OIDC_LOGIN_TTL_MS = 10 * 60_000;
/**
 * Ties an OpenID Connect callback to the browser that started the login: without it, someone could
 * send a victim the callback URL of their own login and sign the victim in as themselves.
 */
const OIDC_BINDING_COOKIE = 'tandem_oidc_state';
const LOGIN_COOKIE_PATH = '/api/v1/login/';

const NAMES: Record<SsoProvider, string> = { oidc: 'OpenID Connect', ldap: 'LDAP', saml: 'SAML' };
const ANONYMOUS: Principal = { kind: 'anonymous' };

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
function logFailure(request: FastifyRequest, provider: SsoProvider, err: unknown): void {
  if (!(err instanceof SsoError)) return;
  request.log[err.reason === 'config' ? 'error' : 'warn'](
    { provider, kind: err.reason },
    `${NAMES[provider]} sign-in failed: ${err.detail}`,
  );
}

/** The last step of a sign-in: a refusal is logged as `logFailure` does and written to the audit log. */
async function finishing<T>(
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
    logFailure(request, provider, err);
    const status = statusOf(err);
    if (status !== null) {
      const details = { provider, ...(username === null ? {} : { username }), failed: (err as Error).message };
      await routes.audit(request, { principal: ANONYMOUS, action: 'session.create', route, status, details });
    }
    throw err;
  }
}

/** Signs in the person a provider vouched for; the details are for the audit record. */
async function signInExternal(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply, identity: ExternalIdentity) {
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
  return finishing(routes, request, route, 'ldap', credentials.username, async () => {
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

export function registerSsoRoutes(routes: RouteTable, ctx: ServerContext): void {
  const db = ctx.store.db;

  function configured<K extends SsoProvider>(provider: K): NonNullable<ServerContext['config'][K]> {
    const section = ctx.config[provider];
    if (!section)
      throw new ApiError(
        404,
        `${NAMES[provider]} sign-in is not configured on this server (${provider} in tandem.yml, or TANDEM_${provider.toUpperCase()})`,
      );
    return section as NonNullable<ServerContext['config'][K]>;
  }

  function redirect(reply: FastifyReply, url: string): FastifyReply {
    // A redirect that carries a login's state must not be replayed from a cache.
    reply.header('cache-control', 'no-store');
    return reply.redirect(url, 302);
  }

  // The provider's discovery document, read at the first login and again after a failure (the
  // provider may have been down when this replica started).
  let oidcClient: Promise<OidcClient> | null = null;
  function oidc(): Promise<OidcClient> {
    const config = configured('oidc');
    oidcClient ??= discoverOidc(config, { defaultRedirectUri: ctx.externalUrl + OIDC_CALLBACK_PATH }).catch((err: unknown) => {
      oidcClient = null;
      if (!(err instanceof SsoError)) throw err;
      // The discovery error names the provider's URL and what went wrong: for the log only.
      const message =
        err.reason === 'unavailable'
          ? 'the identity provider cannot be reached'
          : 'OpenID Connect sign-in is misconfigured: the server log says why';
      throw new SsoError(err.reason, message, err.detail, { cause: err });
    });
    return oidcClient;
  }

  routes.add({
    method: 'GET',
    url: '/api/v1/login/providers',
    summary: 'The ways of signing in this server offers (for the sign-in page): local passwords, OpenID Connect, LDAP, SAML',
    tag: 'auth',
    access: 'public',
    async handler() {
      return loginProviders(ctx);
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/login/oidc',
    summary: 'Start an OpenID Connect sign-in: redirects to the provider (?return=/path: where to go once signed in)',
    tag: 'auth',
    access: 'public',
    async handler({ request, reply, query }) {
      configured('oidc');
      const returnTo = safeReturnPath(query.return);
      await refuseOverOidcLimit(db, request.ip, ctx.clock.now());
      try {
        const start = await (await oidc()).beginLogin();
        await saveOidcLogin(db, { ...start, returnTo }, { now: ctx.clock.now(), ttlMs: OIDC_LOGIN_TTL_MS, address: request.ip });
        // Lax: the provider sends the browser back with a top-level GET from its own site.
        reply.setCookie(OIDC_BINDING_COOKIE, start.state, {
          httpOnly: true,
          secure: secureCookies(ctx),
          sameSite: 'lax',
          path: LOGIN_COOKIE_PATH,
          maxAge: OIDC_LOGIN_TTL_MS / 1000,
        });
        return redirect(reply, start.url);
      } catch (err) {
        logFailure(request, 'oidc', err);
        throw err;
      }
    },
  });

  routes.add({
    method: 'GET',
    url: OIDC_CALLBACK_PATH,
    summary: 'Where the OpenID provider sends the browser back: signs in (session cookie) and redirects to the return path',
    tag: 'auth',
    access: 'public',
    async handler({ request, reply, query }) {
      configured('oidc');
      return finishing(routes, request, OIDC_CALLBACK_PATH, 'oidc', null, async () => {
        const client = await oidc();
        const state = query.state ?? '';
        const bound = request.cookies[OIDC_BINDING_COOKIE];
        reply.clearCookie(OIDC_BINDING_COOKIE, { path: LOGIN_COOKIE_PATH });
        const again = 'the login could not be verified: start it again';
        if (state === '' || bound !== state) {
          throw new SsoError(
            'refused',
            again,
            `the callback's state is not the one this browser's login started with (the cookie ${OIDC_BINDING_COOKIE} is ${bound === undefined ? 'missing' : 'another'})`,
          );
        }
        const pending = await takeOidcLogin(db, state, ctx.clock.now());
        if (!pending)
          throw new SsoError('refused', again, 'no login is waiting for this state: it is unknown, was used already, or expired');
        // The registered redirect URI with the query the provider sent (a proxy may have rewritten the host).
        const callback = new URL(client.redirectUri);
        callback.search = new URL(request.url, 'http://callback.invalid').search;
        const { session, details } = await signInExternal(ctx, request, reply, await client.finishLogin(callback, pending));
        // GET routes are not audited by the route layer; a sign-in is.
        await routes.audit(request, {
          principal: session.principal,
          action: 'session.create',
          route: OIDC_CALLBACK_PATH,
          status: 302,
          details,
        });
        return redirect(reply, pending.returnTo);
      });
    },
  });

  routes.add({
    method: 'POST',
    url: LDAP_PATH,
    summary:
      'Sign in with a username and password checked by the LDAP directory: sets the session cookie and returns the CSRF token, as POST /api/v1/session does',
    tag: 'auth',
    access: 'public',
    body: signInBody,
    async handler({ request, reply, body, audit }) {
      configured('ldap');
      const { user, session, details } = await ldapSignIn(ctx, routes, request, reply, LDAP_PATH, body);
      audit(details, session.principal);
      reply.code(201);
      return { user: userView(user), csrfToken: session.csrfToken, expiresAt: session.expiresAt };
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/login/saml',
    summary: 'Start a SAML sign-in: redirects to the identity provider (?return=/path: where to go once signed in)',
    tag: 'auth',
    access: 'public',
    async handler({ request, reply, query }) {
      const config = configured('saml');
      const returnTo = safeReturnPath(query.return);
      const requests = new DatabaseSamlRequests(db, {
        ttlMs: config.requestTtlSeconds * 1000,
        now: () => ctx.clock.now(),
        returnTo,
        address: request.ip,
      });
      await requests.refuseOverLimit();
      try {
        // The return path stays in the database with the request: nothing the browser posts back decides it.
        return redirect(reply, await samlLoginUrl(config, '', requests));
      } catch (err) {
        logFailure(request, 'saml', err);
        throw err;
      }
    },
  });

  routes.add({
    method: 'POST',
    url: SAML_ACS_PATH,
    summary:
      "The SAML assertion consumer (the identity provider's HTTP-POST form): signs in (session cookie) and redirects to the return path",
    tag: 'auth',
    access: 'public',
    // A signed response with its certificate and many group attributes, base64 in a form field.
    bodyLimit: 1024 * 1024,
    async handler({ request, reply, audit }) {
      const config = configured('saml');
      return finishing(routes, request, SAML_ACS_PATH, 'saml', null, async () => {
        const form = formOf(request);
        if (!form)
          throw new SsoError(
            'refused',
            'expected the form (application/x-www-form-urlencoded) the identity provider has the browser post',
            `a ${request.headers['content-type'] ?? 'body without a content type'} was posted`,
          );
        const requests = new DatabaseSamlRequests(db, { ttlMs: config.requestTtlSeconds * 1000, now: () => ctx.clock.now() });
        const identity = await samlFinishLogin(config, { SAMLResponse: form.get('SAMLResponse') ?? '' }, requests);
        const { session, details } = await signInExternal(ctx, request, reply, identity);
        audit(details, session.principal);
        return redirect(reply, requests.returnTo ?? '/');
      });
    },
  });
}
