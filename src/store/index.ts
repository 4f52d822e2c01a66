// The database: one Kysely handle over SQLite (embedded) or, with the HA work, PostgreSQL.
// Everything above this module writes dialect-neutral Kysely queries.
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, sql } from 'kysely';
import type { StoreDialect } from './dialect.js';
import { MIGRATION_NAMES, migrationProvider } from './migrations/index.js';
import type { Database } from './schema.js';
import { ImmediateSqliteDialect } from './sqlite-dialect.js';

export type { StoreDialect } from './dialect.js';
export * from './schema.js';
export { acquireInstanceLock, InstanceLockedError } from './instance-lock.js';
export type { InstanceLock, InstanceLockOptions } from './instance-lock.js';

export interface Store {
  db: Kysely<Database>;
  dialect: StoreDialect;
  /** The SQLite file (or `:memory:`), for messages. */
  location: string;
  close(): Promise<void>;
  /** On SQLite the write lock is taken when the transaction starts (BEGIN IMMEDIATE). */
  transaction<T>(fn: (trx: Kysely<Database>) => Promise<T>): Promise<T>;
}

export class StoreError extends Error {
  override name = 'StoreError';
}

const MIGRATION_TABLE = 'kysely_migration';

/** `PATH`, `sqlite:PATH`, `sqlite://PATH` or `:memory:`; `postgres(ql)://` is refused for now. */
function sqlitePath(url: string): string {
  if (/^postgres(ql)?:\/\//i.test(url)) {
    throw new StoreError(
      `database URL ${url.replace(/\/\/[^@/]*@/, '//***@')}: PostgreSQL is not supported yet: comes with the HA work; use a SQLite file path`,
    );
  }
  const path = url.replace(/^sqlite:(\/\/)?/i, '');
  if (path === '') throw new StoreError(`database URL "${url}": no SQLite file path given`);
  return path === ':memory:' ? path : resolve(path);
}

function openSqlite(path: string): BetterSqlite3.Database {
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const db = new BetterSqlite3(path, { timeout: 5000 });
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    db.pragma('synchronous = NORMAL');
    return db;
  } catch (err) {
    throw new StoreError(`cannot open SQLite database ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Refuses a database migrated by a newer Tandem: running old code on it could corrupt it. */
async function refuseNewerSchema(db: Kysely<Database>, location: string): Promise<void> {
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  if (!tables.some((t) => t.name === MIGRATION_TABLE)) return;
  const { rows } = await sql<{ name: string }>`select name from ${sql.table(MIGRATION_TABLE)} order by name`.execute(db);
  const known = new Set(MIGRATION_NAMES);
  const unknown = rows.map((r) => r.name).filter((n) => !known.has(n));
  if (unknown.length > 0) {
    throw new StoreError(
      `database ${location} was migrated by a newer Tandem (migration ${unknown.join(', ')} is unknown to this version, ` +
        `which knows up to ${MIGRATION_NAMES[MIGRATION_NAMES.length - 1]}); upgrade Tandem or restore a backup`,
    );
  }
}

async function migrate(db: Kysely<Database>, dialect: StoreDialect, location: string): Promise<void> {
  await refuseNewerSchema(db, location);
  const migrator = new Migrator({ db, provider: migrationProvider(dialect), migrationTableName: MIGRATION_TABLE });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new StoreError(`database ${location}: migration ${failed ?? ''} failed: ${(error as Error).message}`, { cause: error });
  }
}

/** Opens (creating if needed) the database and runs pending migrations. */
export async function openStore(url: string): Promise<Store> {
  const location = sqlitePath(url);
  const sqlite = openSqlite(location);
  const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: sqlite }) });
  const store: Store = {
    db,
    dialect: 'sqlite',
    location,
    close: () => db.destroy(),
    transaction: (fn) => db.transaction().execute(fn),
  };
  try {
    await migrate(db, store.dialect, location);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return store;
}
