// The agent holding a job stopped heartbeating, or its presence stream broke and it did not come
// back within the grace: the attempt fails with runner_system_failure and,
// while attempts remain, a new attempt is queued whatever the file's `retry` says (a lost agent is
// not the job's fault). A job someone asked to cancel ends canceled instead.
import { forUpdateSkipLocked, type Store } from '../../store/index.js';
import { advanceInTransaction } from '../advance.js';
import { ChangeLog, type StatusChange } from '../events.js';
import { finishLostJob } from './finish-job.js';

export interface ReapInput {
  now: number;
  /** Whether expired leases count (a new leader waits one lease period before it trusts them). */
  leases?: boolean;
  /** Jobs of agents whose presence stream broke before this time are lost too, whatever their lease. */
  disconnectedBefore?: number;
  /** Attempts a job gets when its agents keep disappearing. */
  maxSystemAttempts?: number;
}

export const DEFAULT_MAX_SYSTEM_ATTEMPTS = 2;

export interface ReapResult {
  reaped: { jobId: number; pipelineId: number; agentId: number | null; status: 'failed' | 'canceled'; retryJobId: number | null }[];
  changes: StatusChange[];
}

export async function reapExpiredLeases(store: Store, input: ReapInput): Promise<ReapResult> {
  const maxSystemAttempts = input.maxSystemAttempts ?? DEFAULT_MAX_SYSTEM_ATTEMPTS;
  return store.transaction(async (trx) => {
    const changes = new ChangeLog();
    // A job whose agent is completing it right now is skipped (locked): it is not lost after all.
    const { disconnectedBefore } = input;
    const expired = await forUpdateSkipLocked(
      trx,
      trx
        .selectFrom('jobs')
        .selectAll()
        .where('status', '=', 'running')
        .where((eb) =>
          eb.or([
            ...(input.leases === false ? [] : [eb('lease_expires_at', '<', input.now)]),
            ...(disconnectedBefore === undefined
              ? []
              : [
                  eb(
                    'agent_id',
                    'in',
                    eb
                      .selectFrom('agents')
                      .select('id')
                      .where('disconnected_at', 'is not', null)
                      .where('disconnected_at', '<', disconnectedBefore),
                  ),
                ]),
          ]),
        )
        .orderBy('id'),
    ).execute();
    const out: ReapResult['reaped'] = [];
    for (const job of expired) {
      const { status, retryJobId } = await finishLostJob(trx, job, input.now, maxSystemAttempts, changes);
      out.push({ jobId: job.id, pipelineId: job.pipeline_id, agentId: job.agent_id, status, retryJobId });
    }
    for (const pipelineId of new Set(expired.map((j) => j.pipeline_id))) {
      await advanceInTransaction(trx, pipelineId, input.now, changes);
    }
    return { reaped: out, changes: await changes.commit(trx, input.now) };
  });
}
