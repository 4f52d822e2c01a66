// Secrets at rest on SQLite and PostgreSQL: the master key is generated once and never silently
// replaced, values are stored only as ciphertexts bound to their row, plain values from before are
// encrypted in place, and data keys and the master key rotate without losing a value.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import pino from 'pino';
import {
  ENCRYPTED_COLUMNS,
  Keyring,
  openSecrets,
  parseMasterKey,
  readMasterKeyFile,
  rewrapDataKeys,
  SecretsError,
  VARIABLE_VALUE,
  type Secrets,
} from '../../src/auth/secrets/index.js';
import { configSchema, type TandemConfig } from '../../src/config/index.js';
import { isPostgresUrl, openStore, type Store } from '../../src/store/index.js';
import { migrationProvider } from '../../src/store/migrations/index.js';
import { backends } from '../store/helpers.js';

const log = pino({ level: 'silent' });
const now = () => Date.now();

function settings(dataDir: string, extra: Partial<TandemConfig> = {}): TandemConfig {
  return { ...configSchema.parse({}), dataDir, ...extra };
}

/** Inserts a repository and returns its id. */
async function repo(store: Store, name: string): Promise<number> {
  const row = await store.db
    .insertInto('repos')
    .values({
      name,
      url: `/tmp/${name}`,
      default_branch: 'main',
      poll_interval_seconds: 0,
      webhook_secret: null,
      branch_filter: null,
      tag_filter: null,
      known_refs: '{}',
      last_polled_at: null,
      created_at: 0,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

async function storeVariable(secrets: Secrets, store: Store, repoId: number, key: string, value: string): Promise<void> {
  const sealed = await secrets.keyring.seal(value, VARIABLE_VALUE, { repo_id: repoId, key });
  await store.db
    .insertInto('variables')
    .values({
      repo_id: repoId,
      key,
      value: sealed.value,
      data_key_id: sealed.keyId,
      masked: 1,
      protected: 0,
      file: 0,
      created_at: 0,
      updated_at: 0,
    })
    .execute();
}

async function readVariables(keyring: Keyring, store: Store): Promise<Record<string, string>> {
  const rows = await store.db.selectFrom('variables').selectAll().orderBy('key').execute();
  return Object.fromEntries(
    await Promise.all(rows.map(async (r) => [r.key, await keyring.open(r.value, r.data_key_id, VARIABLE_VALUE, r)] as const)),
  );
}

/**
 * Everything the database holds on disk: the SQLite file and its WAL, or (after a checkpoint) every
 * file of the PostgreSQL database's directory. This test runs as the owner or root, so it can read them.
 */
async function rawContents(store: Store): Promise<string> {
  let files: string[];
  if (store.dialect === 'sqlite') {
    files = [store.location, store.location + '-wal'];
  } else {
    await sql`checkpoint`.execute(store.db);
    const { rows } = await sql<{
      dir: string;
      oid: number;
    }>`select current_setting('data_directory') as dir, (select oid from pg_database where datname = current_database())::int as oid`.execute(
      store.db,
    );
    const base = join(rows[0].dir, 'base', String(rows[0].oid));
    files = (await readdir(base)).map((f) => join(base, f));
  }
  const contents = await Promise.all(files.map((f) => readFile(f).catch(() => Buffer.alloc(0))));
  return Buffer.concat(contents).toString('latin1');
}

/** A database left by Tandem before encryption at rest (migrations up to 004), with plain variable values. */
async function legacyDatabase(url: string, values: Record<string, string>): Promise<void> {
  const postgres = isPostgresUrl(url);
  const db = new Kysely<unknown>({
    dialect: postgres
      ? new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 1 }) })
      : new SqliteDialect({ database: new BetterSqlite3(url) }),
  });
  try {
    const migrator = new Migrator({
      db,
      provider: migrationProvider(postgres ? 'postgres' : 'sqlite'),
      migrationTableName: 'kysely_migration',
    });
    const { error } = await migrator.migrateTo('004_fencing_sequence');
    if (error) throw error;
    await sql`insert into repos (name, url, default_branch, poll_interval_seconds, known_refs, created_at) values ('old', '/tmp/old', 'main', 0, '{}', 0)`.execute(
      db,
    );
    for (const [key, value] of Object.entries(values)) {
      await sql`insert into variables (repo_id, key, value, masked, protected, file, created_at, updated_at) values ((select id from repos where name = 'old'), ${key}, ${value}, 1, 0, 0, 0, 0)`.execute(
        db,
      );
    }
  } finally {
    await db.destroy();
  }
}

