// Ends a running attempt (reported by its agent, or decided by the server for a lost agent or a
// timeout) and queues the next attempt when the retry policy says so.
import type { Kysely } from 'kysely';
import type { Database, Job } from '../../store/schema.js';
import { parseSpec } from '../advance.js';
import { StaleTokenError } from '../errors.js';
import type { ChangeLog } from '../events.js';
import { failureAllowed, retryAllowed } from '../rules.js';
import { insertNewAttempt } from './new-attempt.js';

export interface Outcome {
  status: 'success' | 'failed' | 'canceled';
  exitCode: number | null;
  failureReason: string | null;
  /** The agent's token when the agent reported it; null when the server decided. */
  completedToken: number | null;
  /** Requeue regardless of the file's `retry` (a lost agent is not the job's fault). */
  forceRetry?: boolean;
}

/** Returns the id of the new attempt, if one was queued. */
export async function finishRunningJob(trx: Kysely<Database>, job: Job, outcome: Outcome, now: number, changes: ChangeLog): Promise<number | null> {
  const spec = parseSpec(job);
  const allowFailure = outcome.status === 'failed' ? failureAllowed(spec, outcome.exitCode) : spec.allowFailure;
  const res = await trx
    .updateTable('jobs')
    .set({
      status: outcome.status,
      exit_code: outcome.exitCode,
      failure_reason: outcome.status === 'failed' ? outcome.failureReason : null,
      allow_failure: allowFailure ? 1 : 0,
      completed_token: outcome.completedToken,
      lease_expires_at: null,
      finished_at: now,
    })
    .where('id', '=', job.id)
    .where('status', '=', 'running')
    .where('fencing_token', '=', job.fencing_token)
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) throw new StaleTokenError(job.id, 'the job changed while finishing');
  changes.job(job, outcome.status);

  if (outcome.status !== 'failed') return null;
  const reason = outcome.failureReason ?? 'unknown_failure';
  if (outcome.forceRetry || retryAllowed(spec.retry, job.attempt, reason, outcome.exitCode)) {
    return insertNewAttempt(trx, job, 'pending', now, changes);
  }
  return null;
}
