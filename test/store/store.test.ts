import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { acquireInstanceLock, InstanceLockedError, openStore, StoreError } from '../../src/store/index.js';
import { MIGRATION_NAMES } from '../../src/store/migrations/index.js';
import { backends, exited, firstMessage, forkSibling } from './helpers.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tandem-store-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function pragma(store: Awaited<ReturnType<typeof openStore>>, name: string): Promise<unknown> {
  const { rows } = await sql.raw<Record<string, unknown>>(`pragma ${name}`).execute(store.db);
  return Object.values(rows[0])[0];
}

for (const backend of backends()) {
  describe(`openStore on ${backend.name}`, { skip: backend.skip }, () => {
    let db: { url: string; cleanup(): Promise<void> };
    beforeEach(async () => {
      db = await backend.fresh();
    });
    afterEach(async () => {
      await db.cleanup();
    });

    it('creates the schema and enforces foreign keys', async () => {
      const store = await openStore(db.url);
      try {
        assert.equal(store.dialect, backend.name);
        const tables = (await store.db.introspection.getTables()).map((t) => t.name);
        for (const t of [
          'repos',
          'variables',
          'events',
          'pipelines',
          'jobs',
          'job_logs',
          'artifact_files',
          'cache_entries',
          'agents',
          'tokens',
          'counters',
          'leases',
        ]) {
          assert.ok(tables.includes(t), `table ${t}`);
        }
        await assert.rejects(
          store.db
            .insertInto('variables')
            .values({ repo_id: 999, key: 'K', value: 'v', masked: 0, protected: 0, file: 0, created_at: 0, updated_at: 0 })
            .execute(),
          /FOREIGN KEY|foreign key/,
        );
      } finally {
        await store.close();
      }
    });

    it('returns ids, bigint times and counts as numbers; unique keys and ON CONFLICT DO NOTHING work', async () => {
      const store = await openStore(db.url);
      try {
        const t = 1_700_000_000_123;
        const { id } = await store.db
          .insertInto('tokens')
          .values({ name: 'x', kind: 'admin', token_hash: 'h', created_at: t, last_used_at: null })
          .returning('id')
          .executeTakeFirstOrThrow();
        assert.equal(typeof id, 'number');
        const row = await store.db.selectFrom('tokens').select(['created_at']).where('id', '=', id).executeTakeFirstOrThrow();
        assert.equal(row.created_at, t);
        const { n } = await store.db
          .selectFrom('tokens')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow();
        assert.equal(n, 1);
        await assert.rejects(
          store.db.insertInto('tokens').values({ name: 'y', kind: 'admin', token_hash: 'h', created_at: t, last_used_at: null }).execute(),
          /UNIQUE|unique/,
        );
        const res = await store.db
          .insertInto('tokens')
          .values({ name: 'y', kind: 'admin', token_hash: 'h', created_at: t, last_used_at: null })
          .onConflict((oc) => oc.column('token_hash').doNothing())
          .executeTakeFirst();
        assert.equal(Number(res.numInsertedOrUpdatedRows ?? 0), 0);
      } finally {
        await store.close();
      }
    });

    it('runs migrations once: opening twice keeps data and the migration list', async () => {
      const first = await openStore(db.url);
      await first.db
        .insertInto('tokens')
        .values({ name: 'x', kind: 'admin', token_hash: 'h', created_at: 1, last_used_at: null })
        .execute();
      await first.close();
      const second = await openStore(db.url);
      try {
        const { rows } = await sql<{ name: string }>`select name from kysely_migration`.execute(second.db);
        assert.deepEqual(
          rows.map((r) => r.name),
          [...MIGRATION_NAMES],
        );
        assert.equal((await second.db.selectFrom('tokens').select('name').execute()).length, 1);
      } finally {
        await second.close();
      }
    });

    it('refuses a database migrated by a newer version', async () => {
      const store = await openStore(db.url);
      await sql`insert into kysely_migration (name, timestamp) values (${'099_from_the_future'}, ${new Date().toISOString()})`.execute(
        store.db,
      );
      await store.close();
      await assert.rejects(openStore(db.url), (err: Error) => {
        assert.ok(err instanceof StoreError);
        assert.match(
          err.message,
          new RegExp(
            `was migrated by a newer Tandem \\(migration 099_from_the_future is unknown.*knows up to ${MIGRATION_NAMES[MIGRATION_NAMES.length - 1]}`,
          ),
        );
        return true;
      });
    });
  });
}

