// Whether a successful completion can leave its pipeline as it is, without advancing it. Advancing
// takes the pipeline's row lock, so on PostgreSQL the completions of one pipeline queue behind each
// other; a burst of 2,000 jobs in one stage then ends no faster than one completion at a time.
//
// A job that succeeds changes nothing else while an earlier or same-stage job of its pipeline is
// still pending or running and no job `needs` it: the later stages wait for that sibling, the
// pipeline stays running (a running or pending job with a finished one beside it, rules.ts's
// pipelineStatus), and the sibling's own end advances the pipeline. The sibling must still be
// unfinished when this transaction commits: on PostgreSQL it is held FOR SHARE, so whatever ends it
// (its completion, a cancel, the reaper) waits for this commit and then sees this job finished.
// Siblings other transactions hold are skipped (SKIP LOCKED), so this never waits: of two last
// jobs completing together, each skips the other and both take the pipeline's lock, one after the
// other. SQLite's transactions run one at a time (BEGIN IMMEDIATE), so a plain read is enough.
import { sql, type Kysely } from 'kysely';
import { isPostgres, type Database, type Job } from '../../store/index.js';

export async function completionMovesNothing(
  trx: Kysely<Database>,
  job: Pick<Job, 'id' | 'pipeline_id' | 'name' | 'stage_index'>,
): Promise<boolean> {
  const postgres = isPostgres(trx);
  // Jobs are claimed oldest first, so the oldest of a stage finish first: a walk of the stage in id
  // order (jobs_pipeline_stage, which SQLite prefers) passed every finished job before it met an
  // unfinished one, ~1,000 rows per completion in a 2,000-job stage. jobs_pipeline_status goes
  // straight to the pending and running ones.
  const { rows } = await sql<{ id: number }>`
    select jobs.id from jobs ${postgres ? sql`` : sql`indexed by jobs_pipeline_status`}
    where jobs.pipeline_id = ${job.pipeline_id}
      and jobs.retried = 0
      and jobs.status in ('pending', 'running')
      and jobs.stage_index <= ${job.stage_index}
      and jobs.id <> ${job.id}
      and not exists (select 1 from job_needs where job_needs.pipeline_id = ${job.pipeline_id} and job_needs.need = ${job.name})
    limit 1
    ${postgres ? sql`for share of jobs skip locked` : sql``}
  `.execute(trx);
  return rows.length > 0;
}
