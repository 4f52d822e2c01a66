// Which release each host of an environment runs (issue 20): the deploying agent reports a host
// each time one of its activations, rollbacks or traffic switches lands, so a canary paused on one
// of three hosts shows one host on the new release and two on the old. One row per host and
// environment, replaced by each report; it goes with the environment.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('environment_hosts')
    .addColumn('environment_id', 'bigint', (c) => c.notNull().references('environments.id').onDelete('cascade'))
    .addColumn('host', 'text', (c) => c.notNull())
    .addColumn('release_id', 'bigint', (c) => c.notNull().references('releases.id').onDelete('cascade'))
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('environment_hosts_pkey', ['environment_id', 'host'])
    .execute();
}
