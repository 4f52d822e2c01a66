// What only the PostgreSQL backend does: multi-host URLs, finding the writable host again after a
// restart or a failover, and re-running transactions after transient errors without applying
// their changes twice.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { DomainError } from '../../src/errors.js';
import { openStore, StoreError, type Store } from '../../src/store/index.js';
import { parsePostgresUrl } from '../../src/store/postgres.js';
import { postgresForFile, postgresSkipReason, startPostgres, type PostgresServer } from '../support/postgres.js';

describe('parsePostgresUrl', () => {
  it('splits a multi-host URL into one URL per host, keeping credentials, database and options', () => {
    const hosts = parsePostgresUrl('postgresql://tandem:p%40ss@db1:5433,db2,[::1]:6000/ci?target_session_attrs=read-write&sslmode=disable');
    assert.deepEqual(hosts, [
      { label: 'db1:5433', url: 'postgresql://tandem:p%40ss@db1:5433/ci?sslmode=disable' },
      { label: 'db2:5432', url: 'postgresql://tandem:p%40ss@db2:5432/ci?sslmode=disable' },
      { label: '[::1]:6000', url: 'postgresql://tandem:p%40ss@[::1]:6000/ci?sslmode=disable' },
    ]);
    assert.deepEqual(parsePostgresUrl('postgres://h/db'), [{ label: 'h:5432', url: 'postgres://h:5432/db' }]);
  });

  it('refuses a standby-only target and a bad host entry, naming it without the password', () => {
    assert.throws(
      () => parsePostgresUrl('postgresql://u:secret@h1,h2/db?target_session_attrs=standby'),
      (err: Error) => {
        assert.match(err.message, /target_session_attrs=standby is not supported: Tandem writes/);
        assert.doesNotMatch(err.message, /secret/);
        return true;
      },
    );
    assert.throws(() => parsePostgresUrl('postgresql://u:secret@h1,h2:99999/db'), /host 2 "h2:99999" is not host\[:port\]/);
  });
});

const skip = postgresSkipReason();