describe('openStore on SQLite', () => {
  it('uses WAL, NORMAL sync and a busy timeout', async () => {
    const store = await openStore(join(dir, 'nested', 'a.db'));
    try {
      assert.equal(await pragma(store, 'journal_mode'), 'wal');
      assert.equal(await pragma(store, 'foreign_keys'), 1);
      assert.equal(await pragma(store, 'synchronous'), 1);
      assert.equal(await pragma(store, 'busy_timeout'), 5000);
    } finally {
      await store.close();
    }
  });

  it('names the SQLite file of a newer database', async () => {
    const path = join(dir, 'newer.db');
    await (await openStore(path)).close();
    const raw = new BetterSqlite3(path);
    raw.prepare('insert into kysely_migration (name, timestamp) values (?, ?)').run('099_from_the_future', new Date().toISOString());
    raw.close();
    await assert.rejects(openStore(`sqlite:${path}`), /newer\.db was migrated by a newer Tandem/);
  });

  it('names the file when it cannot be opened', async () => {
    await assert.rejects(openStore(dir), new RegExp(`cannot open SQLite database ${dir}`));
  });

  it('takes the write lock when a transaction starts (BEGIN IMMEDIATE)', async () => {
    const path = join(dir, 'immediate.db');
    const store = await openStore(path);
    const other = new BetterSqlite3(path, { timeout: 0 });
    try {
      await store.transaction(async (trx) => {
        // Only a read so far; with a plain BEGIN another writer could still start.
        await trx.selectFrom('jobs').select('id').execute();
        assert.throws(() => other.exec('begin immediate'), /database is locked/);
      });
      other.exec('begin immediate');
      other.exec('rollback');
    } finally {
      other.close();
      await store.close();
    }
  });
});

describe('acquireInstanceLock', () => {
  it('makes a second server process on the same file fail fast, and lets it in after release', async () => {
    const path = join(dir, 'lock.db');
    const store = await openStore(path);
    try {
      const lock = await acquireInstanceLock(store, 'server-a');
      const child = forkSibling(import.meta.url, 'lock-child', [path, 'server-b']);
      const refused = await firstMessage<{ ok: boolean; name?: string; message?: string }>(child);
      await exited(child);
      assert.equal(refused.ok, false);
      assert.equal(refused.name, 'InstanceLockedError');
      assert.match(refused.message ?? '', /lock\.db is in use by another Tandem server \(server-a\)/);

      await lock.release();
      const again = forkSibling(import.meta.url, 'lock-child', [path, 'server-b']);
      assert.deepEqual(await firstMessage(again), { ok: true });
      await exited(again);
    } finally {
      await store.close();
    }
  });

  it('takes over an expired lease, and the old holder learns it lost the lock', async () => {
    const store = await openStore(join(dir, 'expiry.db'));
    try {
      let clock = 1_000_000;
      const now = (): number => clock;
      let lost: Error | null = null;
      const a = await acquireInstanceLock(store, 'a', { now, ttlMs: 15_000, renewEveryMs: 10, onLost: (e) => (lost = e) });
      clock += 14_000;
      await assert.rejects(acquireInstanceLock(store, 'b', { now }), InstanceLockedError);
      // The holder's process hangs (its clock stands still here) and the lease runs out:
      // the next server takes over with a higher epoch.
      clock += 16_000;
      const b = await acquireInstanceLock(store, 'b', { now, renewEveryMs: 60_000 });
      assert.equal(b.epoch, a.epoch + 1);
      await new Promise((r) => setTimeout(r, 50));
      assert.match(String(lost), /lost the server lease/);
      await a.release();
      // a's release must not delete b's row.
      const row = await store.db.selectFrom('leases').selectAll().executeTakeFirstOrThrow();
      assert.equal(row.holder, 'b');
      await b.release();
    } finally {
      await store.close();
    }
  });
});
