// The fencing token: one counter row incremented inside the claim's transaction, so tokens strictly
// increase across every claim of every job (on SQLite the claim holds the write lock; on PostgreSQL
// the row lock on the counter serializes the increments).
import type { Kysely } from 'kysely';
import type { Database } from '../../store/schema.js';

export async function nextFencingToken(trx: Kysely<Database>): Promise<number> {
  const row = await trx
    .updateTable('counters')
    .set((eb) => ({ value: eb('value', '+', 1) }))
    .where('name', '=', 'fencing')
    .returning('value')
    .executeTakeFirstOrThrow();
  return Number(row.value);
}