describe('PostgreSQL store', { skip }, () => {
  const server = postgresForFile(after);

  async function withStore<T>(fn: (store: Store, pg: PostgresServer) => Promise<T>): Promise<T> {
    const pg = await server();
    const store = await openStore(await pg.createDatabase());
    try {
      return await fn(store, pg);
    } finally {
      await store.close();
    }
  }

  /** The backend process id and port serving this store's connections, from inside a transaction. */
  async function backendOf(store: Store): Promise<{ pid: number; port: number }> {
    return store.transaction(
      async (trx) =>
        (await sql<{ pid: number; port: number }>`select pg_backend_pid() as pid, inet_server_port() as port`.execute(trx)).rows[0],
    );
  }

  it('refuses to open when no host is writable, naming each host and hiding the password', async () => {
    const started = Date.now();
    await assert.rejects(openStore('postgresql://u:secret@127.0.0.1:1,127.0.0.1:2/db', { retryForMs: 300 }), (err: Error) => {
      assert.ok(err instanceof StoreError);
      assert.match(
        err.message,
        /^database postgresql:\/\/u:\*\*\*@127\.0\.0\.1:1,127\.0\.0\.1:2\/db: no writable PostgreSQL host: 127\.0\.0\.1:1: connect ECONNREFUSED [^;]*; 127\.0\.0\.1:2: connect ECONNREFUSED/,
      );
      assert.doesNotMatch(err.message, /secret/);
      return true;
    });
    assert.ok(Date.now() - started < 3000);
  });

  it('re-runs a transaction whose connection was killed mid-way (a restart), applying it once', async () => {
    await withStore(async (store, pg) => {
      await backendOf(store);
      let attempts = 0;
      const id = await store.transaction(async (trx) => {
        attempts++;
        const row = await trx
          .insertInto('tokens')
          .values({ name: 'once', kind: 'admin', token_hash: 'h1', created_at: 1, last_used_at: null })
          .returning('id')
          .executeTakeFirstOrThrow();
        // pg_ctl restart -m fast terminates this session (57P01) and waits until the server is back.
        if (attempts === 1) await pg.restart();
        await trx.updateTable('tokens').set({ last_used_at: 2 }).where('id', '=', row.id).execute();
        return row.id;
      });
      assert.equal(attempts, 2);
      const rows = await store.db.selectFrom('tokens').selectAll().execute();
      assert.deepEqual(
        rows.map((r) => [r.id, r.name, r.last_used_at]),
        [[id, 'once', 2]],
      );
      // Later transactions use new connections to the restarted server.
      await backendOf(store);
    });
  });

  it('learns the outcome of a commit whose connection died, and re-runs it only when it did not commit', async () => {
    await withStore(async (store) => {
      // A deferred trigger runs during COMMIT; the first time, it kills its own session there.
      await sql`create sequence commit_kills`.execute(store.db);
      await sql
        .raw(
          `create function kill_first_commit() returns trigger language plpgsql as $$
           begin
             if nextval('commit_kills') = 1 then perform pg_terminate_backend(pg_backend_pid()); end if;
             return null;
           end $$`,
        )
        .execute(store.db);
      await sql`create constraint trigger kill_at_commit after insert on tokens deferrable initially deferred for each row execute function kill_first_commit()`.execute(
        store.db,
      );

      let attempts = 0;
      await store.transaction(async (trx) => {
        attempts++;
        await trx
          .insertInto('tokens')
          .values({ name: `try${attempts}`, kind: 'admin', token_hash: 'h', created_at: 1, last_used_at: null })
          .execute();
      });
      assert.equal(attempts, 2);
      assert.deepEqual(
        (await store.db.selectFrom('tokens').select('name').execute()).map((r) => r.name),
        ['try2'],
      );
    });
  });

  it('re-runs a transaction after a serialization failure, and does not re-run one that failed for good', async () => {
    await withStore(async (store) => {
      let attempts = 0;
      await store.transaction(async (trx) => {
        attempts++;
        await trx
          .insertInto('leases')
          .values({ name: 'l', holder: `h${attempts}`, epoch: 1, expires_at: 1 })
          .execute();
        if (attempts < 3) await sql`do $$ begin raise exception 'conflict' using errcode = '40001'; end $$`.execute(trx);
      });
      assert.equal(attempts, 3);
      assert.deepEqual(await store.db.selectFrom('leases').select('holder').execute(), [{ holder: 'h3' }]);

      let failures = 0;
      await assert.rejects(
        store.transaction(async (trx) => {
          failures++;
          await trx.insertInto('leases').values({ name: 'l', holder: 'dup', epoch: 1, expires_at: 1 }).execute();
        }),
        /duplicate key/,
      );
      assert.equal(failures, 1, 'a unique violation is not transient');
    });
  });

  it('a request that finds every pooled connection busy for the whole wait is refused as unavailable (503), not failed', async () => {
    const url = await (await server()).createDatabase();
    const store = await openStore(url, { poolSize: 1 });
    let release = () => undefined as void;
    const held = store.transaction(() => new Promise<void>((resolve) => (release = resolve)));
    try {
      await assert.rejects(
        store.db.selectFrom('repos').selectAll().execute(),
        (err: unknown) => err instanceof DomainError && err.kind === 'unavailable' && err.retryAfterSeconds === 1,
      );
    } finally {
      release();
      await held;
      await store.close();
    }
  });

  it('prepares statements per connection, and survives a migration that changes what they return', async () => {
    const url = await (await server()).createDatabase();
    const store = await openStore(url, { poolSize: 1 });
    // Another replica, of a newer release, migrating the same database.
    const other = new pg.Client({ connectionString: url });
    await other.connect();
    try {
      const repos = () => store.db.selectFrom('repos').selectAll().execute();
      await repos();
      const prepared = await sql<{ name: string }>`select name from pg_prepared_statements`.execute(store.db);
      assert.ok(
        prepared.rows.some((r) => r.name.startsWith('tandem_')),
        'statements sent through Kysely are prepared on the connection',
      );
      // `select *` now returns one more column: the prepared plan's result type is outdated.
      await other.query('alter table repos add column added_by_a_newer_release text');
      assert.deepEqual(await repos(), [], 'a statement outside a transaction is sent again, unnamed');
      await repos();
      await other.query('alter table repos add column added_again text');
      const inTransaction = await store.transaction((trx) => trx.selectFrom('repos').selectAll().execute());
      assert.deepEqual(inTransaction, [], 'a transaction is re-run on fresh connections');
    } finally {
      await other.end();
      await store.close();
    }
  });

  it('connects to the writable host of a multi-host URL, and finds the new primary after a failover', async () => {
    const primary = await startPostgres();
    const standby = await startPostgres({ standbyOf: primary });
    const readOnly = await startPostgres({ settings: { default_transaction_read_only: 'on' } });
    let store: Store | null = null;
    try {
      await primary.query('create database ha');
      const hosts = [readOnly, standby, primary].map((s) => `127.0.0.1:${s.port}`).join(',');
      store = await openStore(`postgresql://postgres@${hosts}/ha?target_session_attrs=read-write`);
      assert.equal((await backendOf(store)).port, primary.port, 'neither the standby nor the read-only server');
      await store.db
        .insertInto('tokens')
        .values({ name: 'before', kind: 'admin', token_hash: 'b', created_at: 1, last_used_at: null })
        .execute();

      // Wait until the standby has replayed everything, then fail over to it. The insert position, not
      // the write position: with synchronous_commit off the commit may still sit in WAL buffers.
      const [{ lsn }] = await primary.query<{ lsn: string }>('select pg_current_wal_insert_lsn()::text as lsn');
      for (let caughtUp = false; !caughtUp;) {
        [{ caughtUp }] = await standby.query<{ caughtUp: boolean }>(`select pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn as "caughtUp"`);
      }
      await primary.halt();
      await standby.promote();

      const id = await store.transaction(async (trx) => {
        const row = await trx
          .insertInto('tokens')
          .values({ name: 'after', kind: 'admin', token_hash: 'a', created_at: 2, last_used_at: null })
          .returning('id')
          .executeTakeFirstOrThrow();
        return row.id;
      });
      assert.equal((await backendOf(store)).port, standby.port);
      assert.deepEqual(
        (await store.db.selectFrom('tokens').select(['id', 'name']).orderBy('id').execute()).map((r) => r.name),
        ['before', 'after'],
      );
      assert.ok(id > 0);
    } finally {
      await store?.close();
      await Promise.all([primary.stop(), standby.stop(), readOnly.stop()]);
    }
  });
});
