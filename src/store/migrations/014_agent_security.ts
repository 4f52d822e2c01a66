// A per-job cap on the log the server stores (maxJobLogBytes): the bytes stored so far and whether
// the cap was reached live on the job row, so an append checks the cap without summing the log.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('jobs')
    .addColumn('log_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('jobs')
    .addColumn('log_truncated', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}
