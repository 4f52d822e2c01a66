// Signing in to a real Tandem server with SAML: the browser goes to a test identity provider (real
// AuthnRequests, responses signed with xml-crypto) and posts its answer to Tandem's assertion
// consumer. A response is taken once, only in answer to a request Tandem sent, and where the browser
// goes afterwards is what Tandem stored, never what is posted.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../support/ports.js';
import { startSamlIdp, type SamlIdpUser, type SamlPost, type SamlResponseOptions, type TestSamlIdp } from '../support/saml-idp.js';
import { AuthServer, call } from './helpers.js';
import { Browser } from './sso-browser.js';

const ALICE: SamlIdpUser = {
  nameId: 'alice-7f3a',
  attributes: { uid: 'alice', email: 'alice@example.com', groups: ['developers', 'ci-admins'] },
};
const BOB: SamlIdpUser = { nameId: 'bob-0b0b', attributes: { uid: 'bob', groups: ['developers'] } };

type AuditView = { actor: string; route: string; status: number; details: Record<string, unknown> | null };

describe('SAML sign-in through a Tandem server', () => {
  let idp: TestSamlIdp;
  let tandem: AuthServer;
  let dir: string;
  let acsUrl: string;
  const spEntityId = 'tandem-test-sp';

  before(async () => {
    idp = await startSamlIdp();
    dir = await mkdtemp(path.join(tmpdir(), 'tandem-saml-signin-'));
    const certFile = path.join(dir, 'idp.pem');
    await writeFile(certFile, idp.cert);
    // The assertion consumer URL is part of the configuration, so Tandem's port is chosen first.
    const port = await freePort();
    acsUrl = `http://127.0.0.1:${port}/api/v1/login/saml/acs`;
    tandem = await AuthServer.start({
      port,
      saml: {
        entryPoint: idp.ssoUrl,
        issuer: spEntityId,
        idpIssuer: idp.entityId,
        idpCertFile: certFile,
        callbackUrl: acsUrl,
        usernameAttribute: 'uid',
      },
      groupRoles: [
        { group: 'developers', repo: 'web', role: 'developer' },
        { group: 'ci-admins', provider: 'saml', admin: true },
      ],
    });
    await tandem.repo('web');
  });
  after(async () => {
    await tandem?.close();
    await idp?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Starts a sign-in at Tandem; what the identity provider has the browser post back. */
  async function throughIdp(browser: Browser, user: SamlIdpUser, returnTo?: string, options?: SamlResponseOptions): Promise<SamlPost> {
    const start = await browser.visit(
      `${tandem.url}/api/v1/login/saml${returnTo === undefined ? '' : `?return=${encodeURIComponent(returnTo)}`}`,
    );
    assert.equal(start.status, 302, start.text);
    const location = start.location ?? assert.fail('no Location');
    assert.ok(location.startsWith(`${idp.ssoUrl}?SAMLRequest=`), location);
    return idp.login(location, user, options);
  }

  function form(post: SamlPost, relayState = post.RelayState): URLSearchParams {
    const fields = new URLSearchParams({ SAMLResponse: post.SAMLResponse });
    if (relayState !== undefined) fields.set('RelayState', relayState);
    return fields;
  }

  test('the providers list shows SAML', async () => {
    assert.deepEqual((await call(tandem.url, 'GET', '/api/v1/login/providers')).body, {
      local: true,
      oidc: false,
      ldap: false,
      saml: true,
    });
  });

  test('a signed answer signs in and returns to the stored path, whatever RelayState is posted; roles and admin come from the groups', async () => {
    const browser = new Browser();
    const post = await throughIdp(browser, ALICE, '/repos/web');
    assert.equal(post.action, acsUrl);
    const back = await browser.visit(post.action, form(post, 'https://evil.example/'));
    assert.equal(back.status, 302, back.text);
    assert.equal(back.location, `${tandem.url}/repos/web`);

    const session = await browser.session(tandem.url);
    const me = await call<{ user: { username: string; email: string; admin: boolean } }>(tandem.url, 'GET', '/api/v1/session', {
      as: { session },
    });
    assert.deepEqual([me.body.user.username, me.body.user.email, me.body.user.admin], ['alice', 'alice@example.com', true]);
    const members = await call<{ username: string; role: string; source: string }[]>(tandem.url, 'GET', '/api/v1/repos/web/members', {
      as: { session },
    });
    const alice = members.body.find((m) => m.username === 'alice');
    assert.deepEqual([alice?.role, alice?.source], ['developer', 'groups']);

    const audit = await tandem.api<AuditView[]>('GET', '/api/v1/audit?action=session.create&actor=alice');
    assert.ok(
      audit.body.some(
        (e) => e.route === '/api/v1/login/saml/acs' && e.status === 302 && e.details?.provider === 'saml' && e.details.created === true,
      ),
      JSON.stringify(audit.body),
    );
  });

  test('a replayed response is refused, and so is the same response posted twice at once', async () => {
    const first = new Browser();
    const post = await throughIdp(first, BOB);
    assert.equal((await first.visit(post.action, form(post))).status, 302);
    const replayer = new Browser();
    const replay = await replayer.visit(post.action, form(post));
    assert.equal(replay.status, 400, replay.text);
    assert.equal(JSON.parse(replay.text).message, 'the login could not be verified: start it again');
    assert.ok(!replayer.cookies.has('tandem_session'));

    const raced = await throughIdp(new Browser(), BOB);
    const results = await Promise.all([new Browser().visit(raced.action, form(raced)), new Browser().visit(raced.action, form(raced))]);
    assert.deepEqual(results.map((r) => r.status).sort(), [302, 400]);

    const refusals = await tandem.api<AuditView[]>('GET', '/api/v1/audit?action=session.create&actor=anonymous');
    assert.ok(
      refusals.body.some((e) => e.route === '/api/v1/login/saml/acs' && e.status === 400 && e.details?.provider === 'saml'),
      JSON.stringify(refusals.body),
    );
    assert.match(tandem.logs(), /SAML sign-in failed: .*InResponseTo is not valid|was already used/);
  });

  test('answers Tandem never asked for, signed by another key, or not posted as a form are refused with 400', async () => {
    const unasked = idp.buildResponse({ id: '_never-sent-by-tandem', acsUrl, spEntityId }, ALICE);
    const idpInitiated = idp.buildResponse({ id: null, acsUrl, spEntityId }, ALICE);
    for (const SAMLResponse of [unasked, idpInitiated, '', 'not base64 xml']) {
      const res = await new Browser().visit(acsUrl, new URLSearchParams({ SAMLResponse }));
      assert.equal(res.status, 400, res.text);
    }
    const forged = await throughIdp(new Browser(), ALICE, undefined, { signer: idp.otherSigner });
    assert.equal((await new Browser().visit(forged.action, form(forged))).status, 400);
    const json = await call(tandem.url, 'POST', '/api/v1/login/saml/acs', { as: null, body: { SAMLResponse: unasked } });
    assert.equal(json.status, 400, json.text);
  });

  test('a return path to another origin is refused before the identity provider is involved', async () => {
    for (const evil of ['https://evil.example/', '//evil.example', '/\\evil.example']) {
      const res = await new Browser().visit(`${tandem.url}/api/v1/login/saml?return=${encodeURIComponent(evil)}`);
      assert.equal(res.status, 400, `${evil}: ${res.text}`);
    }
  });

  test('requests answered leave no rows; abandoned ones go once expired', async () => {
    const db = tandem.server.ctx.store.db;
    await throughIdp(new Browser(), BOB);
    await db.updateTable('sso_saml_requests').set({ expires_at: 0 }).execute();
    const browser = new Browser();
    const post = await throughIdp(browser, BOB);
    assert.equal((await db.selectFrom('sso_saml_requests').select('id').execute()).length, 1, 'only the request just sent is waiting');
    assert.equal((await browser.visit(post.action, form(post))).status, 302);
    assert.deepEqual(await db.selectFrom('sso_saml_requests').select('id').execute(), []);
  });
});
