// Trigger jobs (`trigger:`) run on the server: the job is started when its downstream pipeline is
// stored (same transaction), and with `strategy: depend` it ends as that pipeline ends
// (https://docs.gitlab.com/ee/ci/yaml/#triggerstrategy). No agent ever claims one (`is_trigger`).
import type { Kysely } from 'kysely';
import { forUpdate } from '../../store/index.js';
import type { Database, Job, JobStatus, JobUpdate, PipelineStatus } from '../../store/index.js';
import { readJobSpec } from '../columns.js';
import { SchedulerError } from '../errors.js';
import type { ChangeLog } from '../events.js';

/** GitLab's reason when the downstream pipeline could not be made (unknown project, invalid file, rules). */
export const DOWNSTREAM_CREATION_FAILED = 'downstream_pipeline_creation_failed';
/** A `strategy: depend` job whose downstream pipeline failed. */
export const DOWNSTREAM_FAILED = 'downstream_pipeline_failed';

export async function lockPendingTrigger(trx: Kysely<Database>, jobId: number): Promise<Job> {
  const job = await forUpdate(trx, trx.selectFrom('jobs').selectAll().where('id', '=', jobId)).executeTakeFirst();
  if (!job || job.is_trigger !== 1) throw new SchedulerError('not_found', `trigger job ${jobId} not found`);
  // Another replica (or an earlier sweep) started it, or it was canceled meanwhile.
  if (job.status !== 'pending') throw new SchedulerError('conflict', `trigger job ${jobId} is ${job.status}, not pending`);
  return job;
}

export async function setJob(trx: Kysely<Database>, job: Job, status: JobStatus, set: JobUpdate, changes: ChangeLog): Promise<void> {
  await trx
    .updateTable('jobs')
    .set({ status, ...set })
    .where('id', '=', job.id)
    .execute();
  changes.job(job, status);
}

/**
 * Starts a trigger job whose downstream pipeline is being stored in `trx`: it runs until that
 * pipeline ends with `strategy: depend`, else it succeeds now (the pipeline was created). A
 * downstream pipeline stored failed (its file did not compile) fails the job either way.
 */
export async function startTriggerJob(
  trx: Kysely<Database>,
  jobId: number,
  downstreamFailed: boolean,
  now: number,
  changes: ChangeLog,
): Promise<void> {
  const job = await lockPendingTrigger(trx, jobId);
  if (downstreamFailed) {
    await setJob(trx, job, 'failed', { started_at: now, finished_at: now, failure_reason: DOWNSTREAM_CREATION_FAILED }, changes);
  } else if (readJobSpec(job).trigger?.depend) {
    await setJob(trx, job, 'running', { started_at: now }, changes);
  } else {
    await setJob(trx, job, 'success', { started_at: now, finished_at: now }, changes);
  }
}

const MIRRORED: Partial<Record<PipelineStatus, JobStatus>> = {
  success: 'success',
  failed: 'failed',
  canceled: 'canceled',
  skipped: 'skipped',
};

/**
 * A downstream pipeline ended: its `strategy: depend` trigger job (still running) takes its status.
 * Returns the trigger job's pipeline, which the caller advances, or null when nothing changed.
 */
export async function mirrorDownstream(
  trx: Kysely<Database>,
  triggerJobId: number,
  status: PipelineStatus,
  now: number,
  changes: ChangeLog,
): Promise<number | null> {
  const next = MIRRORED[status];
  if (next === undefined) return null;
  const job = await trx.selectFrom('jobs').selectAll().where('id', '=', triggerJobId).executeTakeFirst();
  if (!job || job.status !== 'running') return null;
  const set: JobUpdate = { status: next, finished_at: now };
  if (next === 'failed') set.failure_reason = DOWNSTREAM_FAILED;
  const res = await trx.updateTable('jobs').set(set).where('id', '=', job.id).where('status', '=', 'running').executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) return null;
  changes.job(job, next);
  return job.pipeline_id;
}
