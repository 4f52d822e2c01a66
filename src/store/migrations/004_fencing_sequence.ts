// PostgreSQL hands out fencing tokens from a sequence: nextval never waits, where the counter row
// stayed locked by each claim until it committed and made every other claimer queue behind it
// (measured: bench/claims). The sequence continues where the counter stopped. SQLite keeps the
// counter: its claims hold the one write lock anyway.
import { sql, type Kysely } from 'kysely';
import type { StoreDialect } from '../dialect.js';

export async function up(db: Kysely<unknown>, dialect: StoreDialect): Promise<void> {
  if (dialect !== 'postgres') return;
  await sql`create sequence fencing_tokens as bigint minvalue 1`.execute(db);
  await sql`select setval('fencing_tokens', (select value + 1 from counters where name = 'fencing'), false)`.execute(db);
}
