// A user starts a manual job (or a delayed job before its time).
import type { Store } from '../../store/index.js';
import { advanceInTransaction } from '../advance.js';
import { SchedulerError } from '../errors.js';
import { ChangeLog, type StatusChange } from '../events.js';
import { loadJob } from './load-job.js';

export async function playJob(store: Store, jobId: number, now: number): Promise<{ changes: StatusChange[] }> {
  return store.transaction(async (trx) => {
    const changes = new ChangeLog();
    const job = await loadJob(trx, jobId);
    if (job.status !== 'manual' && job.status !== 'scheduled') {
      throw new SchedulerError('conflict', `job ${jobId} cannot be played: it is ${job.status}, not manual or scheduled`);
    }
    await trx
      .updateTable('jobs')
      .set({ status: 'pending', queued_at: now, played_at: now })
      .where('id', '=', job.id)
      .where('status', '=', job.status)
      .execute();
    changes.job(job, 'pending');
    await advanceInTransaction(trx, job.pipeline_id, now, changes);
    return { changes: await changes.commit(trx, now) };
  });
}
