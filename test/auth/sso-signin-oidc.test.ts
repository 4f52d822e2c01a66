// Signing in to a real Tandem server with OpenID Connect: the browser's whole way (Tandem, the real
// provider's login and consent pages, back to Tandem's callback) driven with fetch, ending with a
// session that works, an account made from the identity, roles from its groups and an audit record.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { safeReturnPath } from '../../src/server/sign-in.js';
import { browserLogin, startOidcProvider, type TestOidcProvider } from '../support/oidc-provider.js';
import { freePort } from '../support/ports.js';
import { AuthServer, call } from './helpers.js';
import { Browser } from './sso-browser.js';

const ACCOUNTS = {
  alice: {
    preferred_username: 'alice',
    name: 'Alice Liddell',
    email: 'alice@example.com',
    email_verified: true,
    groups: ['developers', 'web-leads'],
  },
  carol: { preferred_username: 'carol', email: 'carol@example.com', email_verified: true, groups: ['developers'] },
  dave: { preferred_username: 'dave', groups: [] },
};

type Member = { username: string; role: string; source: string };
type AuditView = { actor: string; action: string; route: string; status: number; details: Record<string, unknown> | null };

describe('OpenID Connect sign-in through a Tandem server', () => {
  let provider: TestOidcProvider;
  let tandem: AuthServer;
  let dir: string;

  before(async () => {
    // The provider registers Tandem's callback, so Tandem's port is chosen first.
    const port = await freePort();
    provider = await startOidcProvider(ACCOUNTS, { redirectUri: `http://127.0.0.1:${port}/api/v1/login/oidc/callback` });
    dir = await mkdtemp(path.join(tmpdir(), 'tandem-oidc-signin-'));
    const secretFile = path.join(dir, 'client-secret');
    await writeFile(secretFile, `${provider.clientSecret}\n`, { mode: 0o600 });
    tandem = await AuthServer.start({
      port,
      oidc: { issuer: provider.issuer, clientId: provider.clientId, clientSecretFile: secretFile, scopes: 'openid profile email groups' },
      groupRoles: [
        { group: 'developers', repo: 'web', role: 'developer' },
        { group: 'web-leads', provider: 'oidc', repo: 'web', role: 'maintainer' },
        { group: 'web-leads', provider: 'saml', admin: true },
      ],
    });
    assert.equal(tandem.url, `http://127.0.0.1:${port}`);
    await tandem.repo('web');
  });
  after(async () => {
    await tandem?.close();
    await provider?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Starts a sign-in at Tandem and logs in at the provider: the callback URL the provider sends the browser to. */
  async function throughProvider(browser: Browser, account: string, returnTo?: string): Promise<string> {
    const start = await browser.visit(
      `${tandem.url}/api/v1/login/oidc${returnTo === undefined ? '' : `?return=${encodeURIComponent(returnTo)}`}`,
    );
    assert.equal(start.status, 302, start.text);
    const location = start.location ?? assert.fail('no Location');
    assert.ok(location.startsWith(`${provider.issuer}/`), `redirected to ${location}`);
    assert.ok(browser.cookies.has('tandem_oidc_state'), 'the login is tied to this browser');
    const callback = await browserLogin(location, account, provider.redirectUri);
    return callback.href;
  }

  test('the sign-in page learns which providers are on', async () => {
    const res = await call(tandem.url, 'GET', '/api/v1/login/providers');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { local: true, oidc: true, ldap: false, saml: false });
  });

  test('the whole redirect flow ends signed in, back at the return path, with roles from the groups', async () => {
    const browser = new Browser();
    const callback = await throughProvider(browser, 'alice', '/repos/web?tab=pipelines');
    assert.ok(callback.startsWith(`${tandem.url}/api/v1/login/oidc/callback?`), callback);
    const back = await browser.visit(callback);
    assert.equal(back.status, 302, back.text);
    assert.equal(back.location, `${tandem.url}/repos/web?tab=pipelines`);
    assert.equal(back.headers.get('cache-control'), 'no-store');
    assert.ok(browser.cookies.has('tandem_session'), 'the session cookie is set');
    assert.ok(!browser.cookies.has('tandem_oidc_state'), 'the login cookie is cleared');

    const session = await browser.session(tandem.url);
    const me = await call<{ user: { username: string; email: string; admin: boolean; hasPassword: boolean }; via: string }>(
      tandem.url,
      'GET',
      '/api/v1/session',
      { as: { session } },
    );
    assert.equal(me.status, 200, me.text);
    assert.deepEqual(
      [me.body.user.username, me.body.user.email, me.body.user.admin, me.body.user.hasPassword, me.body.via],
      ['alice', 'alice@example.com', false, false, 'session'],
    );

    // developers -> developer and web-leads -> maintainer: the higher wins; the SAML-only admin mapping does not apply.
    const members = await call<Member[]>(tandem.url, 'GET', '/api/v1/repos/web/members', { as: { session } });
    assert.equal(members.status, 200, members.text);
    assert.deepEqual(
      members.body.filter((m) => m.username !== 'admin').map((m) => [m.username, m.role, m.source]),
      [['alice', 'maintainer', 'groups']],
    );
    // The session makes changes like a password session does: with its CSRF token.
    const token = await call(tandem.url, 'POST', '/api/v1/tokens', { as: { session }, body: { name: 'from sso', scopes: ['read_api'] } });
    assert.equal(token.status, 201, token.text);

    const audit = await tandem.api<AuditView[]>('GET', '/api/v1/audit?action=session.create&actor=alice');
    const signIn = audit.body.find((e) => e.route === '/api/v1/login/oidc/callback');
    assert.ok(signIn, JSON.stringify(audit.body));
    assert.equal(signIn.status, 302);
    assert.equal(signIn.details?.provider, 'oidc');
    assert.equal(signIn.details?.created, true);
  });

  test('a second sign-in finds the same account; its roles follow the groups of the moment', async () => {
    const first = new Browser();
    assert.equal((await first.visit(await throughProvider(first, 'carol'))).location, `${tandem.url}/`);
    const roleOfCarol = async () => {
      const members = await tandem.api<Member[]>('GET', '/api/v1/repos/web/members');
      const carol = members.body.find((m) => m.username === 'carol');
      return carol && [carol.role, carol.source];
    };
    assert.deepEqual(await roleOfCarol(), ['developer', 'groups']);

    // Carol left the developers group at the provider: the role it gave goes at her next sign-in.
    ACCOUNTS.carol.groups = ['web-leads'];
    const second = new Browser();
    assert.equal((await second.visit(await throughProvider(second, 'carol'))).status, 302);
    const users = await tandem.api<{ username: string }[]>('GET', '/api/v1/users');
    assert.deepEqual(
      users.body.map((u) => u.username).filter((u) => u.startsWith('carol')),
      ['carol'],
    );
    assert.deepEqual(await roleOfCarol(), ['maintainer', 'groups']);

    // Without any mapped group: signed in, but no role on the repository.
    const dave = new Browser();
    assert.equal((await dave.visit(await throughProvider(dave, 'dave'))).status, 302);
    const refused = await call(tandem.url, 'GET', '/api/v1/repos/web/members', { as: { session: await dave.session(tandem.url) } });
    assert.equal(refused.status, 403, refused.text);
  });

  test('a callback works once: the same one again is refused with 400', async () => {
    const browser = new Browser();
    const callback = await throughProvider(browser, 'alice');
    const state = browser.cookies.get('tandem_oidc_state');
    assert.equal((await browser.visit(callback)).status, 302);
    // A replay from the same browser, its login cookie put back.
    browser.cookies.set('tandem_oidc_state', state ?? '');
    browser.cookies.delete('tandem_session');
    const again = await browser.visit(callback);
    assert.equal(again.status, 400, again.text);
    assert.match(JSON.parse(again.text).message, /start it again/);
    assert.ok(!browser.cookies.has('tandem_session'));
    assert.match(tandem.logs(), /no login is waiting for this state/);
  });

  test('a callback in another browser than the one that started the login is refused (login CSRF)', async () => {
    const victim = new Browser();
    const attackers = new Browser();
    const callback = await throughProvider(attackers, 'dave');
    const res = await victim.visit(callback);
    assert.equal(res.status, 400, res.text);
    assert.ok(!victim.cookies.has('tandem_session'));
    const refusals = await tandem.api<AuditView[]>('GET', '/api/v1/audit?action=session.create&actor=anonymous');
    assert.ok(
      refusals.body.some((e) => e.route === '/api/v1/login/oidc/callback' && e.status === 400 && e.details?.provider === 'oidc'),
      JSON.stringify(refusals.body),
    );
  });

  test('a return path to another origin is refused before anything is stored', async () => {
    for (const evil of [
      'https://evil.example/',
      '//evil.example/x',
      '/\\evil.example',
      '\\\\evil.example',
      'javascript:alert(1)',
      '/ok\n//evil.example',
      'evil.example',
    ]) {
      const res = await new Browser().visit(`${tandem.url}/api/v1/login/oidc?return=${encodeURIComponent(evil)}`);
      assert.equal(res.status, 400, `${JSON.stringify(evil)}: ${res.status} ${res.text}`);
      assert.equal(res.location, null);
      assert.match(JSON.parse(res.text).message, /^return: /);
    }
    const rows = await tandem.server.ctx.store.db.selectFrom('sso_oidc_logins').select('return_to').execute();
    assert.ok(
      rows.every((r) => r.return_to.startsWith('/') && !r.return_to.startsWith('//')),
      JSON.stringify(rows),
    );
    const twice = await new Browser().visit(`${tandem.url}/api/v1/login/oidc?return=/a&return=//evil.example`);
    assert.equal(twice.status, 400, twice.text);
    assert.equal(safeReturnPath('/pipelines/7#log'), '/pipelines/7#log');
    assert.equal(safeReturnPath(undefined), '/');
  });

  test('neither the client secret nor the code verifier reaches the log; logins used or expired leave no rows', async () => {
    const logs = tandem.logs();
    assert.ok(!logs.includes(provider.clientSecret), 'the client secret is not logged');
    const db = tandem.server.ctx.store.db;
    // An abandoned login: removed once expired, when another login starts.
    await db.updateTable('sso_oidc_logins').set({ expires_at: 0 }).execute();
    await new Browser().visit(`${tandem.url}/api/v1/login/oidc`);
    const left = await db.selectFrom('sso_oidc_logins').select(['code_verifier', 'expires_at']).execute();
    assert.equal(left.length, 1, 'only the login just started is waiting');
    assert.ok(!logs.includes(left[0].code_verifier));
  });

  // Last: it stops the provider.
  test('a provider gone between the redirect and the callback: 502, and the browser is not signed in', async () => {
    const browser = new Browser();
    const callback = await throughProvider(browser, 'alice');
    await provider.stop();
    const res = await browser.visit(callback);
    assert.equal(res.status, 502, res.text);
    assert.equal(JSON.parse(res.text).message, 'the identity provider cannot be reached');
    assert.ok(!browser.cookies.has('tandem_session'));
    assert.match(tandem.logs(), /the token request to http:\/\/127\.0\.0\.1:\d+ failed/);
  });
});

describe('OpenID Connect sign-in while the provider is down', () => {
  let tandem: AuthServer;
  before(async () => {
    tandem = await AuthServer.start({
      oidc: { issuer: `http://127.0.0.1:${await freePort()}`, clientId: 'tandem', clientSecret: 'never-logged-secret' },
    });
  });
  after(() => tandem?.close());

  test('502 with a short message; the server log says why', async () => {
    const res = await new Browser().visit(`${tandem.url}/api/v1/login/oidc`);
    assert.equal(res.status, 502, res.text);
    assert.equal(JSON.parse(res.text).message, 'the identity provider cannot be reached');
    assert.match(tandem.logs(), /OpenID Connect discovery at http:\/\/127\.0\.0\.1:\d+ failed/);
    assert.ok(!tandem.logs().includes('never-logged-secret'));
  });
});
