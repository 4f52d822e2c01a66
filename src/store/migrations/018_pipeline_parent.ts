// Downstream pipelines (issue 16, `trigger:`): a child or multi-project pipeline records the
// pipeline and the trigger job that started it. The unique index lets one replica only create the
// downstream pipeline of a trigger job (NULLs, every other pipeline, never collide). Trigger jobs
// are marked so that no agent claims them: the server runs them.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('pipelines').addColumn('parent_pipeline_id', 'integer').execute();
  await db.schema.alterTable('pipelines').addColumn('trigger_job_id', 'integer').execute();
  await db.schema.createIndex('pipelines_parent').on('pipelines').column('parent_pipeline_id').execute();
  await db.schema.createIndex('pipelines_trigger_job').unique().on('pipelines').column('trigger_job_id').execute();
  await db.schema
    .alterTable('jobs')
    .addColumn('is_trigger', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}
