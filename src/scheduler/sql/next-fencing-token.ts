// The fencing token: one counter row incremented inside the claim's transaction, so tokens strictly
// increase across every claim of every job. On SQLite the claim holds the write lock. On PostgreSQL
// the UPDATE ... RETURNING locks the counter row until the claim commits, so the next claimer reads
// the committed value and increments past it (a read-then-write here could hand out a token twice).
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
