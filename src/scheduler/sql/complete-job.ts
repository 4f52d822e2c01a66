// The agent reports the end of its attempt. Guarded by the fencing token; repeating the same
// completion with the same token is a no-op (the agent retries when a response is lost).
import type { Store } from '../../store/index.js';
import type { Job, JobStatus } from '../../store/index.js';
import { advanceInTransaction } from '../advance.js';
import { SchedulerError } from '../errors.js';
import { ChangeLog, type StatusChange } from '../events.js';
import { completionMovesNothing } from './completion-moves-nothing.js';
import { finishRunningJob, type Outcome } from './finish-job.js';
import { claimRefused, completedBy, holds, loadJob, type Claim } from './load-job.js';

export interface CompleteInput extends Claim {
  status: 'success' | 'failed' | 'canceled';
  exitCode: number | null;
  /** GitLab's failure reason for a failed job; defaults to script_failure. */
  failureReason?: string | null;
  now: number;
}

export interface CompleteResult {
  job: Job;
  /** The attempt queued by the retry policy, if any. */
  retryJobId: number | null;
  changes: StatusChange[];
}

/** A job the server asked to stop for its timeout failed by timeout, whatever the agent saw. */
function outcomeOf(job: Job, input: CompleteInput): Outcome {
  if (input.status !== 'success' && job.cancel_reason === 'timeout') {
    return { status: 'failed', exitCode: input.exitCode, failureReason: 'job_execution_timeout', completedToken: input.fencingToken };
  }
  const failureReason = input.status === 'failed' ? (input.failureReason ?? 'script_failure') : null;
  return { status: input.status, exitCode: input.exitCode, failureReason, completedToken: input.fencingToken };
}

const STATUSES: ReadonlySet<JobStatus> = new Set(['success', 'failed', 'canceled']);

export async function completeJob(store: Store, input: CompleteInput): Promise<CompleteResult> {
  if (!STATUSES.has(input.status))
    throw new SchedulerError('invalid', `complete: status must be success, failed or canceled, got ${String(input.status)}`);
  if (input.exitCode !== null && !Number.isInteger(input.exitCode))
    throw new SchedulerError('invalid', `complete: exitCode must be an integer or null, got ${input.exitCode}`);
  return store.transaction(async (trx) => {
    const changes = new ChangeLog();
    const job = await loadJob(trx, input.jobId);
    const outcome = outcomeOf(job, input);
    if (completedBy(job, input)) {
      if (job.status !== outcome.status || job.exit_code !== outcome.exitCode) {
        throw new SchedulerError(
          'conflict',
          `job ${job.id} was already completed as ${job.status} (exit code ${job.exit_code}) with this token`,
        );
      }
      const retry = await trx.selectFrom('jobs').select('id').where('retry_of', '=', job.id).executeTakeFirst();
      return { job, retryJobId: retry?.id ?? null, changes: [] };
    }
    if (!holds(job, input)) throw claimRefused(job);

    const { ended, retryJobId } = await finishRunningJob(trx, job, outcome, input.now, changes);
    // Most successes in a wide stage change nothing else: they then skip the pipeline's lock.
    if (!(ended.status === 'success' && (await completionMovesNothing(trx, job))))
      await advanceInTransaction(trx, job.pipeline_id, input.now, changes, [job]);
    // A new attempt flagged the row retried after it ended: only then is it read again.
    const row = retryJobId === null ? ended : await loadJob(trx, job.id);
    return { job: row, retryJobId, changes: await changes.commit(trx, input.now) };
  });
}
