// A trigger job whose downstream pipeline could not be made at all (no such repository or branch,
// `workflow:rules` chose not to run) fails, with the reason as its log, as GitLab's bridge does.
import type { Store } from '../../store/index.js';
import { advanceInTransaction } from '../advance.js';
import { ChangeLog, type StatusChange } from '../events.js';
import { DOWNSTREAM_CREATION_FAILED, lockPendingTrigger, setJob } from './trigger-jobs.js';

export async function failTriggerJob(
  store: Store,
  input: { jobId: number; message: string; now: number },
): Promise<{ changes: StatusChange[] }> {
  return store.transaction(async (trx) => {
    const changes = new ChangeLog();
    const job = await lockPendingTrigger(trx, input.jobId);
    const log = `${input.message}\n`;
    await setJob(
      trx,
      job,
      'failed',
      { started_at: input.now, finished_at: input.now, failure_reason: DOWNSTREAM_CREATION_FAILED, log_bytes: Buffer.byteLength(log) },
      changes,
    );
    await trx.insertInto('job_logs').values({ job_id: job.id, seq: 0, data: log, created_at: input.now }).execute();
    await advanceInTransaction(trx, job.pipeline_id, input.now, changes);
    return { changes: changes.list };
  });
}
