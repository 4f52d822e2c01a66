// Signing in a device through a browser (`tandem login --device` / `--web`): the device's API (a
// code, then polls for the token) and the page where a signed-in person approves or denies it.
import { z } from 'zod';
import {
  decideDeviceLogin,
  DEFAULT_DEVICE_TOKEN_LIFETIME_MS,
  DeviceLoginError,
  findDeviceLogin,
  formatUserCode,
  normalizeUserCode,
  pollDeviceLogin,
  startDeviceLogin,
  type DeviceLogin,
  type PollRefusal,
  whyUndecidable,
} from '../../auth/index.js';
import type { UserPrincipal } from '../../auth/index.js';
import { csrfTokenFor, SESSION_COOKIE } from '../../auth/index.js';
import type { ServerContext } from '../context.js';
import { CSRF_FORM_FIELD } from '../auth.js';
import { escape, sendPage } from '../html-page.js';
import { ApiError, formOf, STATUS_OF_KIND, type RouteTable } from '../http.js';
import { signInSection } from '../sign-in-form.js';

export const DEVICE_PAGE_PATH = '/login/device';
const MAX_TOKEN_LIFETIME_SECONDS = 10 * 365 * 86_400;

const REFUSALS: Record<PollRefusal, string> = {
  authorization_pending: 'the code is waiting for approval in a browser',
  slow_down: 'polled too soon after the last poll',
  access_denied: 'the sign-in was denied in the browser',
  expired_token: 'the code expired before it was approved: start the sign-in again',
  invalid_grant: 'unknown device code: it was used already, or never issued',
};

function lifetime(ms: number | null): string {
  if (ms === null) return 'never expires';
  const days = ms / 86_400_000;
  return days >= 1
    ? `expires in ${Math.round(days)} day${Math.round(days) === 1 ? '' : 's'}`
    : `expires in ${Math.max(1, Math.round(ms / 60_000))} min`;
}

