// Kysely's SQLite driver starts transactions with a plain BEGIN, which takes the write lock only at
// the first write. A read-then-write transaction (claim a job, check a fencing token) could then
// interleave with another connection and fail with SQLITE_BUSY mid-way, or act on a stale read.
// BEGIN IMMEDIATE takes the write lock up front, so such transactions are serialized across
// connections and processes (busy_timeout makes the second one wait instead of failing).
// Kysely also prepares every query it runs, and better-sqlite3 compiles a statement on each
// prepare: the same few hundred statements make up all of Tandem's queries, so they are kept.
import type BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, SqliteDialect, SqliteDriver } from 'kysely';
import type { DatabaseConnection, Driver, SqliteDatabase, SqliteDialectConfig } from 'kysely';

/** Statements kept per database; past it the oldest is dropped (it is only compiled again). */
const CACHED_STATEMENTS = 1000;

/** The database with its prepared statements reused; a statement still being iterated is not shared. */
function withStatementCache(db: BetterSqlite3.Database): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => db.close(),
    prepare(sql) {
      const hit = cache.get(sql);
      if (hit && !hit.busy) return hit;
      const statement = db.prepare(sql);
      if (!hit) {
        if (cache.size >= CACHED_STATEMENTS) cache.delete(cache.keys().next().value as string);
        cache.set(sql, statement);
      }
      return statement;
    },
  };
}

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

export class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;

  constructor(database: BetterSqlite3.Database) {
    const config: SqliteDialectConfig = { database: withStatementCache(database) };
    super(config);
    this.#config = config;
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config);
  }
}
