// Attacks on sign-in that PostgreSQL makes visible (issue 14, items 28 and 29):
// - a new person's first sign-in reaching two replicas at once: both must sign the person in, as
//   one account (before, the loser's duplicate identity was a 500);
// - a NUL byte in a username, or in any path or query parameter: refused as bad input (422)
//   before any query, not a database error
//   (PostgreSQL refuses NUL in text: a 500 that raised tandem_db_errors_total).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { findOrCreateExternalUser, type ExternalIdentity } from '../../src/auth/users.js';
import { openStore, type Store } from '../../src/store/index.js';
import { AuthServer, call } from '../auth/helpers.js';
import { postgresForFile, postgresSkipReason } from '../support/postgres.js';

describe('sign-in attacks on PostgreSQL', { skip: postgresSkipReason() }, () => {
  const postgres = postgresForFile(after);
  let replicaA: Store;
  let replicaB: Store;
  let tandem: AuthServer;

  before(async () => {
    const server = await postgres();
    const url = await server.createDatabase();
    // Two connection pools on one database: what two replicas have.
    replicaA = await openStore(url);
    replicaB = await openStore(url);
    tandem = await AuthServer.start({ databaseUrl: await server.createDatabase(), trustedProxies: '127.0.0.1' });
  });
  after(async () => {
    await tandem?.close();
    await replicaA?.close();
    await replicaB?.close();
  });

  test('first sign-in of one person on two replicas at once: both succeed, as one account with one identity', async () => {
    for (let i = 0; i < 8; i++) {
      const identity: ExternalIdentity = { provider: 'oidc', subject: `sub-race-${i}`, username: `racer${i}`, email: null, groups: [] };
      const [a, b] = await Promise.all([
        findOrCreateExternalUser(replicaA, identity, [], Date.now()),
        findOrCreateExternalUser(replicaB, identity, [], Date.now()),
      ]);
      assert.equal(a.user.id, b.user.id, `round ${i}: one account`);
      assert.equal(Number(a.created) + Number(b.created), 1, `round ${i}: made once`);
      const users = await replicaA.db.selectFrom('users').select('username').where('username', 'like', `racer${i}%`).execute();
      assert.deepEqual(
        users.map((u) => u.username),
        [`racer${i}`],
        `round ${i}: the loser's user was rolled back`,
      );
    }
  });

  async function dbErrors(): Promise<number> {
    const text = (await tandem.api('GET', '/metrics')).text;
    return [...text.matchAll(/^tandem_db_errors_total\{[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  }

  test('a NUL byte (or another control character) in a username is a 422 naming the field, with no database error', async () => {
    const before = await dbErrors();
    for (const username of ['bo\u0000b', 'bob\n', 'bo\u001bb']) {
      const res = await call<{ message: string }>(tandem.url, 'POST', '/api/v1/session', {
        as: null,
        body: { username, password: 'whatever-password' },
      });
      assert.equal(res.status, 422, res.text);
      assert.match(res.body.message, /username: must not contain control characters/);
    }
    const nulPassword = await call<{ message: string }>(tandem.url, 'POST', '/api/v1/session', {
      as: null,
      body: { username: 'bob', password: 'pass\u0000word' },
    });
    assert.equal(nulPassword.status, 422, nulPassword.text);
    assert.match(nulPassword.body.message, /password: must not contain control characters/);
    // Any route's path and query parameters: refused before the caller's repository is looked up.
    for (const path of [
      '/api/v1/tokens?username=bo%00b',
      '/api/v1/audit?actor=bo%00b',
      '/api/v1/repos/de%00mo',
      '/api/v1/repos/demo/pipelines?ref=ma%00in',
    ]) {
      const res = await tandem.api<{ message: string }>('GET', path);
      assert.equal(res.status, 422, `${path}: ${res.text}`);
      assert.match(res.body.message, /(path|query) parameter \w+: contains a NUL byte/);
    }
    assert.equal(await dbErrors(), before, 'no query failed');
  });
});
