// The sign-in page: a form for a password, local or (when LDAP is configured, and then by default)
// the directory's, signed in by the same code as POST /api/v1/session or /api/v1/login/ldap,
// lockouts included, and the single sign-on providers' buttons, each returning to where the
// browser was going (the device page of `tandem login --web`, for one). A directory user signs in
// with the directory's password here, so it never counts against a local password, nor the reverse.
import { LoginError, SsoError } from '../../auth/index.js';
import type { ServerContext } from '../context.js';
import { sendPage } from '../html-page.js';
import { ApiError, formOf, STATUS_OF_KIND, type RouteTable } from '../http.js';
import { ldapSignIn, localSignIn, loginProviders, safeReturnPath, signInBody } from '../sign-in.js';
import { SIGN_IN_FORM_COOKIE, SIGN_IN_FORM_FIELD, signInSection } from '../sign-in-form.js';

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
      const formToken = form.get(SIGN_IN_FORM_FIELD);
      if (!formToken || formToken !== request.cookies[SIGN_IN_FORM_COOKIE])
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
