// The server enforces job timeouts itself rather than trusting the agent: past its deadline a job is
// asked to stop (the agent sees cancel_requested on its next heartbeat and kills the process tree);
// if the agent has not completed it after a grace period, the job fails by timeout anyway.
import { forUpdateSkipLocked, type Store } from '../../store/index.js';
import { advanceInTransaction } from '../advance.js';
import { ChangeLog, type StatusChange } from '../events.js';
import { finishRunningJob } from './finish-job.js';

export interface TimeoutResult {
  /** Jobs just asked to stop. */
  cancelRequested: number[];
  /** Jobs failed with job_execution_timeout because their agent did not stop them in time. */
  failed: { jobId: number; retryJobId: number | null }[];
  changes: StatusChange[];
}

export async function enforceTimeouts(store: Store, now: number, options: { graceMs?: number } = {}): Promise<TimeoutResult> {
  const graceMs = options.graceMs ?? 15_000;
  return store.transaction(async (trx) => {
    const changes = new ChangeLog();
    const overdue = await trx
      .updateTable('jobs')
      .set({ cancel_requested: 1, cancel_reason: 'timeout' })
      .where('status', '=', 'running')
      .where('cancel_requested', '=', 0)
      .where('deadline_at', '<=', now)
      .returning('id')
      .execute();
    const stuck = await forUpdateSkipLocked(
      trx,
      trx
        .selectFrom('jobs')
        .selectAll()
        .where('status', '=', 'running')
        .where('cancel_reason', '=', 'timeout')
        .where('deadline_at', '<=', now - graceMs)
        .orderBy('id'),
    ).execute();
    const failed: TimeoutResult['failed'] = [];
    for (const job of stuck) {
      const { retryJobId } = await finishRunningJob(
        trx,
        job,
        { status: 'failed', exitCode: null, failureReason: 'job_execution_timeout', completedToken: null },
        now,
        changes,
      );
      failed.push({ jobId: job.id, retryJobId });
    }
    for (const pipelineId of new Set(stuck.map((j) => j.pipeline_id))) {
      await advanceInTransaction(trx, pipelineId, now, changes);
    }
    return { cancelRequested: overdue.map((r) => r.id), failed, changes: await changes.commit(trx, now) };
  });
}
