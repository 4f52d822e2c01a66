// The agent reports the end of its attempt. Guarded by the fencing token; repeating the same
// completion with the same token is a no-op (the agent retries when a response is lost).
import type { Store } from '../../store/index.js';
import type { Job, JobStatus } from '../../store/index.js';
import { advanceInTransaction } from '../advance.js';
import { SchedulerError } from '../errors.js';
import { ChangeLog, type StatusChange } from '../events.js';
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

/** One completion's answer in a batch: its result, or the refusal that concerns it alone. */
export type CompletionOutcome = { ok: true; result: CompleteResult } | { ok: false; error: unknown };

function invalid(input: CompleteInput): SchedulerError | null {
  if (!STATUSES.has(input.status))
    return new SchedulerError('invalid', `complete: status must be success, failed or canceled, got ${String(input.status)}`);
  if (input.exitCode !== null && !Number.isInteger(input.exitCode))
    return new SchedulerError('invalid', `complete: exitCode must be an integer or null, got ${input.exitCode}`);
  return null;
}

export async function completeJob(store: Store, input: CompleteInput): Promise<CompleteResult> {
  const [outcome] = await completeJobs(store, [input]);
  if (!outcome.ok) throw outcome.error;
  return outcome.result;
}

/**
 * Several completions in one transaction, and each pipeline advanced once for all of its jobs among
 * them: the completions of a burst that wait for one pipeline's lock commit together instead of
 * one after another (src/server/agent-writes.ts). A refusal (a stale token, an unknown job) is that
 * completion's answer and leaves the others be; an error of the database fails them all.
 */
export async function completeJobs(store: Store, inputs: readonly CompleteInput[]): Promise<CompletionOutcome[]> {
  const outcomes: (CompletionOutcome | null)[] = inputs.map((input) => {
    const error = invalid(input);
    return error ? { ok: false, error } : null;
  });
  if (outcomes.every((o) => o !== null)) return outcomes;
  return store.transaction(async (trx) => {
    const changes = new ChangeLog();
    const ended: { index: number; job: Job; row: Job; retryJobId: number | null }[] = [];
    for (const [index, input] of inputs.entries()) {
      if (outcomes[index] !== null) continue;
      let job: Job;
      try {
        job = await loadJob(trx, input.jobId);
      } catch (err) {
        if (!(err instanceof SchedulerError)) throw err;
        outcomes[index] = { ok: false, error: err };
        continue;
      }
      const outcome = outcomeOf(job, input);
      if (completedBy(job, input)) {
        if (job.status !== outcome.status || job.exit_code !== outcome.exitCode) {
          const error = new SchedulerError(
            'conflict',
            `job ${job.id} was already completed as ${job.status} (exit code ${job.exit_code}) with this token`,
          );
          outcomes[index] = { ok: false, error };
          continue;
        }
        const retry = await trx.selectFrom('jobs').select('id').where('retry_of', '=', job.id).executeTakeFirst();
        outcomes[index] = { ok: true, result: { job, retryJobId: retry?.id ?? null, changes: [] } };
        continue;
      }
      if (!holds(job, input)) {
        outcomes[index] = { ok: false, error: claimRefused(job) };
        continue;
      }
      const { ended: row, retryJobId } = await finishRunningJob(trx, job, outcome, input.now, changes);
      ended.push({ index, job, row, retryJobId });
    }
    const now = Math.max(...inputs.map((i) => i.now));
    for (const pipelineId of new Set(ended.map((e) => e.job.pipeline_id))) {
      const touched = ended.filter((e) => e.job.pipeline_id === pipelineId).map((e) => e.job);
      await advanceInTransaction(trx, pipelineId, now, changes, touched);
    }
    // A new attempt flagged the row retried after it ended: only then is it read again.
    for (const e of ended) {
      const job = e.retryJobId === null ? e.row : await loadJob(trx, e.job.id);
      outcomes[e.index] = { ok: true, result: { job, retryJobId: e.retryJobId, changes: [] } };
    }
    const committed = await changes.commit(trx, now);
    // The status changes are the batch's: its first ended completion carries them, to be published once.
    if (ended.length > 0) {
      const first = outcomes[ended[0].index];
      if (first?.ok) first.result.changes = committed;
    }
    return outcomes.map((o) => o!);
  });
}
