// Key handling as an operator does it, with the compiled `tandem` command: the first start makes
// the master key, `tandem secrets rotate` and `rotate-master` change keys without losing a value,
// and a server without the right master key refuses to start, saying why, and creates no new key.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { openSecrets, VARIABLE_VALUE } from '../../src/auth/secrets/index.js';
import { loadConfig } from '../../src/config/index.js';
import { openStore } from '../../src/store/index.js';
import { startLive, tandem } from '../cli/helpers.js';

const VALUE = `cli-secret-${randomBytes(6).toString('hex')}`;
let dataDir: string;
before(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'tandem-secrets-cli-'));
});
after(() => rm(dataDir, { recursive: true, force: true }));

const dirArgs = () => ['--data-dir', dataDir];

function json<T>(result: { code: number | null; stdout: string; stderr: string }): T {
  assert.equal(result.code, 0, result.stdout + result.stderr);
  return JSON.parse(result.stdout) as T;
}

interface Status {
  masterKey: { id: string };
  dataKeys: { id: string; state: string; values: number }[];
  plainValues: number;
  signingKeys: { kid: string; state: string }[];
}

/** The variable as a job would get it, decrypted in this process with the given master key. */
async function storedValue(masterKeyFile?: string): Promise<string> {
  const config = loadConfig({ dataDir, masterKeyFile }, {});
  const store = await openStore(path.join(dataDir, 'tandem.db'));
  try {
    const secrets = await openSecrets(store, config, { now: Date.now, log: pino({ level: 'silent' }) });
    const row = await store.db.selectFrom('variables').selectAll().executeTakeFirstOrThrow();
    return await secrets.keyring.open(row.value, row.data_key_id, VARIABLE_VALUE, row);
  } finally {
    await store.close();
  }
}

test('the first start makes <dataDir>/master.key; rotate re-encrypts under a new data key and drops the old', async () => {
  const server = await startLive(['server', ...dirArgs(), '--port', '0']);
  try {
    const token = (await readFile(path.join(dataDir, 'admin.token'), 'utf8')).trim();
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const added = await fetch(`${server.url}/api/v1/repos`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'app', url: dataDir, defaultBranch: 'main' }),
    });
    assert.equal(added.status, 201, await added.text());
    const set = await fetch(`${server.url}/api/v1/repos/app/variables`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ key: 'DEPLOY_KEY', value: VALUE, masked: true }),
    });
    assert.equal(set.status, 201, await set.text());
    const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: unknown[] };
    assert.equal(jwks.keys.length, 1);
  } finally {
    assert.equal((await server.stop(15_000)).code, 0, server.output());
  }
  assert.equal((await stat(path.join(dataDir, 'master.key'))).mode & 0o777, 0o600);
  assert.match(server.output(), /generated a master key/);
  assert.ok(!server.output().includes(VALUE));

  const before = json<Status>(await tandem(['secrets', 'status', ...dirArgs(), '--json']));
  assert.equal(before.dataKeys.length, 1);
  assert.deepEqual(
    [before.dataKeys[0].state, before.dataKeys[0].values, before.plainValues],
    ['active', 2, 0],
    'the variable and the signing key',
  );

  const rotated = await tandem(['secrets', 'rotate', ...dirArgs(), '--batch-size', '1']);
  assert.equal(rotated.code, 0, rotated.stderr);
  const newKey = /New data key (dk_[0-9a-f]+)/.exec(rotated.stdout)?.[1];
  assert.ok(newKey, rotated.stdout);
  assert.match(rotated.stdout, /variables\.value: 1 re-encrypted/);
  assert.match(rotated.stdout, new RegExp(`removed data keys: ${before.dataKeys[0].id}`));
  const after = json<Status>(await tandem(['secrets', 'status', ...dirArgs(), '--json']));
  assert.deepEqual(
    after.dataKeys.map((k) => [k.id, k.state, k.values]),
    [[newKey, 'active', 2]],
  );
  assert.equal(await storedValue(), VALUE);
  assert.ok(!rotated.stdout.includes(VALUE) && !rotated.stderr.includes(VALUE));
});

test('rotate-master re-wraps the data keys; the old key is refused, the new one works from a file or TANDEM_MASTER_KEY', async () => {
  const newKeyFile = path.join(dataDir, 'next.key');
  const newKey = randomBytes(32).toString('base64');
  await writeFile(newKeyFile, newKey + '\n', { mode: 0o600 });
  const oldId = json<Status>(await tandem(['secrets', 'status', ...dirArgs(), '--json'])).masterKey.id;

  const rotated = await tandem(['secrets', 'rotate-master', ...dirArgs(), '--new-key-file', newKeyFile]);
  assert.equal(rotated.code, 0, rotated.stderr);
  const newId = /re-wrapped with master key (mk_[0-9a-f]{16}): 1 now/.exec(rotated.stdout)?.[1];
  assert.ok(newId && newId !== oldId, rotated.stdout);

  const refused = await tandem(['server', ...dirArgs(), '--port', '0']);
  assert.notEqual(refused.code, 0);
  assert.match(
    refused.stderr,
    new RegExp(`wrapped by master key ${newId}, but the configured master key \\(master key file .*master\\.key\\) is ${oldId}`),
  );
  assert.ok(!refused.stderr.includes(newKey));

  assert.equal(await storedValue(newKeyFile), VALUE);
  const server = await startLive(['server', ...dirArgs(), '--port', '0'], { env: { TANDEM_MASTER_KEY: newKey } });
  // A drained server hands its SQLite lease back; the next test starts another server on this file.
  assert.equal((await server.stop(15_000)).code, 0, server.output());
  const signing = json<{ kid: string }>(
    await tandem(['secrets', 'rotate-signing-key', ...dirArgs(), '--master-key-file', newKeyFile, '--json']),
  );
  const status = json<Status>(await tandem(['secrets', 'status', ...dirArgs(), '--master-key-file', newKeyFile, '--json']));
  assert.deepEqual(
    status.signingKeys.map((k) => k.state),
    ['retired', 'active'],
  );
  assert.equal(status.signingKeys[1].kid, signing.kid);
});

test('a server whose database holds secrets and that has no master key refuses to start and makes none', async () => {
  await rm(path.join(dataDir, 'master.key'));
  const refused = await tandem(['server', ...dirArgs(), '--port', '0']);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /holds secrets encrypted under master key mk_[0-9a-f]{16}, but no master key is configured/);
  await assert.rejects(stat(path.join(dataDir, 'master.key')), { code: 'ENOENT' });
  const noKey = await tandem(['secrets', 'rotate', ...dirArgs()]);
  assert.equal(noKey.code, 1);
  assert.match(noKey.stderr, /no master key configured: pass --master-key-file/);
});
