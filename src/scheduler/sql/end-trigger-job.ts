// A trigger job whose downstream pipeline is not made ends here, with the reason as its log: it
// fails when the pipeline could not be made (no such repository or branch, `workflow:rules` chose
// not to run), as GitLab's bridge does; `tandem exec`, which has no server, skips it.
import type { Store } from '../../store/index.js';
import { advanceInTransaction } from '../advance.js';
import { ChangeLog, type StatusChange } from '../events.js';
import { DOWNSTREAM_CREATION_FAILED, lockPendingTrigger, setJob } from './trigger-jobs.js';

export async function endTriggerJob(
  store: Store,
  input: { jobId: number; status: 'failed' | 'skipped'; message: string; now: number },
): Promise<{ changes: StatusChange[] }> {
  return store.transaction(async (trx) => {
    const changes = new ChangeLog();
    const job = await lockPendingTrigger(trx, input.jobId);
    const log = `${input.message}\n`;
    await setJob(
      trx,
      job,
      input.status,
      {
        started_at: input.now,
        finished_at: input.now,
        failure_reason: input.status === 'failed' ? DOWNSTREAM_CREATION_FAILED : null,
        log_bytes: Buffer.byteLength(log),
      },
      changes,
    );
    await trx.insertInto('job_logs').values({ job_id: job.id, seq: 0, data: log, created_at: input.now }).execute();
    await advanceInTransaction(trx, job.pipeline_id, input.now, changes);
    return { changes: await changes.commit(trx, input.now) };
  });
}
