// SAML login against an identity provider run in the test: real AuthnRequests read by the IdP, real
// responses signed with xml-crypto by its key (or by another one), checked by node-saml.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { samlConfigSchema, type SamlConfig } from '../../src/auth/sso/config.js';
import { samlFinishLogin, samlLoginUrl, type SamlRequestStore } from '../../src/auth/sso/saml.js';
import { SsoError } from '../../src/auth/sso/types.js';
import { startSamlIdp, type SamlIdpUser, type SamlPost, type SamlResponseOptions, type TestSamlIdp } from '../support/saml-idp.js';

const SP_ENTITY_ID = 'https://ci.example.com/saml';
const CALLBACK_URL = 'https://ci.example.com/api/v1/auth/saml/callback';

const ALICE: SamlIdpUser = {
  nameId: 'alice-7f3a',
  attributes: { uid: 'alice', email: 'alice@example.com', name: 'Alice Liddell', groups: ['developers', 'admins'] },
};

/** The database table a server would use, as a map; `take` is atomic because JavaScript is single-threaded here. */
class MemoryRequestStore implements SamlRequestStore {
  readonly requests = new Map<string, Date>();
  async save(id: string, issuedAt: Date): Promise<void> {
    this.requests.set(id, issuedAt);
  }
  async get(id: string): Promise<Date | null> {
    return this.requests.get(id) ?? null;
  }
  async take(id: string): Promise<boolean> {
    return this.requests.delete(id);
  }
}

