// A job handed out reads the finished jobs of earlier stages of its pipeline (their artifacts and
// dotenv variables). With an index of (pipeline_id, retried) only, that read walked every job of
// the pipeline, so each job of a 2,000-job stage cost a scan of 2,000 rows. The index gains
// stage_index and serves the earlier-stages read as a range; it still serves every query of the
// index it replaces, which is its prefix.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('jobs_pipeline_stage').on('jobs').columns(['pipeline_id', 'retried', 'stage_index']).execute();
  await db.schema.dropIndex('jobs_pipeline_id').execute();
}
