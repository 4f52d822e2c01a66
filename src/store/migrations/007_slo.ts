// Tandem's own SLI counts, so a server can evaluate its built-in SLOs without Prometheus: each
// replica adds the bad and total events it counted to the current minute's row, and the windows
// (5 minutes to 30 days) are sums over rows. Shared by replicas and kept across restarts.
// DORA's lead time looks up the first pipeline of a deployed commit: by repository and sha.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('sli_counts')
    .addColumn('sli', 'text', (c) => c.notNull())
    // Start of the minute, epoch milliseconds.
    .addColumn('bucket', 'bigint', (c) => c.notNull())
    .addColumn('errors', 'bigint', (c) => c.notNull())
    .addColumn('total', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('sli_counts_pk', ['sli', 'bucket'])
    .execute();
  await db.schema.createIndex('pipelines_repo_sha').on('pipelines').columns(['repo_id', 'sha']).execute();
}
