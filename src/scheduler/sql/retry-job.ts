// A user retries a finished job: a new attempt is created and the jobs that were skipped because
// of the old outcome are reset to 'created', so the state machine decides them again.
import type { Kysely } from 'kysely';
import type { Store } from '../../store/index.js';
import type { Database, Job } from '../../store/index.js';
import { advanceInTransaction, latestJobs, lockPipeline, walkInDependencyOrder } from '../advance.js';
import { readJobSpec } from '../columns.js';
import { SchedulerError } from '../errors.js';
import { ChangeLog, type StatusChange } from '../events.js';
import { loadJob } from './load-job.js';
import { insertNewAttempt } from './new-attempt.js';

/** The statuses a user may retry a job in: it finished, one way or another. */
const RETRYABLE = new Set<Job['status']>(['success', 'failed', 'canceled']);

async function resetSkippedDependants(trx: Kysely<Database>, retried: Job, changes: ChangeLog): Promise<void> {
  const latest = await latestJobs(trx, retried.pipeline_id);
  const downstream = new Set<number>(latest.filter((j) => j.name === retried.name).map((j) => j.id));
  walkInDependencyOrder(
    latest,
    false,
    (any, j) => any || downstream.has(j.id),
    (job, _spec, waitsOnDownstream) => {
      if (waitsOnDownstream) downstream.add(job.id);
    },
  );
  for (const job of latest) {
    if (job.status !== 'skipped' || !downstream.has(job.id)) continue;
    const res = await trx
      .updateTable('jobs')
      .set({ status: 'created', finished_at: null })
      .where('id', '=', job.id)
      .where('status', '=', 'skipped')
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 1) changes.job(job, 'created');
  }
}

/**
 * Retries one job inside the caller's transaction, which must have locked the job's row
 * (loadJob) and its pipeline (lockPipeline) and advances the pipeline afterwards: a pipeline's
 * "retry failed jobs" runs this once per job and advances once. Returns the new attempt's id.
 */
export async function retryJobInTransaction(trx: Kysely<Database>, job: Job, now: number, changes: ChangeLog): Promise<number> {
  if (job.retried === 1) {
    const latest = await trx
      .selectFrom('jobs')
      .select('id')
      .where('pipeline_id', '=', job.pipeline_id)
      .where('name', '=', job.name)
      .where('retried', '=', 0)
      .executeTakeFirst();
    throw new SchedulerError(
      'conflict',
      `job ${job.id} was already retried; retry its latest attempt${latest ? ` (job ${latest.id})` : ''}`,
    );
  }
  if (!RETRYABLE.has(job.status)) {
    throw new SchedulerError(
      'conflict',
      `job ${job.id} cannot be retried while it is ${job.status}; only finished jobs (success, failed, canceled) can`,
    );
  }
  const when = readJobSpec(job).when;
  // Retrying is an explicit request to run: a manual or delayed job does not wait again.
  const playedAt = when === 'manual' || when === 'delayed' ? now : job.played_at;
  const id = await insertNewAttempt(trx, job, 'created', now, changes, playedAt);
  await resetSkippedDependants(trx, job, changes);
  return id;
}

export async function retryJob(store: Store, jobId: number, now: number): Promise<{ jobId: number; changes: StatusChange[] }> {
  return store.transaction(async (trx) => {
    const changes = new ChangeLog();
    const job = await loadJob(trx, jobId);
    // The dependants to reset are read from the pipeline's jobs: no other advance may move them meanwhile.
    await lockPipeline(trx, job.pipeline_id);
    const id = await retryJobInTransaction(trx, job, now, changes);
    await advanceInTransaction(trx, job.pipeline_id, now, changes);
    return { jobId: id, changes: await changes.commit(trx, now) };
  });
}
