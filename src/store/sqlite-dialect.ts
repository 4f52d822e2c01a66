// Kysely's SQLite driver starts transactions with a plain BEGIN, which takes the write lock only at
// the first write. A read-then-write transaction (claim a job, check a fencing token) could then
// interleave with another connection and fail with SQLITE_BUSY mid-way, or act on a stale read.
// BEGIN IMMEDIATE takes the write lock up front, so such transactions are serialized across
// connections and processes (busy_timeout makes the second one wait instead of failing).
import { CompiledQuery, SqliteDialect, SqliteDriver } from 'kysely';
import type { DatabaseConnection, Driver, SqliteDialectConfig } from 'kysely';

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

export class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;

  constructor(config: SqliteDialectConfig) {
    super(config);
    this.#config = config;
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config);
  }
}