describe('SAML login against a test identity provider', () => {
  let idp: TestSamlIdp;
  let config: SamlConfig;

  before(async () => {
    idp = await startSamlIdp();
    config = samlConfigSchema.parse({
      entryPoint: idp.ssoUrl,
      issuer: SP_ENTITY_ID,
      idpIssuer: idp.entityId,
      idpCert: idp.cert,
      callbackUrl: CALLBACK_URL,
      usernameAttribute: 'uid',
    });
  });
  after(async () => {
    await idp?.stop();
  });

  async function login(
    store: SamlRequestStore,
    user: SamlIdpUser,
    options?: SamlResponseOptions,
    cfg: SamlConfig = config,
  ): Promise<SamlPost> {
    return idp.login(await samlLoginUrl(cfg, 'return-to=/pipelines', store), user, options);
  }

  async function refusal(promise: Promise<unknown>): Promise<SsoError> {
    const error = await promise.then(
      () => assert.fail('the response was accepted'),
      (err: unknown) => err,
    );
    assert.ok(error instanceof SsoError, `expected an SsoError, got ${String(error)}`);
    return error;
  }

  test('a signed response to our request gives the identity with its groups', async () => {
    const store = new MemoryRequestStore();
    const url = new URL(await samlLoginUrl(config, 'return-to=/pipelines', store));
    assert.equal(`${url.origin}${url.pathname}`, idp.ssoUrl);
    assert.equal(store.requests.size, 1);

    const post = await idp.login(url.href, ALICE);
    assert.equal(post.action, CALLBACK_URL);
    assert.equal(post.RelayState, 'return-to=/pipelines');
    const logged: string[] = [];
    const identity = await samlFinishLogin(config, post, store, { log: (line) => logged.push(line) });
    assert.deepEqual(identity, {
      provider: 'saml',
      subject: 'alice-7f3a',
      username: 'alice',
      email: 'alice@example.com',
      name: 'Alice Liddell',
      groups: ['admins', 'developers'],
    });
    assert.deepEqual(logged, []);
    assert.equal(store.requests.size, 0, 'the answered request is forgotten');
  });

  test('the same response twice is refused: a request is answered once', async () => {
    const store = new MemoryRequestStore();
    const post = await login(store, ALICE);
    await samlFinishLogin(config, post, store);
    const error = await refusal(samlFinishLogin(config, post, store));
    assert.equal(error.reason, 'refused');
    assert.match(error.detail, /InResponseTo is not valid/);
  });

  test('two replicas given the same response at once: one accepts it', async () => {
    const store = new MemoryRequestStore();
    const post = await login(store, ALICE);
    const results = await Promise.allSettled([samlFinishLogin(config, post, store), samlFinishLogin(config, post, store)]);
    assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
    const loser = results.find((r) => r.status === 'rejected');
    assert.match((loser?.reason as SsoError).detail, /the response to request _\w+ was already used/);
  });

  test('a response signed by another key is refused', async () => {
    const store = new MemoryRequestStore();
    const error = await refusal(samlFinishLogin(config, await login(store, ALICE, { signer: idp.otherSigner }), store));
    assert.equal(error.reason, 'refused');
    assert.match(error.detail, /signature/i);
  });

  test('a signed assertion changed afterwards is refused', async () => {
    const store = new MemoryRequestStore();
    const tamper = (xml: string): string =>
      xml.replace('<saml:AttributeValue>developers</saml:AttributeValue>', '<saml:AttributeValue>owners</saml:AttributeValue>');
    const error = await refusal(samlFinishLogin(config, await login(store, ALICE, { tamper }), store));
    assert.match(error.detail, /signature/i);
  });

  test('an unsigned response is refused', async () => {
    const store = new MemoryRequestStore();
    const error = await refusal(samlFinishLogin(config, await login(store, ALICE, { sign: 'none' }), store));
    assert.match(error.detail, /signature/i);
  });

  test('an expired assertion is refused', async () => {
    const store = new MemoryRequestStore();
    const hourAgo = Date.now() - 3_600_000;
    const post = await login(store, ALICE, { notBefore: new Date(hourAgo - 300_000), notOnOrAfter: new Date(hourAgo) });
    const error = await refusal(samlFinishLogin(config, post, store));
    assert.equal(error.reason, 'refused');
    assert.match(error.detail, /expired|subject confirmation/i);
  });

  test('an assertion not valid yet is refused beyond the clock skew', async () => {
    const store = new MemoryRequestStore();
    const soon = Date.now() + 600_000;
    const error = await refusal(
      samlFinishLogin(config, await login(store, ALICE, { notBefore: new Date(soon), notOnOrAfter: new Date(soon + 300_000) }), store),
    );
    assert.match(error.detail, /not yet valid|subject confirmation/i);
  });

  test('an assertion for another service provider is refused', async () => {
    const store = new MemoryRequestStore();
    const error = await refusal(samlFinishLogin(config, await login(store, ALICE, { audience: 'https://other.example.com/saml' }), store));
    assert.equal(error.reason, 'refused');
    assert.match(error.detail, /audience mismatch/);
  });

  test('an assertion from another issuer is refused, even signed with the trusted key', async () => {
    const store = new MemoryRequestStore();
    const error = await refusal(samlFinishLogin(config, await login(store, ALICE, { issuer: 'https://rogue.example.com' }), store));
    assert.match(error.detail, /issued by "https:\/\/rogue\.example\.com", not by saml\.idpIssuer/);
  });

  test('responses to requests we never sent, or sent too long ago, are refused', async () => {
    const store = new MemoryRequestStore();
    const unsolicited = idp.buildResponse({ id: null, acsUrl: CALLBACK_URL, spEntityId: SP_ENTITY_ID }, ALICE);
    assert.match((await refusal(samlFinishLogin(config, { SAMLResponse: unsolicited }, store))).detail, /InResponseTo/);
    const forged = idp.buildResponse({ id: '_never-sent', acsUrl: CALLBACK_URL, spEntityId: SP_ENTITY_ID }, ALICE);
    assert.match((await refusal(samlFinishLogin(config, { SAMLResponse: forged }, store))).detail, /InResponseTo is not valid/);

    const post = await login(store, ALICE);
    const [id] = store.requests.keys();
    store.requests.set(id, new Date(Date.now() - (config.requestTtlSeconds + 1) * 1000));
    assert.match((await refusal(samlFinishLogin(config, post, store))).detail, /InResponseTo is not valid/);
  });

  test('a signed response with an unsigned assertion needs wantAssertionsSigned off', async () => {
    const responseSigned = { ...config, wantAssertionsSigned: false, wantResponseSigned: true };
    const store = new MemoryRequestStore();
    const identity = await samlFinishLogin(responseSigned, await login(store, ALICE, { sign: 'response' }, responseSigned), store);
    assert.equal(identity.username, 'alice');
    assert.match((await refusal(samlFinishLogin(config, await login(store, ALICE, { sign: 'response' }), store))).detail, /signature/i);
  });

  test('the NameID is the username unless an attribute is named; a missing one names the key', async () => {
    const store = new MemoryRequestStore();
    const byNameId = { ...config, usernameAttribute: undefined };
    assert.equal((await samlFinishLogin(byNameId, await login(store, ALICE, {}, byNameId), store)).username, 'alice-7f3a');

    const error = await refusal(
      samlFinishLogin(config, await login(store, { nameId: 'x', attributes: { email: 'x@example.com' } }), store),
    );
    assert.equal(error.reason, 'config');
    assert.match(error.detail, /no uid attribute \(saml\.usernameAttribute\); it has: email/);
  });

  test('garbage is refused', async () => {
    const store = new MemoryRequestStore();
    assert.equal(
      (await refusal(samlFinishLogin(config, { SAMLResponse: Buffer.from('<nope').toString('base64') }, store))).reason,
      'refused',
    );
    assert.equal((await refusal(samlFinishLogin(config, { SAMLResponse: '' }, store))).reason, 'refused');
  });
});

test('saml configuration refuses unsigned logins and names bad keys', () => {
  const base = { entryPoint: 'https://idp.example.com/sso', issuer: SP_ENTITY_ID, idpCert: 'MIIB', callbackUrl: CALLBACK_URL };
  assert.throws(
    () => samlConfigSchema.parse({ ...base, wantAssertionsSigned: false }),
    /wantAssertionsSigned or wantResponseSigned must be true/,
  );
  assert.throws(
    () => samlConfigSchema.parse({ ...base, callbackUrl: 'ci.example.com/cb' }),
    /callbackUrl[\s\S]*expected an http\(s\) URL|expected an http\(s\) URL[\s\S]*callbackUrl/,
  );
  assert.equal(samlConfigSchema.parse(base).wantAssertionsSigned, true);
});
