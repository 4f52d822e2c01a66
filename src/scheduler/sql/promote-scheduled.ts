// `when: delayed` jobs wait in 'scheduled' until their time comes, then join the queue.
import { forUpdateSkipLocked, type Store } from '../../store/index.js';
import { advanceInTransaction } from '../advance.js';
import { ChangeLog, type StatusChange } from '../events.js';

export async function promoteScheduled(store: Store, now: number): Promise<{ promoted: number[]; changes: StatusChange[] }> {
  return store.transaction(async (trx) => {
    const changes = new ChangeLog();
    // A job being played or canceled right now is left to that transaction.
    const due = await forUpdateSkipLocked(
      trx,
      trx.selectFrom('jobs').selectAll().where('status', '=', 'scheduled').where('scheduled_at', '<=', now).orderBy('id'),
    ).execute();
    for (const job of due) {
      await trx
        .updateTable('jobs')
        .set({ status: 'pending', queued_at: now })
        .where('id', '=', job.id)
        .where('status', '=', 'scheduled')
        .execute();
      changes.job(job, 'pending');
    }
    for (const pipelineId of new Set(due.map((j) => j.pipeline_id))) {
      await advanceInTransaction(trx, pipelineId, now, changes);
    }
    return { promoted: due.map((j) => j.id), changes: await changes.commit(trx, now) };
  });
}
