// GitLab's "auto-cancel redundant pipelines": a new pipeline on a ref makes older unfinished ones on
// the same ref pointless, unless a job that must not be interrupted (a deploy) has already started.
import type { Store } from '../../store/index.js';
import { advanceInTransaction, latestJobs } from '../advance.js';
import { ChangeLog, type StatusChange } from '../events.js';
import { cancelJobsInTransaction } from './cancel.js';

export interface AutoCancelInput {
  repoId: number;
  ref: string;
  newPipelineId: number;
  /** The new pipeline's commit: older pipelines of the same commit (re-runs) are not redundant. */
  sha?: string;
  now: number;
}

export async function autoCancelInterruptible(
  store: Store,
  input: AutoCancelInput,
): Promise<{ canceledPipelineIds: number[]; changes: StatusChange[] }> {
  return store.transaction(async (trx) => {
    const changes = new ChangeLog();
    let query = trx
      .selectFrom('pipelines')
      .select('id')
      .where('repo_id', '=', input.repoId)
      .where('ref', '=', input.ref)
      .where('id', '<', input.newPipelineId)
      .where('status', 'in', ['created', 'pending', 'running', 'scheduled']);
    if (input.sha !== undefined) query = query.where('sha', '!=', input.sha);
    const older = await query.orderBy('id').execute();
    const canceled: number[] = [];
    for (const { id } of older) {
      // Locked first, so a job claimed meanwhile is seen as started (and asked to stop, or keeps its pipeline).
      const latest = await latestJobs(trx, id, { lock: true });
      // Retried attempts count: they ran too.
      const uninterruptibleStarted = await trx
        .selectFrom('jobs')
        .select('id')
        .where('pipeline_id', '=', id)
        .where('started_at', 'is not', null)
        .where('interruptible', '=', 0)
        .executeTakeFirst();
      if (uninterruptibleStarted) continue;
      await cancelJobsInTransaction(trx, latest, input.now, changes);
      await advanceInTransaction(trx, id, input.now, changes);
      canceled.push(id);
    }
    return { canceledPipelineIds: canceled, changes: await changes.commit(trx, input.now) };
  });
}
