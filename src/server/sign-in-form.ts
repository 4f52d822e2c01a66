// The sign-in form of the server's HTML pages (the sign-in page, the device-approval page): a
// password form, local or the directory's, and the single sign-on providers' buttons.
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { secureCookies } from './auth.js';
import type { ServerContext } from './context.js';
import { escape } from './html-page.js';
import { loginProviders } from './sign-in.js';

/**
 * Ties a posted sign-in form to a page this server served to the same browser (a double-submit
 * cookie): without it another site could post its own credentials and sign a visitor in as itself,
 * so that what they do next (approving their device) lands in someone else's account.
 */
export const SIGN_IN_FORM_COOKIE = 'tandem_login_form';
export const SIGN_IN_FORM_FIELD = 'form_token';

/** The sign-in forms, returning to `returnTo` (a path on this server) once signed in. */
export function signInSection(
  ctx: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
  returnTo: string,
  opts: { error?: string; username?: string; provider?: 'local' | 'ldap' } = {},
): string {
  let formToken = request.cookies[SIGN_IN_FORM_COOKIE];
  if (!formToken || !/^[\w-]{32}$/.test(formToken)) {
    formToken = randomBytes(24).toString('base64url');
    reply.setCookie(SIGN_IN_FORM_COOKIE, formToken, { httpOnly: true, secure: secureCookies(ctx), sameSite: 'strict', path: '/login' });
  }
  const back = encodeURIComponent(returnTo);
  const providers = loginProviders(ctx);
  const sso = [
    providers.oidc ? `<a class="button" href="/api/v1/login/oidc?return=${back}">Sign in with OpenID Connect</a>` : '',
    providers.saml ? `<a class="button" href="/api/v1/login/saml?return=${back}">Sign in with SAML</a>` : '',
  ].filter(Boolean);
  return `${opts.error ? `<p class="error" role="alert">${escape(opts.error)}</p>` : ''}
<form method="post" action="/login">
<input type="hidden" name="${SIGN_IN_FORM_FIELD}" value="${escape(formToken)}"><input type="hidden" name="return" value="${escape(returnTo)}">
<label>Username <input name="username" autocomplete="username" required value="${escape(opts.username ?? '')}"></label>
<label>Password <input type="password" name="password" autocomplete="current-password" required></label>
${providers.ldap ? `<label>Account <select name="provider"><option value="ldap"${opts.provider === 'local' ? '' : ' selected'}>Directory (LDAP)</option><option value="local"${opts.provider === 'local' ? ' selected' : ''}>Tandem (local password)</option></select></label>\n` : ''}<button type="submit">Sign in</button>
</form>
${sso.length > 0 ? `<div class="sso">${sso.join('')}</div>` : ''}`;
}
