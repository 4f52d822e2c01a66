// OpenID Connect login against a real OpenID provider (npm oidc-provider) on loopback: the browser's
// part is driven with fetch through the provider's own login and consent pages.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { oidcConfigSchema } from '../../src/auth/sso/config.js';
import { discoverOidc, type OidcClient, type OidcLoginStart } from '../../src/auth/sso/oidc.js';
import { SsoError } from '../../src/auth/sso/types.js';
import { browserLogin, startOidcProvider, type TestOidcProvider } from '../support/oidc-provider.js';
import { freePort } from '../support/ports.js';

const ACCOUNTS = {
  alice: {
    preferred_username: 'alice',
    name: 'Alice Liddell',
    email: 'alice@example.com',
    email_verified: true,
    groups: ['developers', 'admins'],
  },
  bob: { preferred_username: 'bob', email: 'bob@example.com', email_verified: false, groups: 'developers' },
  nameless: { name: 'No Username' },
};

describe('OpenID Connect login against oidc-provider', () => {
  let provider: TestOidcProvider;
  let client: OidcClient;
  const logged: string[] = [];

  before(async () => {
    provider = await startOidcProvider(ACCOUNTS);
    const config = oidcConfigSchema.parse({
      issuer: provider.issuer,
      clientId: provider.clientId,
      clientSecret: provider.clientSecret,
      scopes: 'openid profile email groups',
    });
    client = await discoverOidc(config, { defaultRedirectUri: provider.redirectUri, log: (detail) => logged.push(detail) });
  });
  after(async () => {
    await provider?.stop();
  });

  async function refusal(promise: Promise<unknown>): Promise<SsoError> {
    const error = await promise.then(
      () => assert.fail('the login was accepted'),
      (err: unknown) => err,
    );
    assert.ok(error instanceof SsoError, `expected an SsoError, got ${String(error)}`);
    return error;
  }

  async function login(account: string): Promise<{ start: OidcLoginStart; callback: URL }> {
    const start = await client.beginLogin();
    return { start, callback: await browserLogin(start.url, account, provider.redirectUri) };
  }

  test('the whole flow gives the identity with its groups', async () => {
    const { start, callback } = await login('alice');
    const url = new URL(start.url);
    assert.equal(url.origin, provider.issuer);
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.match(url.searchParams.get('code_challenge') ?? '', /^[\w-]{43}$/);
    assert.equal(url.searchParams.get('state'), start.state);
    assert.equal(url.searchParams.get('nonce'), start.nonce);
    assert.equal(url.searchParams.get('redirect_uri'), provider.redirectUri);
    // The verifier travels only to the token endpoint, never through the browser.
    assert.ok(!start.url.includes(start.codeVerifier));

    const identity = await client.finishLogin(callback, start);
    assert.deepEqual(identity, {
      provider: 'oidc',
      subject: 'alice',
      username: 'alice',
      email: 'alice@example.com',
      name: 'Alice Liddell',
      groups: ['admins', 'developers'],
    });
  });

  test('a single group as a string counts; an unverified email is dropped', async () => {
    const { start, callback } = await login('bob');
    const identity = await client.finishLogin(callback, start);
    assert.deepEqual(identity.groups, ['developers']);
    assert.equal(identity.email, null);
    assert.equal(identity.name, null);
  });

  test('a callback with another state is refused', async () => {
    const { start, callback } = await login('alice');
    const error = await refusal(client.finishLogin(callback, { ...start, state: 'someone-elses-state' }));
    assert.equal(error.reason, 'refused');
    assert.match(error.detail, /state/i);
    // Another login's pending values do not fit either.
    const other = await client.beginLogin();
    assert.equal((await refusal(client.finishLogin(callback, other))).reason, 'refused');
  });

  test('a code works once', async () => {
    const { start, callback } = await login('alice');
    await client.finishLogin(callback, start);
    const error = await refusal(client.finishLogin(callback, start));
    assert.equal(error.reason, 'refused');
    assert.match(error.detail, /invalid_grant/);
  });

  test('PKCE: the code is useless without its verifier', async () => {
    const { start, callback } = await login('alice');
    const error = await refusal(client.finishLogin(callback, { ...start, codeVerifier: `${start.codeVerifier.slice(1)}x` }));
    assert.equal(error.reason, 'refused');
    assert.match(error.detail, /invalid_grant/);
  });

  test('an ID token changed on its way is refused by its signature', async () => {
    const { start, callback } = await login('bob');
    // Bob claims the admins group in his ID token, which would win over userinfo were it trusted.
    provider.tamperIdToken = (token) => {
      const [header, payload, signature] = token.split('.');
      const claims = { ...JSON.parse(Buffer.from(payload, 'base64url').toString()), groups: ['admins'] };
      return [header, Buffer.from(JSON.stringify(claims)).toString('base64url'), signature].join('.');
    };
    try {
      const error = await refusal(client.finishLogin(callback, start));
      assert.equal(error.reason, 'refused');
      assert.match(error.detail, /signature/i);
    } finally {
      provider.tamperIdToken = null;
    }
  });

  test('a nonce that does not match the ID token is refused', async () => {
    const { start, callback } = await login('alice');
    const error = await refusal(client.finishLogin(callback, { ...start, nonce: 'another-nonce' }));
    assert.equal(error.reason, 'refused');
    assert.match(error.detail, /nonce/);
  });

  test('an account without the username claim is a configuration error naming the claim', async () => {
    const { start, callback } = await login('nameless');
    const error = await refusal(client.finishLogin(callback, start));
    assert.equal(error.reason, 'config');
    assert.match(error.detail, /no preferred_username claim \(oidc\.usernameClaim\)/);
    assert.ok(logged.some((line) => line.includes('preferred_username')));
  });

  test('a wrong client secret is a configuration error', async () => {
    const config = oidcConfigSchema.parse({
      issuer: provider.issuer,
      clientId: provider.clientId,
      clientSecret: 'wrong',
      scopes: 'openid profile',
    });
    const badClient = await discoverOidc(config, { defaultRedirectUri: provider.redirectUri });
    const start = await badClient.beginLogin();
    const callback = await browserLogin(start.url, 'alice', provider.redirectUri);
    const error = await refusal(badClient.finishLogin(callback, start));
    assert.equal(error.reason, 'config');
    assert.match(error.detail, /does not accept client tandem: check oidc\.clientId and oidc\.clientSecret \(HTTP 401.*invalid_client/);
  });
});

test('discovery failures say where', async () => {
  const base = { clientId: 'tandem', clientSecret: 's' };
  const port = await freePort();
  const down = await discoverOidc(oidcConfigSchema.parse({ ...base, issuer: `http://127.0.0.1:${port}` }), {
    defaultRedirectUri: 'http://127.0.0.1/cb',
  }).then(
    () => assert.fail('discovery worked without a provider'),
    (err: SsoError) => err,
  );
  assert.equal(down.reason, 'unavailable');
  assert.match(down.message, new RegExp(`discovery at http://127\\.0\\.0\\.1:${port} failed`));

  await assert.rejects(
    discoverOidc(oidcConfigSchema.parse({ ...base, issuer: 'http://idp.example.com' }), { defaultRedirectUri: 'http://127.0.0.1/cb' }),
    /oidc\.issuer http:\/\/idp\.example\.com must be an https URL/,
  );
  await assert.rejects(
    discoverOidc(oidcConfigSchema.parse({ ...base, issuer: 'https://idp.example.com' })),
    /oidc\.redirectUri is not set/,
  );
  assert.throws(() => oidcConfigSchema.parse({ ...base, issuer: 'https://idp.example.com', scopes: ['profile'] }), /must include openid/);
});
