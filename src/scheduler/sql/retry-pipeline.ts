// "Retry failed jobs" of a pipeline, as GitLab's POST /projects/:id/pipelines/:pipeline_id/retry
// (Ci::RetryPipelineService): every latest job that failed or was canceled gets a new attempt, the
// jobs skipped because of them become 'created' again, and the state machine runs the pipeline on
// from there. One transaction: either every job is retried or none is.
import type { Store } from '../../store/index.js';
import { advanceInTransaction, latestJobs, lockPipeline } from '../advance.js';
import { SchedulerError } from '../errors.js';
import { ChangeLog, type StatusChange } from '../events.js';
import { retryJobInTransaction } from './retry-job.js';

/** Whether a pipeline's "retry failed jobs" retries this job (a latest attempt that failed or was canceled). */
export function retriedWithPipeline(job: { status: string; retried: number }): boolean {
  return job.retried === 0 && (job.status === 'failed' || job.status === 'canceled');
}

export interface RetryPipelineInput {
  pipelineId: number;
  /**
   * The jobs the caller checked the rights of (retrying a deploy to a protected environment is
   * a maintainer's decision); when the jobs to retry are no longer exactly these, another change
   * came in between and the retry is refused rather than retrying a job nobody checked.
   */
  jobIds: readonly number[];
  now: number;
}

export async function retryPipeline(
  store: Store,
  input: RetryPipelineInput,
): Promise<{ retried: { from: number; to: number }[]; changes: StatusChange[] }> {
  return store.transaction(async (trx) => {
    const changes = new ChangeLog();
    // Job rows before the pipeline row, in the order a single job's retry and a completion lock them.
    const latest = await latestJobs(trx, input.pipelineId, { lock: true });
    await lockPipeline(trx, input.pipelineId);
    const targets = latest.filter(retriedWithPipeline);
    if (targets.length === 0) throw new SchedulerError('conflict', `pipeline ${input.pipelineId} has no failed or canceled jobs to retry`);
    const expected = new Set(input.jobIds);
    if (targets.length !== expected.size || targets.some((j) => !expected.has(j.id)))
      throw new SchedulerError('conflict', `the jobs of pipeline ${input.pipelineId} changed while retrying them; try again`);
    const retried: { from: number; to: number }[] = [];
    for (const job of targets) retried.push({ from: job.id, to: await retryJobInTransaction(trx, job, input.now, changes) });
    await advanceInTransaction(trx, input.pipelineId, input.now, changes);
    return { retried, changes: await changes.commit(trx, input.now) };
  });
}
