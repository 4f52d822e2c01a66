// Attacks on single sign-on (issue 14, items 30 and 31), against a real Tandem server, a real
// OpenID provider (oidc-provider) and the test SAML identity provider:
// - a SAML response the identity provider signed for another service provider that shares our
//   entity ID (a staging instance) is refused: its Destination and its Recipient name another URL;
// - anonymous OpenID Connect and SAML starts are capped per client address (429 with Retry-After),
//   so one address cannot fill the tables of sign-ins in progress.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AuthServer } from '../auth/helpers.js';
import { Browser } from '../auth/sso-browser.js';
import { startOidcProvider, type TestOidcProvider } from '../support/oidc-provider.js';
import { freePort } from '../support/ports.js';
import { startSamlIdp, type SamlIdpUser, type SamlResponseOptions, type TestSamlIdp } from '../support/saml-idp.js';

const MALLORY: SamlIdpUser = { nameId: 'mallory-5a5a', attributes: { uid: 'mallory', groups: ['ci-admins'] } };
const STAGING_ACS = 'https://staging.example/api/v1/login/saml/acs';

describe('single sign-on attacks', () => {
  let idp: TestSamlIdp;
  let provider: TestOidcProvider;
  let tandem: AuthServer;
  let acsUrl: string;

  before(async () => {
    const port = await freePort();
    acsUrl = `http://127.0.0.1:${port}/api/v1/login/saml/acs`;
    [idp, provider] = await Promise.all([
      startSamlIdp(),
      startOidcProvider({ pat: { preferred_username: 'pat' } }, { redirectUri: `http://127.0.0.1:${port}/api/v1/login/oidc/callback` }),
    ]);
    tandem = await AuthServer.start({
      port,
      saml: {
        entryPoint: idp.ssoUrl,
        issuer: 'tandem-shared-entity',
        idpIssuer: idp.entityId,
        idpCert: idp.cert,
        callbackUrl: acsUrl,
        usernameAttribute: 'uid',
      },
      oidc: { issuer: provider.issuer, clientId: provider.clientId, clientSecret: provider.clientSecret },
      groupRoles: [{ group: 'ci-admins', provider: 'saml', admin: true }],
      // Addresses come from X-Forwarded-For (the loopback "proxy" is trusted): one test can be many clients.
      trustedProxies: '127.0.0.1',
    });
  });
  after(async () => {
    await tandem?.close();
    await Promise.all([idp?.stop(), provider?.stop()]);
  });

  /** A whole SAML sign-in whose answer the identity provider builds with `options`: Tandem's answer to the post. */
  async function samlSignIn(options: SamlResponseOptions, from: string) {
    const browser = new Browser();
    const start = await fetch(`${tandem.url}/api/v1/login/saml`, { redirect: 'manual', headers: { 'x-forwarded-for': from } });
    assert.equal(start.status, 302, await start.text());
    const post = await idp.login(start.headers.get('location') ?? assert.fail('no Location'), MALLORY, options);
    const back = await browser.visit(acsUrl, new URLSearchParams({ SAMLResponse: post.SAMLResponse }));
    return { back, signedIn: browser.cookies.has('tandem_session') };
  }

  test('SAML: an assertion signed for another service provider (Recipient elsewhere) is refused', async () => {
    const { back, signedIn } = await samlSignIn({ recipient: STAGING_ACS }, '192.0.2.30');
    assert.equal(back.status, 400, back.text);
    assert.ok(!signedIn, 'no session for an assertion meant for another service provider');
    assert.match(
      tandem.logs(),
      /the assertion is for recipient \W+https:\/\/staging\.example\/api\/v1\/login\/saml\/acs\W+, not for saml\.callbackUrl/,
    );
  });

  test('SAML: a response addressed to another service provider (Destination elsewhere) is refused', async () => {
    const { back, signedIn } = await samlSignIn({ destination: STAGING_ACS }, '192.0.2.31');
    assert.equal(back.status, 400, back.text);
    assert.ok(!signedIn);
    assert.match(
      tandem.logs(),
      /the response is addressed to \W+https:\/\/staging\.example\/api\/v1\/login\/saml\/acs\W+, not to saml\.callbackUrl/,
    );
  });

  test('SAML: a response for our assertion consumer URL signs in (with or without a Destination)', async () => {
    for (const [i, destination] of [undefined, null].entries()) {
      const { back, signedIn } = await samlSignIn({ destination }, `192.0.2.3${2 + i}`);
      assert.equal(back.status, 302, back.text);
      assert.ok(signedIn);
    }
  });

  for (const flow of ['oidc', 'saml'] as const) {
    test(`${flow.toUpperCase()}: one address starting sign-ins without end is capped at 20 waiting (429, Retry-After); other addresses are not`, async () => {
      const start = async (from: string) => {
        const res = await fetch(`${tandem.url}/api/v1/login/${flow}`, { redirect: 'manual', headers: { 'x-forwarded-for': from } });
        return { status: res.status, text: await res.text(), headers: res.headers };
      };
      const flood = `198.51.100.${flow === 'oidc' ? 60 : 61}`;
      for (let i = 0; i < 20; i++) assert.equal((await start(flood)).status, 302, `start ${i + 1}`);
      const refused = await start(flood);
      assert.equal(refused.status, 429, refused.text);
      assert.match(refused.text, /too many (OpenID Connect|SAML) sign-ins waiting from address 198\.51\.100\.6[01]/);
      const wait = Number(refused.headers.get('retry-after'));
      assert.ok(wait >= 1 && wait <= 600, `Retry-After ${wait}`);
      const table = flow === 'oidc' ? 'sso_oidc_logins' : 'sso_saml_requests';
      const rows = await tandem.server.ctx.store.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('address', '=', flood)
        .executeTakeFirstOrThrow();
      assert.equal(Number(rows.n), 20, 'the refused start stored nothing');
      assert.equal((await start('198.51.100.62')).status, 302, 'another address still starts');
    });
  }
});
