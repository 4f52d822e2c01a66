// The fencing token: strictly increasing across every claim of every job. PostgreSQL takes it from
// a sequence (nextval is atomic and never waits; jobs whose order matters, the deploys of one
// environment, are claimed one after another under their resource group's lock, so a later claim
// always draws a higher token). SQLite increments a counter row under the write lock the claim
// already holds.
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from '../../store/index.js';
import { isPostgres } from '../../store/index.js';

/**
 * The token for the claim's UPDATE to set: on PostgreSQL the sequence's nextval inside that
 * statement (no round trip of its own), on SQLite the counter incremented first.
 */
export async function nextFencingToken(trx: Kysely<Database>): Promise<number | RawBuilder<number>> {
  if (isPostgres(trx)) return sql<number>`nextval('fencing_tokens')`;
  const row = await trx
    .updateTable('counters')
    .set((eb) => ({ value: eb('value', '+', 1) }))
    .where('name', '=', 'fencing')
    .returning('value')
    .executeTakeFirstOrThrow();
  return Number(row.value);
}
