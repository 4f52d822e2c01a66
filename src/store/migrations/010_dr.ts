// Disaster recovery: every backup made (by the leader's schedule or `tandem backup create`) and
// every drill, so any replica can export their age and results as metrics, and operators can list
// them without reading the backup destination. The backups themselves live at their destination.
import type { Kysely } from 'kysely';
import type { StoreDialect } from '../dialect.js';
import { withId } from './id-column.js';

export async function up(db: Kysely<unknown>, dialect: StoreDialect): Promise<void> {
  await db.schema
    .createTable('backups')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('destination', 'text', (c) => c.notNull())
    // running | success | failed
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('finished_at', 'bigint')
    // When the database snapshot was taken: data written later is not in the backup.
    .addColumn('snapshot_at', 'bigint')
    .addColumn('bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('bytes_copied', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('blobs', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('blobs_copied', 'bigint', (c) => c.notNull().defaultTo(0))
    // A replica id for scheduled backups, `cli` for tandem backup create.
    .addColumn('made_by', 'text', (c) => c.notNull())
    .addColumn('error', 'text')
    .execute();
  await db.schema.createIndex('backups_destination_finished').on('backups').columns(['destination', 'finished_at']).execute();

  await withId(db.schema.createTable('dr_drills'), dialect)
    .addColumn('backup_id', 'text')
    .addColumn('destination', 'text', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('finished_at', 'bigint', (c) => c.notNull())
    .addColumn('ok', 'integer', (c) => c.notNull())
    // Drill start until the restored instance answered /readyz.
    .addColumn('rto_ms', 'bigint')
    // Drill start minus the backup's snapshot: what a disaster at that moment would have lost.
    .addColumn('rpo_ms', 'bigint')
    .addColumn('error', 'text')
    // JSON: the drill's report (steps, counts, timings).
    .addColumn('report', 'text', (c) => c.notNull())
    .execute();
}
