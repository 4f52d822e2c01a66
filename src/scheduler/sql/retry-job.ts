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

export async function retryJob(store: Store, jobId: number, now: number): Promise<{ jobId: number; changes: StatusChange[] }> {
  return store.transaction(async (trx) => {
    const changes = new ChangeLog();
    const job = await loadJob(trx, jobId);
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
        `job ${jobId} was already retried; retry its latest attempt${latest ? ` (job ${latest.id})` : ''}`,
      );
    }
    if (job.status !== 'success' && job.status !== 'failed' && job.status !== 'canceled') {
      throw new SchedulerError(
        'conflict',
        `job ${jobId} cannot be retried while it is ${job.status}; only finished jobs (success, failed, canceled) can`,
      );
    }
    const when = readJobSpec(job).when;
    // Retrying is an explicit request to run: a manual or delayed job does not wait again.
    const playedAt = when === 'manual' || when === 'delayed' ? now : job.played_at;
    // The dependants to reset are read from the pipeline's jobs: no other advance may move them meanwhile.
    await lockPipeline(trx, job.pipeline_id);
    const id = await insertNewAttempt(trx, job, 'created', now, changes, playedAt);
    await resetSkippedDependants(trx, job, changes);
    await advanceInTransaction(trx, job.pipeline_id, now, changes);
    return { jobId: id, changes: await changes.commit(trx, now) };
  });
}
