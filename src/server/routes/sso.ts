// Single sign-on: OpenID Connect and SAML (redirect flows through the browser) and LDAP (a username
// and password checked by the directory). Each ends as a password sign-in does (startSession: the
// session cookie and a CSRF token), for the Tandem account linked to the provider's identity (made
// at the first sign-in) with the roles its groups give (groupRoles). Nothing is kept in memory
// between the two halves of a redirect flow: they meet in the database (src/auth/sso/pending.ts).
import type { FastifyReply } from 'fastify';
import { discoverOidc, type OidcClient } from '../../auth/index.js';
import { DatabaseSamlRequests, refuseOverOidcLimit, saveOidcLogin, takeOidcLogin } from '../../auth/index.js';
import { samlFinishLogin, samlLoginUrl } from '../../auth/index.js';
import { SsoError, type SsoProvider } from '../../auth/index.js';
import { userView } from '../presenters.js';
import type { ServerContext } from '../context.js';
import { secureCookies } from '../auth.js';
import { ApiError, formOf, type RouteTable } from '../http.js';
import {
  logSsoFailure,
  finishingSignIn,
  ldapSignIn,
  loginProviders,
  PROVIDER_NAMES,
  safeReturnPath,
  signInBody,
  signInExternal,
} from '../sign-in.js';

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

export function registerSsoRoutes(routes: RouteTable, ctx: ServerContext): void {
  const db = ctx.store.db;

  function configured<K extends SsoProvider>(provider: K): NonNullable<ServerContext['config'][K]> {
    const section = ctx.config[provider];
    if (!section)
      throw new ApiError(
        404,
        `${PROVIDER_NAMES[provider]} sign-in is not configured on this server (${provider} in tandem.yml, or TANDEM_${provider.toUpperCase()})`,
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
        logSsoFailure(request, 'oidc', err);
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
      return finishingSignIn(routes, request, OIDC_CALLBACK_PATH, 'oidc', null, async () => {
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
        logSsoFailure(request, 'saml', err);
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
      return finishingSignIn(routes, request, SAML_ACS_PATH, 'saml', null, async () => {
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
