// Pipeline schedules (issue 17, item 2): a cron pattern in an IANA timezone, the ref it runs and
// its variables (sealed JSON, like CI/CD variable values; their names kept plain for listings).
// The leader starts a due schedule by moving next_run_at from the due time to the next one in the
// pipeline's own transaction (src/schedules/run.ts), so the due time is claimed exactly once.
// A schedule whose owner lost access is made inactive, with the reason kept for people to read.
import type { Kysely } from 'kysely';
import type { StoreDialect } from '../dialect.js';
import { withId } from './id-column.js';

export async function up(db: Kysely<unknown>, dialect: StoreDialect): Promise<void> {
  const s = db.schema;
  await withId(s.createTable('schedules'), dialect)
    .addColumn('repo_id', 'bigint', (c) => c.notNull().references('repos.id').onDelete('cascade'))
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('cron', 'text', (c) => c.notNull())
    .addColumn('timezone', 'text', (c) => c.notNull().defaultTo('UTC'))
    .addColumn('ref', 'text', (c) => c.notNull())
    .addColumn('variables', 'text')
    .addColumn('variables_key_id', 'text', (c) => c.references('data_keys.id'))
    .addColumn('variable_keys', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('active', 'integer', (c) => c.notNull().defaultTo(1))
    // A deleted owner leaves null: the schedule is made inactive at its next due time.
    .addColumn('owner_user_id', 'bigint', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('next_run_at', 'bigint', (c) => c.notNull())
    .addColumn('last_run_at', 'bigint')
    .addColumn('last_pipeline_id', 'bigint', (c) => c.references('pipelines.id').onDelete('set null'))
    .addColumn('last_error', 'text')
    .addColumn('deactivated_reason', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await s.createIndex('schedules_repo').on('schedules').column('repo_id').execute();
  await s.createIndex('schedules_due').on('schedules').columns(['active', 'next_run_at']).execute();
}
