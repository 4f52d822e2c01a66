// Browser sessions: stored in the database and revocable, an HttpOnly SameSite cookie (Secure when
// the server is reached over https), a CSRF token required for every change made with the cookie.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generateToken, hashToken } from '../../src/auth/tokens.js';
import { AuthServer, type Session } from './helpers.js';

const PASSWORD = 'a long enough passphrase';

describe('sessions', () => {
  let tandem: AuthServer;
  before(async () => {
    tandem = await AuthServer.start({ sessionIdleSeconds: 2 });
    await tandem.user('carol', { password: PASSWORD });
  });
  after(() => tandem.close());

  async function signIn(): Promise<Session> {
    const { reply, session } = await tandem.signIn('carol', PASSWORD);
    assert.equal(reply.status, 201, reply.text);
    return session!;
  }

  test('signing in sets an HttpOnly, SameSite=Lax cookie for the whole site, not Secure over http; the CSRF token comes in the body', async () => {
    const { reply, session } = await tandem.signIn('carol', PASSWORD);
    const cookie = reply.headers.get('set-cookie') ?? '';
    assert.match(cookie, /^tandem_session=tds_[\w-]{43};/);
    assert.match(cookie, /; HttpOnly/);
    assert.match(cookie, /; SameSite=Lax/);
    assert.match(cookie, /; Path=\//);
    assert.match(cookie, /; Expires=/);
    assert.doesNotMatch(cookie, /Secure/);
    assert.ok(session && session.csrf.length >= 40);
    const me = await tandem.api<{ user: { username: string }; via: string; csrfToken: string }>('GET', '/api/v1/session', {
      as: { session: session! },
      csrf: false,
    });
    assert.equal(me.status, 200, me.text);
    assert.deepEqual([me.body.user.username, me.body.via, me.body.csrfToken], ['carol', 'session', session!.csrf]);
    const stored = await tandem.server.ctx.store.db.selectFrom('sessions').select('token_hash').execute();
    assert.ok(
      stored.every((s) => !session!.cookie.includes(s.token_hash)) && stored.every((s) => /^[0-9a-f]{64}$/.test(s.token_hash)),
      'only hashes are stored',
    );
  });

  test('a change made with the cookie needs the session’s CSRF token: none or another session’s is 403; reads need none; bearer tokens need none', async () => {
    const mine = await signIn();
    const other = await signIn();
    const create = (session: Session, csrf: string | null) =>
      tandem.api<{ message: string; token?: string }>('POST', '/api/v1/tokens', {
        as: { headers: { cookie: session.cookie, ...(csrf === null ? {} : { 'x-csrf-token': csrf }) } },
        body: { name: 'from the browser' },
      });
    const missing = await create(mine, null);
    assert.equal(missing.status, 403);
    assert.match(missing.body.message, /CSRF token missing or wrong/);
    assert.equal((await create(mine, other.csrf)).status, 403, "another session's token does not do");
    assert.equal((await create(mine, 'x'.repeat(43))).status, 403);
    const ok = await create(mine, mine.csrf);
    assert.equal(ok.status, 201, ok.text);
    assert.equal((await tandem.api('GET', '/api/v1/tokens', { as: { session: mine }, csrf: false })).status, 200);
    assert.equal(
      (await tandem.api('POST', '/api/v1/tokens', { as: { token: ok.body.token! }, body: { name: 'from a script' } })).status,
      201,
    );
  });

  test('signing out ends the session: the same cookie is refused afterwards; a made-up session id is refused', async () => {
    const session = await signIn();
    const out = await tandem.api('DELETE', '/api/v1/session', { as: { session } });
    assert.equal(out.status, 204, out.text);
    assert.match(out.headers.get('set-cookie') ?? '', /tandem_session=;/);
    assert.equal((await tandem.api('GET', '/api/v1/session', { as: { session } })).status, 401);
    const forged = await tandem.api('GET', '/api/v1/session', {
      as: { session: { cookie: `tandem_session=${generateToken('tds')}`, csrf: '' } },
    });
    assert.equal(forged.status, 401);
    assert.equal((await tandem.api('DELETE', '/api/v1/session')).status, 409, 'a token is revoked, not signed out');
  });

  test('a session ends after its idle limit, and at its absolute expiry', async () => {
    const expiring = await signIn();
    const idle = await signIn();
    const hash = hashToken(expiring.cookie.slice('tandem_session='.length));
    await tandem.server.ctx.store.db
      .updateTable('sessions')
      .set({ expires_at: Date.now() - 1 })
      .where('token_hash', '=', hash)
      .execute();
    assert.equal((await tandem.api('GET', '/api/v1/session', { as: { session: expiring } })).status, 401, 'past its absolute expiry');
    assert.equal((await tandem.api('GET', '/api/v1/session', { as: { session: idle } })).status, 200);
    await new Promise((r) => setTimeout(r, 2100));
    assert.equal((await tandem.api('GET', '/api/v1/session', { as: { session: idle } })).status, 401, 'idle too long');
  });

  test('changing the password signs the user out everywhere but here; deleting the user ends every session', async () => {
    const here = await signIn();
    const elsewhere = await signIn();
    const changed = await tandem.api('PUT', '/api/v1/users/carol/password', {
      as: { session: here },
      body: { password: 'a brand new passphrase', currentPassword: PASSWORD },
    });
    assert.equal(changed.status, 204, changed.text);
    assert.equal((await tandem.api('GET', '/api/v1/session', { as: { session: here } })).status, 200);
    assert.equal((await tandem.api('GET', '/api/v1/session', { as: { session: elsewhere } })).status, 401);
    assert.equal((await tandem.signIn('carol', PASSWORD)).reply.status, 401, 'the old password is gone');
    assert.equal((await tandem.api('DELETE', '/api/v1/users/carol')).status, 204);
    assert.equal((await tandem.api('GET', '/api/v1/session', { as: { session: here } })).status, 401);
  });
});

test('over https (by externalUrl) the cookie is Secure; SameSite follows the setting', async () => {
  const tandem = await AuthServer.start({
    externalUrl: 'https://ci.example.test',
    sessionCookieSameSite: 'strict',
    adminPassword: PASSWORD,
  });
  try {
    const { reply } = await tandem.signIn('admin', PASSWORD);
    assert.equal(reply.status, 201);
    const cookie = reply.headers.get('set-cookie') ?? '';
    assert.match(cookie, /; Secure/);
    assert.match(cookie, /; SameSite=Strict/);
  } finally {
    await tandem.close();
  }
});
