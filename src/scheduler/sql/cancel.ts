// Jobs that have not started are canceled at once; running ones are asked to stop (the agent sees
// cancel_requested on its next heartbeat, kills the process tree and completes as canceled).
import type { Kysely } from 'kysely';
import type { Store } from '../../store/index.js';
import type { Database, Job, JobStatus } from '../../store/index.js';
import { advanceInTransaction, latestJobs } from '../advance.js';
import { SchedulerError } from '../errors.js';
import { ChangeLog, type StatusChange } from '../events.js';
import { loadJob } from './load-job.js';

const NOT_STARTED: readonly JobStatus[] = ['created', 'pending', 'manual', 'scheduled'];

export async function cancelJobsInTransaction(trx: Kysely<Database>, jobs: Job[], now: number, changes: ChangeLog): Promise<void> {
  for (const job of jobs) {
    // A running trigger job has no agent to stop: it waits for its downstream pipeline, canceled after this one.
    if (NOT_STARTED.includes(job.status) || (job.status === 'running' && job.is_trigger === 1)) {
      const res = await trx
        .updateTable('jobs')
        .set({ status: 'canceled', finished_at: now })
        .where('id', '=', job.id)
        .where('status', '=', job.status)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 1) changes.job(job, 'canceled');
    } else if (job.status === 'running') {
      await trx
        .updateTable('jobs')
        .set({ cancel_requested: 1, cancel_reason: 'user' })
        .where('id', '=', job.id)
        .where('status', '=', 'running')
        .where('cancel_requested', '=', 0)
        .execute();
    }
  }
}

/** Cancels a job; a trigger job's downstream pipeline is canceled with it (after, as cancelPipeline does). */
export async function cancelJob(store: Store, jobId: number, now: number): Promise<{ changes: StatusChange[] }> {
  const { changes } = await cancelOneJob(store, jobId, now);
  const downstream = await store.db.selectFrom('pipelines').select('id').where('trigger_job_id', '=', jobId).executeTakeFirst();
  if (downstream) changes.push(...(await cancelPipeline(store, downstream.id, now)).changes);
  return { changes };
}

async function cancelOneJob(store: Store, jobId: number, now: number): Promise<{ changes: StatusChange[] }> {
  return store.transaction(async (trx) => {
    const changes = new ChangeLog();
    const job = await loadJob(trx, jobId);
    if (job.status === 'canceled') return { changes: [] };
    if (job.status !== 'running' && !NOT_STARTED.includes(job.status))
      throw new SchedulerError('conflict', `job ${jobId} cannot be canceled: it already finished (${job.status})`);
    await cancelJobsInTransaction(trx, [job], now, changes);
    await advanceInTransaction(trx, job.pipeline_id, now, changes);
    return { changes: await changes.commit(trx, now) };
  });
}

/**
 * Cancels the pipeline, then its downstream pipelines (GitLab cancels child and multi-project
 * pipelines with their parent), each in its own transaction: locks are always taken child first
 * when a child's end reaches its parent, so a parent's transaction never waits on a child's.
 */
export async function cancelPipeline(store: Store, pipelineId: number, now: number): Promise<{ changes: StatusChange[] }> {
  const { changes } = await cancelOnePipeline(store, pipelineId, now);
  const downstream = await store.db
    .selectFrom('pipelines')
    .select('id')
    .where('parent_pipeline_id', '=', pipelineId)
    .where('status', 'not in', ['success', 'failed', 'canceled', 'skipped'])
    .execute();
  for (const child of downstream) changes.push(...(await cancelPipeline(store, child.id, now)).changes);
  return { changes };
}

async function cancelOnePipeline(store: Store, pipelineId: number, now: number): Promise<{ changes: StatusChange[] }> {
  return store.transaction(async (trx) => {
    const changes = new ChangeLog();
    const exists = await trx.selectFrom('pipelines').select('id').where('id', '=', pipelineId).executeTakeFirst();
    if (!exists) throw new SchedulerError('not_found', `pipeline ${pipelineId} not found`);
    // Locked, so a job claimed meanwhile is seen running and asked to stop instead of being missed.
    await cancelJobsInTransaction(trx, await latestJobs(trx, pipelineId, { lock: true }), now, changes);
    await advanceInTransaction(trx, pipelineId, now, changes);
    return { changes: await changes.commit(trx, now) };
  });
}
