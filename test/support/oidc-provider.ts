// A real OpenID provider (npm oidc-provider) on a free loopback port, with its development login and
// consent pages, and a browser stand-in that walks through them with fetch and a cookie jar.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import { freePort } from './ports.js';

const REDIRECT_URI = 'http://127.0.0.1:8080/api/v1/auth/oidc/callback';

export interface TestOidcProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Registered at the provider; nothing listens there: the browser stand-in stops at it. */
  redirectUri: string;
  /** While set, each token response's ID token is rewritten by this function (its signature is kept). */
  tamperIdToken: ((idToken: string) => string) | null;
  stop(): Promise<void>;
}

/**
 * Starts a provider whose accounts are `accounts` (login name -> claims). Scopes: openid, profile
 * (name, preferred_username), email (email, email_verified), groups (groups). PKCE is required.
 * `redirectUri` is the client's registered redirect URI: a real Tandem's callback, for tests that
 * drive the whole sign-in through a server.
 */
export async function startOidcProvider(
  accounts: Record<string, Record<string, unknown>>,
  options: { redirectUri?: string } = {},
): Promise<TestOidcProvider> {
  const redirectUri = options.redirectUri ?? REDIRECT_URI;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
  const clientId = 'tandem';
  const clientSecret = randomBytes(16).toString('hex');

  for (let tries = 1; ; tries++) {
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    const provider = new Provider(issuer, {
      clients: [
        {
          client_id: clientId,
          client_secret: clientSecret,
          redirect_uris: [redirectUri],
          response_types: ['code'],
          grant_types: ['authorization_code'],
          token_endpoint_auth_method: 'client_secret_basic',
        },
      ],
      jwks: { keys: [jwk] },
      cookies: { keys: [randomBytes(16).toString('hex')] },
      pkce: { required: () => true },
      // Explicit lifetimes keep the provider from printing a notice for each default.
      ttl: { AuthorizationCode: 60, Interaction: 600, Session: 600, Grant: 600, AccessToken: 600, IdToken: 600 },
      claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email', 'email_verified'], groups: ['groups'] },
      features: { devInteractions: { enabled: true } },
      findAccount: (_ctx: unknown, id: string) =>
        accounts[id] ? { accountId: id, claims: () => ({ sub: id, ...accounts[id] }) } : undefined,
    });
    const handle: TestOidcProvider = {
      issuer,
      clientId,
      clientSecret,
      redirectUri,
      tamperIdToken: null,
      stop: async () => {},
    };
    provider.use(async (ctx, next) => {
      await next();
      const body = ctx.body as { id_token?: unknown } | null;
      if (handle.tamperIdToken && ctx.path === '/token' && typeof body?.id_token === 'string')
        body.id_token = handle.tamperIdToken(body.id_token);
    });
    const server: Server = createServer(provider.callback());
    const listening = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (listening) {
      handle.stop = () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Keep-alive sockets from fetch would hold close() open until they time out.
          server.closeAllConnections();
        });
      return handle;
    }
    // Another process took the port between the check and the listen.
    if (tries >= 3) throw new Error(`the test OpenID provider could not listen on 127.0.0.1:${port}`);
  }
}

/**
 * What a browser does from the authorization URL on: follows redirects, keeps cookies, submits the
 * provider's login form as `login` (any password: development interactions), then its consent form,
 * and stops at the redirect to `redirectUri`, which it returns with its query (code, state, iss).
 */
export async function browserLogin(authorizationUrl: string, login: string, redirectUri: string): Promise<URL> {
  const cookies = new Map<string, string>();
  let url = new URL(authorizationUrl);
  let form: URLSearchParams | null = null;
  for (let step = 0; step < 20; step++) {
    const response = await fetch(url, {
      method: form ? 'POST' : 'GET',
      body: form ?? undefined,
      redirect: 'manual',
      headers: { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const expired = attributes.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a)) || pair.slice(eq + 1) === '';
      if (expired) cookies.delete(pair.slice(0, eq).trim());
      else cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1));
    }
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel();
      const next = new URL(location, url);
      if (next.href.startsWith(redirectUri)) return next;
      url = next;
      form = null;
      continue;
    }
    const html = await response.text();
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    if (response.status !== 200 || !action)
      throw new Error(`the provider answered ${response.status} at ${url.pathname} without a form:\n${html.slice(0, 1000)}`);
    form = new URLSearchParams();
    for (const [, name, value] of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) form.set(name, value);
    if (html.includes('name="login"')) {
      form.set('login', login);
      form.set('password', 'any');
    }
    url = new URL(action.replace(/&amp;/g, '&'), url);
  }
  throw new Error(`no redirect to ${redirectUri} after 20 steps`);
}
