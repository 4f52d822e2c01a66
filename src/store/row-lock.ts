// A read that decides a write must not go stale before the write. On SQLite every transaction here
// holds the database's write lock from its start (BEGIN IMMEDIATE), so nothing can change in
// between (and SQLite has no FOR UPDATE). PostgreSQL runs READ COMMITTED transactions side by side,
// so the rows read to decide a write are locked with FOR UPDATE, which also re-reads each row's
// latest committed version.
import { PostgresAdapter, type Kysely } from 'kysely';
import type { Database } from './schema.js';

interface Lockable<QB> {
  forUpdate(): QB;
}

export function isPostgres(trx: Kysely<Database>): boolean {
  return trx.getExecutor().adapter instanceof PostgresAdapter;
}

export function forUpdate<QB extends Lockable<QB>>(trx: Kysely<Database>, qb: QB): QB {
  return isPostgres(trx) ? qb.forUpdate() : qb;
}

/** For sweeps (reaper, timeouts): rows another transaction is changing right now wait for the next sweep. */
export function forUpdateSkipLocked<QB extends Lockable<QB> & { skipLocked(): QB }>(trx: Kysely<Database>, qb: QB): QB {
  return isPostgres(trx) ? qb.forUpdate().skipLocked() : qb;
}
