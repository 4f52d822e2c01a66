// Blobs a removed repository may have been the last user of: its artifacts, test reports, job
// logs, caches and releases. Removing the repository queues their digests here in its own
// transaction, so none is forgotten if the server stops, and the leader's retention deletes each
// one no other row still lists (src/server/retention.ts), at its own pace.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('blob_sweeps')
    .addColumn('digest', 'text', (c) => c.primaryKey())
    .addColumn('queued_at', 'bigint', (c) => c.notNull())
    .execute();
}
