// Advancing a pipeline in O(changed) (issue 19): after a job changes, only the jobs that may move
// with it are read. Those are its dependants by `needs:` (job_needs answers "who needs X?" by name,
// so every attempt of X shares them) and the next stage's jobs once the earlier stages are done
// (jobs.has_needs tells stage-ordered jobs from DAG ones, indexes find the lowest unfinished stage
// and the statuses present without reading the pipeline's jobs). Existing jobs are filled in from
// their stored specs, so pipelines running across the upgrade advance the same way.
import { sql, type Kysely } from 'kysely';
import type { StoreDialect } from '../dialect.js';
import { withId } from './id-column.js';

const PAGE = 1000;

export async function up(db: Kysely<unknown>, dialect: StoreDialect): Promise<void> {
  const s = db.schema;
  await s
    .alterTable('jobs')
    .addColumn('has_needs', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await withId(s.createTable('job_needs'), dialect)
    .addColumn('pipeline_id', 'bigint', (c) => c.notNull().references('pipelines.id').onDelete('cascade'))
    // The job that waits, and the job it needs, by name within the pipeline.
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('need', 'text', (c) => c.notNull())
    .execute();
  await s.createIndex('job_needs_pipeline_need').on('job_needs').columns(['pipeline_id', 'need']).execute();
  await s.createIndex('jobs_pipeline_name').on('jobs').columns(['pipeline_id', 'name', 'retried']).execute();
  await s
    .createIndex('jobs_pipeline_status')
    .on('jobs')
    .columns(['pipeline_id', 'retried', 'status', 'allow_failure', 'stage_index'])
    .execute();

  for (let afterId = 0; ;) {
    const page = await sql<{ id: number; pipeline_id: number; name: string; spec: string }>`
      select id, pipeline_id, name, spec from jobs where retried = 0 and id > ${afterId} order by id limit ${PAGE}
    `.execute(db);
    for (const job of page.rows) {
      const needs = (JSON.parse(job.spec) as { needs?: { job: string }[] | null }).needs ?? null;
      if (needs === null) continue;
      await sql`update jobs set has_needs = 1 where id = ${job.id}`.execute(db);
      for (const need of needs) {
        await sql`insert into job_needs (pipeline_id, name, need) values (${job.pipeline_id}, ${job.name}, ${need.job})`.execute(db);
      }
    }
    if (page.rows.length < PAGE) break;
    afterId = Number(page.rows[page.rows.length - 1].id);
  }
}
