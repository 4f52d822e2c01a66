// The sign-in page: a form for a password, local or (when LDAP is configured, and then by default)
// the directory's, signed in by the same code as POST /api/v1/session or /api/v1/login/ldap,
// lockouts included, and the single sign-on providers' buttons, each returning to where the
// browser was going (the device page of `tandem login --web`, for one). A directory user signs in
// with the directory's password here, so it never counts against a local password, nor the reverse.
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { LoginError } from '../../auth/login.js';
import { SsoError } from '../../auth/sso/types.js';
import type { ServerContext } from '../context.js';
import { secureCookies } from '../auth.js';
import { ApiError, formOf, STATUS_OF_KIND, type RouteTable } from '../http.js';
import { localSignIn, signInBody } from './auth.js';
import { escape, sendPage } from './html.js';
import { ldapSignIn, loginProviders, safeReturnPath } from './sso.js';

/**
 * Ties a posted sign-in form to a page this server served to the same browser (a double-submit
 * cookie): without it another site could post its own credentials and sign a visitor in as itself,
 * so that what they do next (approving their device) lands in someone else's account.
 */
const FORM_COOKIE = 'tandem_login_form';
const FORM_FIELD = 'form_token';

/** The sign-in forms, returning to `returnTo` (a path on this server) once signed in. */
export function signInSection(
  ctx: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
  returnTo: string,
  opts: { error?: string; username?: string; provider?: 'local' | 'ldap' } = {},
): string {
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
${providers.ldap ? `<label>Account <select name="provider"><option value="ldap"${opts.provider === 'local' ? '' : ' selected'}>Directory (LDAP)</option><option value="local"${opts.provider === 'local' ? ' selected' : ''}>Tandem (local password)</option></select></label>\n` : ''}<button type="submit">Sign in</button>
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
    summary:
      "The sign-in page's form (username, password, provider local or ldap, return): signs in as POST /api/v1/session or /api/v1/login/ldap does and redirects to the return path",
    tag: 'auth',
    access: 'public',
    produces: 'text/html',
    async handler({ request, reply, audit }) {
      const form = formOf(request);
      if (!form)
        throw new ApiError(415, 'expected the sign-in form (application/x-www-form-urlencoded: username, password, return, form_token)');
      const returnTo = safeReturnPath(form.get('return') ?? undefined);
      const username = form.get('username') ?? '';
      const password = form.get('password') ?? '';
      const provider = form.get('provider') === 'local' || !loginProviders(ctx).ldap ? 'local' : 'ldap';
      const shown = [...username].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f) ? '' : username;
      const again = (status: number, error: string) =>
        sendPage(reply, status, 'Sign in to Tandem', signInSection(ctx, request, reply, returnTo, { error, username: shown, provider }));
      const formToken = form.get(FORM_FIELD);
      if (!formToken || formToken !== request.cookies[FORM_COOKIE])
        return again(403, 'This sign-in form was not served to this browser (or it expired): sign in again here.');
      if (username === '' || password === '') return again(422, 'Give a username and a password.');
      const credentials = signInBody.safeParse({ username, password });
      if (!credentials.success)
        return again(422, `Not signed in: ${credentials.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}.`);
      try {
        const signIn = provider === 'ldap' ? ldapSignIn : localSignIn;
        const { session } = await signIn(ctx, routes, request, reply, '/login', credentials.data);
        audit({ sessionId: session.principal.sessionId, ...(provider === 'ldap' ? { provider } : {}) }, session.principal);
      } catch (err) {
        if (err instanceof ApiError) return again(err.statusCode, `Not signed in: ${err.message}.`);
        if (err instanceof SsoError) return again(STATUS_OF_KIND[err.kind], `Not signed in: ${err.message}.`);
        if (!(err instanceof LoginError)) throw err;
        if (err.retryAfterSeconds !== undefined) reply.header('retry-after', String(err.retryAfterSeconds));
        return again(STATUS_OF_KIND[err.kind], `Not signed in: ${err.message}.`);
      }
      reply.header('cache-control', 'no-store');
      return reply.redirect(returnTo, 303);
    },
  });
}
