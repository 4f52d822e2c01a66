// A user starts a manual job (or a delayed job before its time).
import type { Store } from '../../store/index.js';
import { advanceInTransaction } from '../advance.js';
import { SchedulerError } from '../errors.js';
import { ChangeLog, type StatusChange } from '../events.js';
import { loadJob } from './load-job.js';

/** Who plays a job: recorded on it (on a protected environment this is the deploy's approval). */
export interface Player {
  actor: string;
  comment: string | null;
}

export async function playJob(store: Store, jobId: number, now: number, by?: Player): Promise<{ changes: StatusChange[] }> {
  return store.transaction(async (trx) => {
    const changes = new ChangeLog();
    const job = await loadJob(trx, jobId);
    if (job.status !== 'manual' && job.status !== 'scheduled') {
      throw new SchedulerError('conflict', `job ${jobId} cannot be played: it is ${job.status}, not manual or scheduled`);
    }
    await trx
      .updateTable('jobs')
      .set({ status: 'pending', queued_at: now, played_at: now, played_by: by?.actor ?? null, play_comment: by?.comment ?? null })
      .where('id', '=', job.id)
      .where('status', '=', job.status)
      .execute();
    changes.job(job, 'pending');
    await advanceInTransaction(trx, job.pipeline_id, now, changes);
    return { changes: await changes.commit(trx, now) };
  });
}

/** How each of these jobs was played, by job id: the approval a release's deploy job got. */
export async function playsOf(store: Store, jobIds: readonly number[]): Promise<Map<number, Player & { at: number }>> {
  if (jobIds.length === 0) return new Map();
  const rows = await store.db
    .selectFrom('jobs')
    .select(['id', 'played_by', 'play_comment', 'played_at'])
    .where('id', 'in', [...jobIds])
    .where('played_by', 'is not', null)
    .execute();
  return new Map(rows.map((r) => [r.id, { actor: r.played_by ?? '', comment: r.play_comment, at: r.played_at ?? 0 }]));
}
