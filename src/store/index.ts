// The database: one Kysely handle over SQLite (embedded) or PostgreSQL (clustered).
// Everything above this module writes dialect-neutral Kysely queries; where the two must differ
// (row locks), the code branches on `store.dialect` visibly.
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, sql } from 'kysely';
import type { StoreDialect } from './dialect.js';
import { NewerSchemaError, StoreError } from './errors.js';
import { MIGRATION_NAMES, migrationProvider } from './migrations/index.js';
import type { Database } from './schema.js';
import { postgresNotifications, type Notifications } from './notifications.js';
import { connectPostgres, parsePostgresUrl, probeWritable, redactUrl, type PostgresOptions } from './postgres.js';
import { loadSchemaImage, saveSchemaImage } from './schema-image.js';

const NOTIFY_CHANNEL = 'tandem_events';
const OPEN_RETRY_MS = 2000;
import { ImmediateSqliteDialect } from './sqlite-dialect.js';

export type { StoreDialect } from './dialect.js';
export { MIGRATION_NAMES } from './migrations/index.js';
export { CorruptColumnError, NewerSchemaError, StoreError } from './errors.js';
export * from './columns.js';
export type { PostgresOptions, StoreObserver } from './postgres.js';
export * from './schema.js';
export type { StatusChange } from './status-change.js';
export { MAX_NOTIFY_PAYLOAD, type Notifications } from './notifications.js';
export { forUpdate, forUpdateSkipLocked, isPostgres } from './row-lock.js';
export { acquireInstanceLock, InstanceLockedError } from './instance-lock.js';
export type { InstanceLock, InstanceLockOptions } from './instance-lock.js';

export interface Store {
  db: Kysely<Database>;
  dialect: StoreDialect;
  /** The SQLite file (or `:memory:`), or the PostgreSQL URL without its password, for messages. */
  location: string;
  close(): Promise<void>;
  /**
   * On SQLite the write lock is taken when the transaction starts (BEGIN IMMEDIATE). On PostgreSQL
   * the transaction is READ COMMITTED (take row locks where a read decides a write), and transient
   * errors (a failover, a restart, a deadlock) re-run `fn` after a rollback, for about 10 s: `fn`
   * may run more than once, so it must keep its effects inside the transaction (collect results in
   * what it returns, not in outer variables).
   */
  transaction<T>(fn: (trx: Kysely<Database>) => Promise<T>): Promise<T>;
  /** Messages between server replicas (PostgreSQL LISTEN/NOTIFY); null for SQLite, which has one server. */
  notifications: Notifications | null;
  /** PostgreSQL: the writable host in use (host:port as in the URL), which a failover changes; SQLite: null. */
  host(): string | null;
}

const MIGRATION_TABLE = 'kysely_migration';

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

/** `PATH`, `sqlite:PATH`, `sqlite://PATH` or `:memory:`. */
export function sqlitePath(url: string): string {
  const path = url.replace(/^sqlite:(\/\/)?/i, '');
  if (path === '') throw new StoreError(`database URL "${url}": no SQLite file path given`);
  return path === ':memory:' ? path : resolve(path);
}

