// Local users: argon2id hashes, the password policy, the first admin, and failed sign-ins counted in
// the database per account and per client address until a lockout.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseOptions } from '@node-rs/argon2';
import { hashPassword, needsRehash, verifyPassword } from '../../src/auth/passwords.js';
import { AuthServer, call } from './helpers.js';

const GOOD = 'correct horse battery staple';

describe('passwords', () => {
  test('argon2id with the chosen cost; wrong passwords and missing hashes fail; weaker hashes are re-hashed at sign-in', async () => {
    const started = performance.now();
    const stored = await hashPassword(GOOD);
    const ms = performance.now() - started;
    assert.match(stored, /^\$argon2id\$v=19\$m=65536,t=3,p=1\$/);
    assert.ok(ms > 5 && ms < 2000, `one hash took ${ms.toFixed(1)} ms`);
    assert.equal(await verifyPassword(stored, GOOD), true);
    assert.equal(await verifyPassword(stored, GOOD + ' '), false);
    assert.equal(await verifyPassword(null, GOOD), false, 'no hash (no user) never matches');
    assert.equal(await verifyPassword('not a phc string', GOOD), false);
    assert.equal(needsRehash(stored), false);
    assert.equal(parseOptions(stored).memoryCost, 65536);
    assert.equal(needsRehash('$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g'), true);
  });
});