export function registerDeviceLoginRoutes(routes: RouteTable, ctx: ServerContext): void {
  const db = ctx.store.db;

  routes.add({
    method: 'POST',
    url: '/api/v1/login/device',
    summary:
      'Start signing in a device (RFC 8628): a user code to approve at verificationUri, and the deviceCode to poll POST /api/v1/login/device/token with',
    tag: 'auth',
    access: 'public',
    body: z
      .object({
        /** Shown to the person approving: which device asks. */
        name: z.string().trim().min(1).max(100),
        /** The lifetime of the token the device gets; null: it never expires; default 90 days. */
        tokenExpiresInSeconds: z.number().int().positive().max(MAX_TOKEN_LIFETIME_SECONDS).nullable().optional(),
      })
      .strict(),
    async handler({ body, request, audit }) {
      const now = ctx.clock.now();
      const tokenLifetimeMs =
        body.tokenExpiresInSeconds === undefined
          ? DEFAULT_DEVICE_TOKEN_LIFETIME_MS
          : body.tokenExpiresInSeconds === null
            ? null
            : body.tokenExpiresInSeconds * 1000;
      const started = await startDeviceLogin(db, { name: body.name, address: request.ip, tokenLifetimeMs, now });
      audit({ requestId: started.id, name: body.name });
      const userCode = formatUserCode(started.userCode);
      // Known once the server listens (port 0 picks one): read per request, not at registration.
      const pageUrl = ctx.externalUrl + DEVICE_PAGE_PATH;
      return {
        deviceCode: started.deviceCode,
        userCode,
        verificationUri: pageUrl,
        verificationUriComplete: `${pageUrl}?code=${userCode}`,
        expiresIn: Math.round((started.expiresAt - now) / 1000),
        interval: started.intervalMs / 1000,
      };
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/login/device/token',
    summary:
      'Poll for the token of a device sign-in: 400 authorization_pending, slow_down, access_denied or expired_token; 200 {token} once it is approved (once only)',
    tag: 'auth',
    access: 'public',
    body: z.object({ deviceCode: z.string().min(1).max(200) }).strict(),
    async handler({ body, reply, audit }) {
      const result = await pollDeviceLogin(ctx.store, body.deviceCode, ctx.clock.now());
      // A token, or the news that there is none yet: neither may be served from a cache.
      reply.header('cache-control', 'no-store');
      if (result.kind === 'refused') {
        reply.code(400);
        const interval = result.intervalMs === undefined ? {} : { interval: result.intervalMs / 1000 };
        const message =
          result.error === 'slow_down' ? `${REFUSALS.slow_down}: wait ${interval.interval} s between polls` : REFUSALS[result.error];
        return { error: result.error, message, ...interval };
      }
      const { user, token } = result;
      const owner: UserPrincipal = {
        kind: 'user',
        userId: user.id,
        username: user.username,
        admin: user.admin === 1,
        scopes: ['api'],
        sessionId: null,
        tokenId: token.id,
      };
      audit({ tokenId: token.id, name: result.name, scopes: ['api'] }, owner);
      return {
        token: token.token,
        tokenId: token.id,
        username: user.username,
        scopes: ['api'],
        expiresAt: result.expiresAt === null ? null : new Date(result.expiresAt).toISOString(),
      };
    },
  });

  const codeForm = (code: string) => `<form method="get" action="${DEVICE_PAGE_PATH}">
<label>The code your device shows <input name="code" value="${escape(code)}" autocomplete="off" autocapitalize="characters" required autofocus></label>
<button type="submit">Continue</button>
</form>`;

  /** What the person decides on: the device as it described itself, where and when it asked, and what it gets. */
  function decisionForm(request: DeviceLogin, csrfToken: string, me: UserPrincipal): string {
    const code = formatUserCode(request.user_code);
    return `<p>A device asks to sign in to Tandem as <b>${escape(me.username)}</b>:</p>
<p class="code">${escape(code)}</p>
<ul><li>Device: <b>${escape(request.name)}</b></li>
<li>Asked at ${escape(new Date(request.created_at).toISOString())} from address ${escape(request.address ?? 'unknown')}</li>
<li>It gets a personal token with scope api that ${escape(lifetime(request.token_lifetime_ms))}</li></ul>
<p class="note">Approve only if you started this sign-in yourself and the code matches the one your device shows.</p>
<form method="post" action="${DEVICE_PAGE_PATH}">
<input type="hidden" name="${CSRF_FORM_FIELD}" value="${escape(csrfToken)}"><input type="hidden" name="code" value="${escape(code)}">
<button type="submit" name="decision" value="approve">Approve</button><button type="submit" name="decision" value="deny">Deny</button>
</form>`;
  }

  routes.add({
    method: 'GET',
    url: DEVICE_PAGE_PATH,
    summary:
      'The page where a signed-in person approves or denies a device sign-in (HTML; ?code=WDJB-MJHT); signed out: the sign-in forms, returning here',
    tag: 'auth',
    access: 'public',
    produces: 'text/html',
    async handler({ request, reply, query, principal }) {
      const typed = typeof query.code === 'string' ? query.code : '';
      const code = normalizeUserCode(typed);
      const cookie = request.cookies[SESSION_COOKIE];
      // Only a browser session can post the decision (with its CSRF token); a bearer token is no browser.
      if (principal.kind !== 'user' || principal.sessionId === null || !cookie) {
        const returnTo = code === null ? DEVICE_PAGE_PATH : `${DEVICE_PAGE_PATH}?code=${formatUserCode(code)}`;
        return sendPage(
          reply,
          200,
          'Sign in a device',
          `<p>Sign in first; then approve or deny the device's code.</p>\n${signInSection(ctx, request, reply, returnTo)}`,
        );
      }
      if (typed === '') return sendPage(reply, 200, 'Sign in a device', codeForm(''));
      if (code === null)
        return sendPage(
          reply,
          400,
          'Sign in a device',
          `<p class="error">That is not a code of 8 letters like WDJB-MJHT.</p>\n${codeForm(typed)}`,
        );
      const waiting = await findDeviceLogin(db, code);
      const problem = whyUndecidable(waiting, code, ctx.clock.now());
      if (problem !== null || !waiting)
        return sendPage(
          reply,
          problem ? STATUS_OF_KIND[problem.kind] : 404,
          'Sign in a device',
          `<p class="error">${escape(problem?.message ?? '')}.</p>\n${codeForm(typed)}`,
        );
      return sendPage(reply, 200, 'Sign in a device', decisionForm(waiting, csrfTokenFor(cookie), principal));
    },
  });

  routes.add({
    method: 'POST',
    url: DEVICE_PAGE_PATH,
    summary: "The device page's form (code, decision approve or deny, csrf_token): decides a device sign-in as the signed-in user",
    tag: 'auth',
    access: 'user',
    produces: 'text/html',
    async handler({ request, reply, principal, audit }) {
      if (principal.kind !== 'user') throw new ApiError(403, 'device_login.approve: this is for users');
      const form = formOf(request);
      if (!form)
        throw new ApiError(415, `expected the device page's form (application/x-www-form-urlencoded: code, decision, ${CSRF_FORM_FIELD})`);
      const code = normalizeUserCode(form.get('code') ?? '');
      const decision = form.get('decision');
      if (code === null)
        return sendPage(
          reply,
          400,
          'Sign in a device',
          `<p class="error">That is not a code of 8 letters like WDJB-MJHT.</p>\n${codeForm(form.get('code') ?? '')}`,
        );
      if (decision !== 'approve' && decision !== 'deny')
        throw new ApiError(400, `decision: expected approve or deny, got "${decision ?? ''}"`);
      let decided;
      try {
        decided = await decideDeviceLogin(db, {
          userCode: code,
          userId: principal.userId,
          approve: decision === 'approve',
          now: ctx.clock.now(),
        });
      } catch (err) {
        if (!(err instanceof DeviceLoginError)) throw err;
        return sendPage(
          reply,
          STATUS_OF_KIND[err.kind],
          'Sign in a device',
          `<p class="error">${escape(err.message)}.</p>\n${codeForm('')}`,
        );
      }
      audit({ requestId: decided.id, name: decided.name, deviceAddress: decided.address, decision: decided.status });
      const done =
        decided.status === 'approved'
          ? `<p><b>${escape(decided.name)}</b> is signed in as ${escape(principal.username)}: go back to the device. You may close this page.</p>`
          : `<p>Denied: <b>${escape(decided.name)}</b> is not signed in. If you did not start this sign-in, someone may be trying to trick you into approving theirs.</p>`;
      return sendPage(reply, 200, decided.status === 'approved' ? 'Device approved' : 'Device denied', done);
    },
  });
}
