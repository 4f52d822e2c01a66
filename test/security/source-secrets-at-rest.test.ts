// Item 24 of issue 14: webhook secrets were plaintext in the database and tandem.db was 0644 in a
// 0755 data dir, so anyone on the host (or with a copy of the file) could forge deliveries. Now
// webhook secrets are encrypted like variables (plain ones from before are encrypted at start), the
// data dir is 0700 and the database 0600, and older installations are tightened at start.
import assert from 'node:assert/strict';
import { chmod, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { TestTandem } from '../support/tandem.js';
import { deliver, pushDelivery } from '../e2e/helpers.js';

const CI_FILE = { '.gitlab-ci.yml': 'job:\n  script: [echo hi]\n' };

let tandem: TestTandem;
before(async () => {
  tandem = await TestTandem.start({ agents: 0 });
});
after(() => tandem.close());

/** Every byte of the SQLite database and its WAL, as someone with a copy of the files would read them. */
async function databaseBytes(): Promise<string> {
  const files = (await readdir(tandem.dataDir)).filter((f) => f.startsWith('tandem.db'));
  assert.ok(files.length > 0);
  return (await Promise.all(files.map((f) => readFile(path.join(tandem.dataDir, f))))).map((b) => b.toString('latin1')).join('');
}

async function pushAccepted(repo: string, secret: string, sha: string, deliveryId: string): Promise<number> {
  return (
    await deliver(
      tandem.url,
      'github',
      repo,
      pushDelivery('github', secret, { ref: 'refs/heads/main', before: '0'.repeat(40), after: sha, deliveryId }),
    )
  ).status;
}

test('a webhook secret is stored encrypted: the database files never hold it, and deliveries still verify', async () => {
  const secret = 'webhook-secret-plain-4c1d9e';
  const { name, sha } = await tandem.repo(CI_FILE, { webhookSecret: secret });
  const rotated = 'webhook-secret-rotated-77b2aa';
  assert.equal((await tandem.api('PATCH', `/api/v1/repos/${name}`, { webhookSecret: rotated })).status, 200);
  const row = await tandem.server.ctx.store.db.selectFrom('repos').selectAll().where('name', '=', name).executeTakeFirstOrThrow();
  assert.notEqual(row.webhook_secret, rotated);
  assert.match(row.webhook_secret ?? '', /^tdx1:/);
  assert.ok(row.webhook_secret_key_id);
  const bytes = await databaseBytes();
  assert.ok(!bytes.includes(secret) && !bytes.includes(rotated), 'no plain webhook secret in tandem.db or its WAL');
  assert.equal(await pushAccepted(name, secret, sha, 'old-secret'), 401);
  assert.equal(await pushAccepted(name, rotated, sha, 'new-secret'), 201);
});

test('plain webhook secrets from before are encrypted when the server starts, and loose file modes are tightened', async () => {
  const { name, sha } = await tandem.repo(CI_FILE);
  const legacy = 'legacy-plain-secret-0042';
  // As a database from before migration 013 holds it.
  await tandem.server.ctx.store.db
    .updateTable('repos')
    .set({ webhook_secret: legacy, webhook_secret_key_id: null })
    .where('name', '=', name)
    .execute();
  const db = path.join(tandem.dataDir, 'tandem.db');
  await chmod(tandem.dataDir, 0o755);
  await chmod(db, 0o644);

  await tandem.stopServer();
  await tandem.startServerAgain();
  const row = await tandem.server.ctx.store.db.selectFrom('repos').selectAll().where('name', '=', name).executeTakeFirstOrThrow();
  assert.match(row.webhook_secret ?? '', /^tdx1:/);
  assert.equal(await pushAccepted(name, legacy, sha, 'legacy-1'), 201, 'the secret still verifies deliveries');
  assert.equal((await stat(tandem.dataDir)).mode & 0o777, 0o700);
  assert.equal((await stat(db)).mode & 0o777, 0o600);
  for (const f of (await readdir(tandem.dataDir)).filter((n) => n.startsWith('tandem.db'))) {
    assert.equal((await stat(path.join(tandem.dataDir, f))).mode & 0o077, 0, `${f} is private`);
  }
});