describe('users and sign-in', () => {
  let tandem: AuthServer;
  before(async () => {
    // Addresses come from X-Forwarded-For, believed from the loopback "proxy", so one test can be many clients.
    tandem = await AuthServer.start({
      trustedProxies: '127.0.0.1',
      loginMaxFailures: 3,
      loginMaxFailuresPerAddress: 5,
      loginLockoutSeconds: 2,
      loginFailureWindowSeconds: 60,
    });
  });
  after(() => tandem.close());

  test('the first start makes user admin (instance admin, no password yet) owning the admin token; a password set later signs in', async () => {
    const file = (await readFile(path.join(tandem.dataDir, 'admin.token'), 'utf8')).trim();
    assert.equal(file, tandem.adminToken);
    const me = await tandem.api<{ user: { username: string; admin: boolean; hasPassword: boolean }; via: string; scopes: string[] }>(
      'GET',
      '/api/v1/session',
    );
    assert.equal(me.status, 200, me.text);
    assert.deepEqual(
      [me.body.user.username, me.body.user.admin, me.body.user.hasPassword, me.body.via, me.body.scopes],
      ['admin', true, false, 'token', ['api']],
    );
    assert.equal((await tandem.signIn('admin', GOOD)).reply.status, 401, 'no password: no sign-in');
    const set = await tandem.api('PUT', '/api/v1/users/admin/password', { body: { password: GOOD } });
    assert.equal(set.status, 204, set.text);
    const signedIn = await tandem.signIn('admin', GOOD);
    assert.equal(signedIn.reply.status, 201, signedIn.reply.text);
    // Now that admin has a password, changing it takes the current one.
    const noCurrent = await tandem.api<{ message: string }>('PUT', '/api/v1/users/admin/password', {
      body: { password: 'another long passphrase' },
    });
    assert.equal(noCurrent.status, 422);
    assert.match(noCurrent.body.message, /currentPassword/);
  });

  test('the password policy refuses short, username-bearing and monotonous passwords, naming the field and never echoing the value', async () => {
    for (const [password, why] of [
      ['short', /at least 12 characters/],
      ['alice-is-my-password', /must not contain the username/],
      ['abababababababab', /too few distinct characters/],
      ['x'.repeat(300), /at most 256 characters/],
    ] as const) {
      const res = await tandem.api<{ message: string }>('POST', '/api/v1/users', { body: { username: 'alice', password } });
      assert.equal(res.status, 422, `${password}: ${res.text}`);
      assert.match(res.body.message, /^password: /);
      assert.match(res.body.message, why);
      assert.ok(!res.text.includes(password), 'the response does not repeat the password');
    }
    assert.equal(
      (await tandem.api('POST', '/api/v1/users', { body: { username: 'Alice!', password: GOOD } })).status,
      422,
      'usernames are lowercase names',
    );
    const created = await tandem.api<{ username: string; hasPassword: boolean; admin: boolean }>('POST', '/api/v1/users', {
      body: { username: 'alice', password: GOOD },
    });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual([created.body.username, created.body.hasPassword, created.body.admin], ['alice', true, false]);
    assert.equal((await tandem.api('POST', '/api/v1/users', { body: { username: 'alice', password: GOOD } })).status, 409);
    const stored = await tandem.server.ctx.store.db
      .selectFrom('users')
      .select('password_hash')
      .where('username', '=', 'alice')
      .executeTakeFirstOrThrow();
    assert.match(stored.password_hash ?? '', /^\$argon2id\$/);
  });

  test('a wrong password and an unknown user get the same 401; the account locks after too many failures, then unlocks', async () => {
    await tandem.api('POST', '/api/v1/users', { body: { username: 'bob', password: GOOD } });
    const client = { 'x-forwarded-for': '203.0.113.10' };
    const wrong = await tandem.signIn('bob', 'not the password at all', client);
    const unknown = await tandem.signIn('nobody', 'not the password at all', client);
    assert.deepEqual([wrong.reply.status, unknown.reply.status], [401, 401]);
    assert.equal(wrong.reply.body.message, unknown.reply.body.message);
    // Third failure for bob (from another address: the account's count is its own).
    assert.equal((await tandem.signIn('bob', 'still not it......', { 'x-forwarded-for': '203.0.113.11' })).reply.status, 401);
    await tandem.signIn('bob', 'and again not it..', { 'x-forwarded-for': '203.0.113.12' });
    const locked = await tandem.signIn('bob', GOOD, { 'x-forwarded-for': '203.0.113.13' });
    assert.equal(locked.reply.status, 429, 'the right password is refused while locked');
    assert.match(locked.reply.body.message ?? '', /too many failed sign-ins for account bob: try again in \d+ s/);
    assert.ok(Number(locked.reply.headers.get('retry-after')) >= 1);
    assert.equal(locked.session, null);
    assert.equal(
      (await tandem.signIn('alice', GOOD, { 'x-forwarded-for': '203.0.113.13' })).reply.status,
      201,
      'other accounts are not locked',
    );
    await new Promise((r) => setTimeout(r, 2100));
    assert.equal((await tandem.signIn('bob', GOOD, { 'x-forwarded-for': '203.0.113.13' })).reply.status, 201, 'the lockout ends');
  });

  test('one address guessing at many accounts is locked out by its own count; other addresses are not', async () => {
    const attacker = { 'x-forwarded-for': '198.51.100.7' };
    for (const name of ['u1', 'u2', 'u3', 'u4', 'u5'])
      assert.equal((await tandem.signIn(name, 'guessing-guessing', attacker)).reply.status, 401);
    const blocked = await tandem.signIn('alice', GOOD, attacker);
    assert.equal(blocked.reply.status, 429);
    assert.match(blocked.reply.body.message ?? '', /for address 198\.51\.100\.7/);
    assert.equal((await tandem.signIn('alice', GOOD, { 'x-forwarded-for': '198.51.100.8' })).reply.status, 201);
    const counted = await tandem.server.ctx.store.db
      .selectFrom('login_failures')
      .selectAll()
      .where('key', '=', 'address:198.51.100.7')
      .executeTakeFirstOrThrow();
    assert.equal(counted.failures, 5);
  });

  test('refused sign-ins are in the audit log with the username, never the password; the log has no password either', async () => {
    const secret = 'the-secret-guess-9f2c';
    await tandem.signIn('alice', secret, { 'x-forwarded-for': '192.0.2.50' });
    const audit = await tandem.api<{ actor: string; action: string; status: number; address: string; details: { username: string } }[]>(
      'GET',
      '/api/v1/audit?action=session.create&limit=50',
    );
    assert.equal(audit.status, 200, audit.text);
    const refused = audit.body.find((e) => e.status === 401 && e.address === '192.0.2.50');
    assert.ok(refused, JSON.stringify(audit.body.slice(0, 3)));
    assert.equal(refused.details.username, 'alice');
    assert.equal(refused.actor, 'anonymous');
    const granted = audit.body.find((e) => e.status === 201);
    assert.ok(granted && granted.actor !== 'anonymous', 'a sign-in is recorded as its user');
    assert.ok(!audit.text.includes(secret) && !audit.text.includes(GOOD));
    assert.ok(!tandem.logs().includes(secret) && !tandem.logs().includes(GOOD), 'no password in the server log');
  });

  test('malformed and oversized sign-in bodies are refused before any hashing', async () => {
    const notJson = await call<{ message: string }>(tandem.url, 'POST', '/api/v1/session', {
      body: '{"username":"alice","password":"hunter2-secret',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(notJson.status, 400);
    assert.ok(!notJson.text.includes('hunter2-secret'), 'the JSON error does not quote the body');
    const huge = await call(tandem.url, 'POST', '/api/v1/session', { body: { username: 'alice', password: 'p'.repeat(5000) } });
    assert.equal(huge.status, 422);
    const extra = await call(tandem.url, 'POST', '/api/v1/session', { body: { username: 'alice', password: GOOD, admin: true } });
    assert.equal(extra.status, 422, 'unknown fields are refused');
  });
});

test('a configured admin password lets the first admin sign in at once', async () => {
  const tandem = await AuthServer.start({ adminPassword: GOOD });
  try {
    assert.equal((await tandem.signIn('admin', GOOD)).reply.status, 201);
    assert.ok(!tandem.logs().includes(GOOD));
  } finally {
    await tandem.close();
  }
});
