// Single sign-on across two replicas on one PostgreSQL database: a login started on one replica is
// finished by the other (nothing is kept in a replica's memory), and a callback or a SAML response
// that reaches both at once signs in once.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { browserLogin, startOidcProvider, type TestOidcProvider } from '../support/oidc-provider.js';
import { freePort } from '../support/ports.js';
import { postgresForFile, postgresSkipReason } from '../support/postgres.js';
import { startSamlIdp, type TestSamlIdp } from '../support/saml-idp.js';
import { call } from './helpers.js';
import { Browser } from './sso-browser.js';

describe('single sign-on across replicas on PostgreSQL', { skip: postgresSkipReason() }, () => {
  const postgres = postgresForFile(after);
  let root: string;
  let provider: TestOidcProvider;
  let idp: TestSamlIdp;
  let a: RunningServer;
  let b: RunningServer;

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tandem-sso-replicas-'));
    // The providers send browsers back to replica B (a load balancer would pick either).
    const portB = await freePort();
    const callbackB = `http://127.0.0.1:${portB}/api/v1/login/oidc/callback`;
    [provider, idp] = await Promise.all([
      startOidcProvider({ pat: { preferred_username: 'pat', groups: ['developers'] } }, { redirectUri: callbackB }),
      startSamlIdp(),
    ]);
    const databaseUrl = await (await postgres()).createDatabase();
    const settings = {
      databaseUrl,
      // Replicas share the key of secrets at rest.
      masterKey: randomBytes(32).toString('base64'),
      listen: '127.0.0.1',
      logLevel: 'silent',
      oidc: {
        issuer: provider.issuer,
        clientId: provider.clientId,
        clientSecret: provider.clientSecret,
        redirectUri: callbackB,
        scopes: 'openid profile groups',
      },
      saml: {
        entryPoint: idp.ssoUrl,
        issuer: 'tandem-replicas',
        idpCert: idp.cert,
        callbackUrl: `http://127.0.0.1:${portB}/api/v1/login/saml/acs`,
      },
    };
    a = await startServer(loadConfig({ ...settings, dataDir: path.join(root, 'a'), port: 0 }, {}), pino({ level: 'silent' }));
    b = await startServer(loadConfig({ ...settings, dataDir: path.join(root, 'b'), port: portB }, {}), pino({ level: 'silent' }));
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await Promise.all([provider?.stop(), idp?.stop()]);
    if (root) await rm(root, { recursive: true, force: true });
  });

  test('OpenID Connect: started on A, finished on B; the session works on A; the callback again on A is refused', async () => {
    const browser = new Browser();
    const start = await browser.visit(`${a.url}/api/v1/login/oidc?return=/after`);
    assert.equal(start.status, 302, start.text);
    const callback = await browserLogin(start.location ?? assert.fail('no Location'), 'pat', provider.redirectUri);
    const state = browser.cookies.get('tandem_oidc_state') ?? assert.fail('no login cookie');
    const back = await browser.visit(callback.href);
    assert.equal(back.status, 302, back.text);
    assert.equal(back.location, `${b.url}/after`);
    const me = await call<{ user: { username: string } }>(a.url, 'GET', '/api/v1/session', {
      as: { session: await browser.session(a.url) },
    });
    assert.deepEqual([me.status, me.body.user.username], [200, 'pat']);

    browser.cookies.set('tandem_oidc_state', state);
    const replay = await browser.visit(callback.href.replace(b.url, a.url));
    assert.equal(replay.status, 400, replay.text);
  });

  test('SAML: started on A, answered on B; the same response posted to both at once signs in once', async () => {
    const start = await new Browser().visit(`${a.url}/api/v1/login/saml?return=/saml-after`);
    assert.equal(start.status, 302, start.text);
    const post = await idp.login(start.location ?? assert.fail('no Location'), { nameId: 'quinn', attributes: {} });
    const form = () => new URLSearchParams({ SAMLResponse: post.SAMLResponse });
    const [onA, onB] = await Promise.all([
      new Browser().visit(`${a.url}/api/v1/login/saml/acs`, form()),
      new Browser().visit(post.action, form()),
    ]);
    assert.deepEqual([onA.status, onB.status].sort(), [302, 400], `${onA.text} ${onB.text}`);
    const winner = onA.status === 302 ? onA : onB;
    assert.ok(winner.location?.endsWith('/saml-after'), winner.location ?? '');
    const rows = await a.ctx.store.db.selectFrom('sso_saml_requests').select('id').execute();
    assert.deepEqual(rows, []);
  });
});