function openSqlite(path: string): BetterSqlite3.Database {
  try {
    if (path !== ':memory:') {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      // Created private before SQLite opens it; SQLite gives its WAL files the database's mode.
      closeSync(openSync(path, 'a', 0o600));
    }
    return configureSqlite(new BetterSqlite3(path, { timeout: 5000 }));
  } catch (err) {
    throw new StoreError(`cannot open SQLite database ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function configureSqlite(db: BetterSqlite3.Database): BetterSqlite3.Database {
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  db.pragma('synchronous = NORMAL');
  // A checkpoint runs inside whichever commit crosses this many WAL pages, and stops the event loop
  // while it copies them and syncs. At SQLite's default of 1,000, a burst of 2,000 jobs checkpointed
  // 63 times, 409 ms in all (bench/agents): the hot pages of `jobs` were copied again each time. At
  // 10,000 (a WAL of up to ~40 MB) it checkpointed 14 times, 257 ms in all.
  db.pragma('wal_autocheckpoint = 10000');
  return db;
}

/** Refuses a database migrated by a newer Tandem: running old code on it could corrupt it. */
async function refuseNewerSchema(db: Kysely<Database>, location: string): Promise<void> {
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  if (!tables.some((t) => t.name === MIGRATION_TABLE)) return;
  const { rows } = await sql<{ name: string }>`select name from ${sql.table(MIGRATION_TABLE)} order by name`.execute(db);
  const known = new Set(MIGRATION_NAMES);
  const unknown = rows.map((r) => r.name).filter((n) => !known.has(n));
  if (unknown.length > 0) {
    throw new NewerSchemaError(
      `database ${location} was migrated by a newer Tandem (migration ${unknown.join(', ')} is unknown to this version, ` +
        `which knows up to ${MIGRATION_NAMES[MIGRATION_NAMES.length - 1]}); upgrade Tandem or restore a backup`,
    );
  }
}

/** How far `openStore` migrates: 'latest' (the default), 'none', or up to and including a named migration. */
export type MigrateTo = 'latest' | 'none' | (string & {});

export interface OpenStoreOptions extends PostgresOptions {
  migrateTo?: MigrateTo;
  /**
   * `:memory:` only: where the migrated empty database is kept, so that the next store starts as a
   * copy of it instead of migrating (schema-image.ts). Ignored for files and PostgreSQL.
   */
  schemaImageDir?: string;
}

async function migrate(db: Kysely<Database>, dialect: StoreDialect, location: string, to: MigrateTo = 'latest'): Promise<void> {
  await refuseNewerSchema(db, location);
  if (to === 'none') return;
  if (to !== 'latest' && !MIGRATION_NAMES.includes(to))
    throw new StoreError(`migration "${to}" is unknown (known: ${MIGRATION_NAMES.join(', ')})`);
  const migrator = new Migrator({ db, provider: migrationProvider(dialect), migrationTableName: MIGRATION_TABLE });
  const { error, results } = to === 'latest' ? await migrator.migrateToLatest() : await migrator.migrateTo(to);
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new StoreError(`database ${location}: migration ${failed ?? ''} failed: ${(error as Error).message}`, { cause: error });
  }
}

async function openPostgres(url: string, options: OpenStoreOptions): Promise<Store> {
  // Fails fast when no host is writable (connections wait for one later, during a failover); the
  // server's start-up loop says so and tries again.
  try {
    await probeWritable(parsePostgresUrl(url));
  } catch (err) {
    throw new StoreError(`database ${redactUrl(url)}: ${(err as Error).message}`, { cause: err });
  }
  const pg = connectPostgres(url, options);
  const store: Store = {
    db: pg.db,
    dialect: 'postgres',
    location: pg.location,
    close: pg.close,
    transaction: pg.transaction,
    host: pg.host,
    notifications: postgresNotifications(url, NOTIFY_CHANNEL, async (payload) => {
      await pg.retrying(() => sql`select pg_notify(${NOTIFY_CHANNEL}, ${payload})`.execute(pg.db));
    }),
  };
  try {
    // Migrations run in one transaction each (PostgreSQL has transactional DDL) under Kysely's
    // advisory lock, so replicas starting together migrate once, and a failed try can be re-run.
    // Briefly: a server that cannot reach its database at start says so and keeps trying (src/server).
    await pg.retrying(
      () => migrate(pg.db, store.dialect, pg.location, options.migrateTo),
      Math.min(OPEN_RETRY_MS, options.retryForMs ?? OPEN_RETRY_MS),
    );
  } catch (err) {
    await pg.close();
    throw err;
  }
  return store;
}

/**
 * Opens (creating if needed) the database and runs pending migrations: a SQLite path (`PATH`,
 * `sqlite:PATH`, `:memory:`) or a PostgreSQL URL (`postgresql://` or `postgres://`, also with
 * several hosts: `postgresql://u:p@h1:5432,h2:5432/db`; Tandem uses whichever is writable).
 */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<Store> {
  if (isPostgresUrl(url)) return openPostgres(url, options);
  const location = sqlitePath(url);
  const imageDir = location === ':memory:' && (options.migrateTo ?? 'latest') === 'latest' ? options.schemaImageDir : undefined;
  const image = imageDir === undefined ? null : loadSchemaImage(imageDir);
  const sqlite = image ? configureSqlite(image) : openSqlite(location);
  const { observer } = options;
  const db = new Kysely<Database>({
    dialect: new ImmediateSqliteDialect(sqlite),
    log: observer ? (event) => observer.log(event) : undefined,
  });
  const store: Store = {
    db,
    dialect: 'sqlite',
    location,
    close: () => db.destroy(),
    transaction: (fn) => db.transaction().execute(fn),
    notifications: null,
    host: () => null,
  };
  try {
    if (!image) {
      await migrate(db, store.dialect, location, options.migrateTo);
      if (imageDir !== undefined) saveSchemaImage(imageDir, sqlite);
    }
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return store;
}

export { parsePostgresUrl, probeWritable, redactUrl } from './postgres.js';
