// A maintainer lets a fork's pipeline run: until then none of its jobs is queued (see
// `awaitingApproval` in create-pipeline.ts), so a fork's file cannot use the agents unseen.
import type { Store } from '../../store/index.js';
import { advanceInTransaction, lockPipeline } from '../advance.js';
import { SchedulerError } from '../errors.js';
import { ChangeLog, type StatusChange } from '../events.js';
import { isPipelineFinished } from '../rules.js';

export async function approvePipeline(
  store: Store,
  input: { pipelineId: number; by: string; now: number },
): Promise<{ changes: StatusChange[] }> {
  return store.transaction(async (trx) => {
    const changes = new ChangeLog();
    // Locked: two maintainers approving at once approve once.
    const pipeline = await lockPipeline(trx, input.pipelineId);
    if (pipeline.approval !== 'waiting') {
      const why =
        pipeline.approval === 'approved'
          ? `it was approved by ${pipeline.approved_by ?? 'someone'} already`
          : 'it does not wait for an approval';
      throw new SchedulerError('conflict', `pipeline ${pipeline.id} cannot be approved: ${why}`);
    }
    if (isPipelineFinished(pipeline.status))
      throw new SchedulerError('conflict', `pipeline ${pipeline.id} cannot be approved: it is ${pipeline.status}`);
    await trx
      .updateTable('pipelines')
      .set({ approval: 'approved', approved_by: input.by, approved_at: input.now })
      .where('id', '=', pipeline.id)
      .execute();
    await advanceInTransaction(trx, pipeline.id, input.now, changes);
    return { changes: await changes.commit(trx, input.now) };
  });
}