for (const backend of backends()) {
  describe(`secrets at rest on ${backend.name}`, { skip: backend.skip }, () => {
    let db: { url: string; cleanup(): Promise<void> };
    let dataDir: string;
    const opened: Store[] = [];
    const open = async (url = db.url) => {
      const store = await openStore(url);
      opened.push(store);
      return store;
    };
    beforeEach(async () => {
      db = await backend.fresh();
      dataDir = await mkdtemp(join(tmpdir(), 'tandem-secrets-'));
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
      await db.cleanup();
      await rm(dataDir, { recursive: true, force: true });
    });

    it('generates <dataDir>/master.key (0600) on first start, uses it after, and stores only ciphertexts', async () => {
      const store = await open();
      const secrets = await openSecrets(store, settings(dataDir), { now, log });
      const file = join(dataDir, 'master.key');
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      const master = await readMasterKeyFile(file);
      assert.equal(master.id, secrets.keyring.master.id);

      const id = await repo(store, 'app');
      const value = `s3cr3t-${randomBytes(8).toString('hex')}`;
      await storeVariable(secrets, store, id, 'DEPLOY_TOKEN', value);
      const raw = await rawContents(store);
      assert.ok(!raw.includes(value), 'the plain value is in the database');
      assert.ok(!raw.includes(Buffer.from(value).toString('base64')), 'the base64 value is in the database');
      const row = await store.db.selectFrom('variables').selectAll().executeTakeFirstOrThrow();
      assert.match(row.value, /^tdx1:dk_[0-9a-f]{12}:/);
      assert.equal(row.data_key_id, row.value.split(':')[1]);

      // A second start reads the same key and decrypts.
      const again = await openSecrets(store, settings(dataDir), { now, log });
      assert.equal(again.keyring.master.id, master.id);
      assert.deepEqual(await readVariables(again.keyring, store), { DEPLOY_TOKEN: value });
    });

    it('refuses to start without the master key, or with another one, and never makes a new one then', async () => {
      const store = await open();
      const first = await openSecrets(store, settings(dataDir), { now, log });
      await rm(join(dataDir, 'master.key'));
      await assert.rejects(openSecrets(store, settings(dataDir), { now, log }), (err: Error) => {
        assert.ok(err instanceof SecretsError);
        assert.match(err.message, new RegExp(`encrypted under master key ${first.keyring.master.id}, but no master key is configured`));
        return true;
      });
      await assert.rejects(stat(join(dataDir, 'master.key')), { code: 'ENOENT' });

      const other = randomBytes(32).toString('base64');
      await assert.rejects(openSecrets(store, settings(dataDir, { masterKey: other }), { now, log }), (err: Error) => {
        assert.match(
          err.message,
          new RegExp(
            `wrapped by master key ${first.keyring.master.id}, but the configured master key \\(masterKey \\(TANDEM_MASTER_KEY\\)\\) is mk_`,
          ),
        );
        assert.ok(!err.message.includes(other), 'the key itself is in the message');
        return true;
      });
      const keyFile = join(dataDir, 'wrong.key');
      await writeFile(keyFile, 'not base64 at all\n');
      await assert.rejects(
        openSecrets(store, settings(dataDir, { masterKeyFile: keyFile }), { now, log }),
        /wrong\.key: a master key is base64 of 32 random bytes/,
      );
    });

    it('binds a ciphertext to its row: moved to another row or altered, it does not decrypt', async () => {
      const store = await open();
      const secrets = await openSecrets(store, settings(dataDir), { now, log });
      const [a, b] = [await repo(store, 'a'), await repo(store, 'b')];
      const value = 'row-bound-value-1234';
      await storeVariable(secrets, store, a, 'TOKEN', value);
      const stored = await store.db.selectFrom('variables').selectAll().executeTakeFirstOrThrow();
      await store.db
        .insertInto('variables')
        .values({ ...stored, id: undefined, repo_id: b })
        .execute();
      await store.db
        .insertInto('variables')
        .values({ ...stored, id: undefined, key: 'OTHER' })
        .execute();
      const moved = await store.db.selectFrom('variables').selectAll().where('id', '!=', stored.id).execute();
      assert.equal(moved.length, 2);
      for (const row of moved) {
        await assert.rejects(secrets.keyring.open(row.value, row.data_key_id, VARIABLE_VALUE, row), (err: Error) => {
          assert.match(err.message, /^variables\.value:\[".+"\]: does not decrypt \(altered, or copied from another row\)$/);
          assert.ok(!err.message.includes(value));
          return true;
        });
      }
      const parts = stored.value.split(':');
      const body = Buffer.from(parts[3], 'base64url');
      body[0] ^= 1;
      const altered = [...parts.slice(0, 3), body.toString('base64url')].join(':');
      await assert.rejects(secrets.keyring.open(altered, stored.data_key_id, VARIABLE_VALUE, stored), /does not decrypt/);
      assert.equal(await secrets.keyring.open(stored.value, stored.data_key_id, VARIABLE_VALUE, stored), value);
    });

    it('encrypts in place the plain values stored before encryption at rest', async () => {
      const values = { API_KEY: 'legacy-plain-value-1', OTHER: 'legacy-plain-value-2' };
      await legacyDatabase(db.url, values);
      const store = await open();
      const before = await store.db.selectFrom('variables').selectAll().execute();
      assert.deepEqual(
        before.map((v) => v.data_key_id),
        [null, null],
        'migrated rows are plain until a server opens the keyring',
      );
      const secrets = await openSecrets(store, settings(dataDir), { now, log });
      const raw = await rawContents(store);
      for (const v of Object.values(values)) assert.ok(!raw.includes(v), `${v} is still stored plain`);
      assert.deepEqual(await readVariables(secrets.keyring, store), values);
      const rows = await store.db.selectFrom('variables').select(['id', 'data_key_id']).orderBy('id').execute();
      assert.deepEqual(
        rows.map((r) => r.id),
        before.map((r) => r.id).sort((x, y) => x - y),
        'encrypted in place: same rows',
      );
      assert.ok(rows.every((r) => r.data_key_id !== null));
    });

    it('rotates data keys in batches: an interrupted rotation resumes, old keys go once unused', async () => {
      const store = await open();
      const secrets = await openSecrets(store, settings(dataDir), { now, log });
      const id = await repo(store, 'app');
      const values = Object.fromEntries(
        Array.from({ length: 7 }, (_, i) => [`V${i}`, `value-number-${i}-${randomBytes(4).toString('hex')}`]),
      );
      for (const [k, v] of Object.entries(values)) await storeVariable(secrets, store, id, k, v);
      await secrets.signer.jwks(); // a signing key: its private half is a secret to re-encrypt too
      const oldKey = (await secrets.keyring.activeKey()).id;

      const newKey = await secrets.keyring.rotate();
      assert.notEqual(newKey, oldKey);
      // The first run stops after its first batch of 3.
      await assert.rejects(
        secrets.keyring.reencrypt(VARIABLE_VALUE, {
          batchSize: 3,
          onBatch: () => {
            throw new Error('interrupted');
          },
        }),
        /interrupted/,
      );
      const keys = async () => (await store.db.selectFrom('variables').select('data_key_id').execute()).map((r) => r.data_key_id);
      assert.deepEqual((await keys()).filter((k) => k === newKey).length, 3);
      assert.deepEqual(await secrets.keyring.pruneRetired(), [], 'a key still in use is kept');
      assert.deepEqual(await readVariables(secrets.keyring, store), values, 'halfway, every value decrypts');

      const batches: number[] = [];
      let total = 0;
      for (const column of ENCRYPTED_COLUMNS)
        total += await secrets.keyring.reencrypt(column, { batchSize: 3, onBatch: (p) => batches.push(p.done) });
      assert.equal(total, 4 + 1, 'the 4 values left and the signing key');
      assert.deepEqual(await secrets.keyring.pruneRetired(), [oldKey]);
      assert.deepEqual(new Set(await keys()), new Set([newKey]));
      const fresh = new Keyring(store, secrets.keyring.master, now);
      assert.deepEqual(await readVariables(fresh, store), values, 'decrypts without the old key');
      const raw = await rawContents(store);
      for (const v of Object.values(values)) assert.ok(!raw.includes(v));
    });

    it('re-wraps the data keys with a new master key; the old one is refused afterwards', async () => {
      const store = await open();
      const secrets = await openSecrets(store, settings(dataDir), { now, log });
      const id = await repo(store, 'app');
      await storeVariable(secrets, store, id, 'K', 'survives-master-rotation');
      await secrets.keyring.rotate();
      const next = parseMasterKey(randomBytes(32).toString('base64'), 'test key');
      assert.deepEqual(await rewrapDataKeys(store, secrets.keyring.master, next), { rewrapped: 2, already: 0 });
      assert.deepEqual(
        await rewrapDataKeys(store, secrets.keyring.master, next),
        { rewrapped: 0, already: 2 },
        'a second run changes nothing',
      );
      await assert.rejects(
        openSecrets(store, settings(dataDir), { now, log }),
        /wrapped by master key mk_[0-9a-f]{16}, but the configured master key/,
      );
      const reopened = await openSecrets(store, settings(dataDir, { masterKey: next.key.toString('base64') }), { now, log });
      assert.deepEqual(await readVariables(reopened.keyring, store), { K: 'survives-master-rotation' });
    });

    it('two servers setting up one empty database with different keys: one wins, the other refuses and keeps no key file', async () => {
      const [dirA, dirB] = [dataDir, await mkdtemp(join(tmpdir(), 'tandem-secrets-'))];
      try {
        const [storeA, storeB] = [await open(), await open()];
        const results = await Promise.allSettled([
          openSecrets(storeA, settings(dirA), { now, log }),
          openSecrets(storeB, settings(dirB), { now, log }),
        ]);
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        assert.equal(won.length, 1, JSON.stringify(lost.map((r) => String(r.reason))));
        // The loser saw the winner's key either being written (wrapped by another key) or already there.
        assert.match(
          String(lost[0].reason),
          /wrapped by master key mk_|encrypted under master key mk_[0-9a-f]+, but no master key is configured/,
        );
        const loserDir = results[0].status === 'rejected' ? dirA : dirB;
        await assert.rejects(stat(join(loserDir, 'master.key')), { code: 'ENOENT' });
        assert.equal((await storeA.db.selectFrom('data_keys').select('id').execute()).length, 1);
      } finally {
        await rm(dirB, { recursive: true, force: true });
      }
    });
  });
}
