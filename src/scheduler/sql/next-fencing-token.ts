// The fencing token: strictly increasing across every claim of every job. PostgreSQL takes it from
// a sequence (nextval is atomic and never waits; jobs whose order matters, the deploys of one
// environment, are claimed one after another under their resource group's lock, so a later claim
// always draws a higher token). SQLite increments a counter row under the write lock the claim
// already holds.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../../store/index.js';
import { isPostgres } from '../../store/index.js';

export async function nextFencingToken(trx: Kysely<Database>): Promise<number> {
  if (isPostgres(trx)) {
    const { rows } = await sql<{ token: string }>`select nextval('fencing_tokens') as token`.execute(trx);
    return Number(rows[0].token);
  }
  const row = await trx
    .updateTable('counters')
    .set((eb) => ({ value: eb('value', '+', 1) }))
    .where('name', '=', 'fencing')
    .returning('value')
    .executeTakeFirstOrThrow();
  return Number(row.value);
}
