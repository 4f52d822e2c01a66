// The sign-in page: a form for a local password (signed in by the same code as POST /api/v1/session,
// lockouts included) and the single sign-on providers' buttons, each returning to where the
// browser was going (the device page of `tandem login --web`, for one).
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { LoginError } from '../../auth/login.js';
import type { ServerContext } from '../context.js';
import { secureCookies } from '../auth.js';
import { ApiError, formOf, type RouteTable } from '../http.js';
import { localSignIn } from './auth.js';
import { escape, sendPage } from './html.js';
import { loginProviders, safeReturnPath } from './sso.js';

/**
 * Ties a posted sign-in form to a page this server served to the same browser (a double-submit
 * cookie): without it another site could post its own credentials and sign a visitor in as itself,
 * so that what they do next (approving their device) lands in someone else's account.
 */
const FORM_COOKIE = 'tandem_login_form';
const FORM_FIELD = 'form_token';

/** The sign-in forms, returning to `returnTo` (a path on this server) once signed in. */
export function signInSection(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply, returnTo: string, opts: { error?: string; username?: string } = {}): string {
  let formToken = request.cookies[FORM_COOKIE];
  if (!formToken || !/^[\w-]{32}$/.test(formToken)) {
    formToken = randomBytes(24).toString('base64url');
    reply.setCookie(FORM_COOKIE, formToken, { httpOnly: true, secure: secureCookies(ctx), sameSite: 'strict', path: '/login' });
  }
  const back = encodeURIComponent(returnTo);
  const providers = loginProviders(ctx);
  const sso = [
    providers.oidc ? `<a class="button" href="/api/v1/login/oidc?return=${back}">Sign in with OpenID Connect</a>` : '',
    providers.saml ? `<a class="button" href="/api/v1/login/saml?return=${back}">Sign in with SAML</a>` : '',
  ].filter(Boolean);
  return `${opts.error ? `<p class="error">${escape(opts.error)}</p>` : ''}
<form method="post" action="/login">
<input type="hidden" name="${FORM_FIELD}" value="${escape(formToken)}"><input type="hidden" name="return" value="${escape(returnTo)}">
<label>Username <input name="username" autocomplete="username" required value="${escape(opts.username ?? '')}"></label>
<label>Password <input type="password" name="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>
${sso.length > 0 ? `<p>Or: ${sso.join(' ')}</p>` : ''}`;
}

export function registerLoginPageRoutes(routes: RouteTable, ctx: ServerContext): void {
  routes.add({
    method: 'GET',
    url: '/login',
    summary: 'The sign-in page (HTML): a local password or a single sign-on provider; ?return=/path: where to go once signed in',
    tag: 'auth',
    access: 'public',
    produces: 'text/html',
    async handler({ request, reply, query }) {
      return sendPage(reply, 200, 'Sign in to Tandem', signInSection(ctx, request, reply, safeReturnPath(query.return)));
    },
  });

  routes.add({
    method: 'POST',
    url: '/login',
    summary: "The sign-in page's form (username, password, return): signs in as POST /api/v1/session does and redirects to the return path",
    tag: 'auth',
    access: 'public',
    produces: 'text/html',
    async handler({ request, reply, audit }) {
      const form = formOf(request);
      if (!form) throw new ApiError(415, 'expected the sign-in form (application/x-www-form-urlencoded: username, password, return, form_token)');
      const returnTo = safeReturnPath(form.get('return') ?? undefined);
      const username = form.get('username') ?? '';
      const password = form.get('password') ?? '';
      const again = (status: number, error: string) => sendPage(reply, status, 'Sign in to Tandem', signInSection(ctx, request, reply, returnTo, { error, username }));
      const formToken = form.get(FORM_FIELD);
      if (!formToken || formToken !== request.cookies[FORM_COOKIE]) return again(403, 'This sign-in form was not served to this browser (or it expired): sign in again here.');
      if (username === '' || password === '') return again(422, 'Give a username and a password.');
      try {
        const { session } = await localSignIn(ctx, routes, request, reply, '/login', { username, password });
        audit({ sessionId: session.principal.sessionId }, session.principal);
      } catch (err) {
        if (!(err instanceof LoginError)) throw err;
        if (err.retryAfterSeconds !== undefined) reply.header('retry-after', String(err.retryAfterSeconds));
        return again(err.statusCode, `Not signed in: ${err.message}.`);
      }
      reply.header('cache-control', 'no-store');
      return reply.redirect(returnTo, 303);
    },
  });
}
