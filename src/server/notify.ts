// After a change to a pipeline, tell live listeners (SSE clients, waiting agents) its new state.
// The state is re-read from the database rather than passed along, so listeners never see a
// status that was not committed.
import type { StatusChange } from '../scheduler/index.js';
import type { ServerContext } from './context.js';

const FINAL_PIPELINE = new Set(['success', 'failed', 'canceled', 'skipped']);

export async function publishPipelineState(ctx: ServerContext, pipelineId: number): Promise<void> {
  const pipeline = await ctx.store.db.selectFrom('pipelines').select(['id', 'repo_id', 'status']).where('id', '=', pipelineId).executeTakeFirst();
  if (!pipeline) return;
  const jobs = await ctx.store.db.selectFrom('jobs').select(['id', 'status']).where('pipeline_id', '=', pipelineId).where('retried', '=', 0).execute();
  for (const job of jobs) ctx.hub.publish({ type: 'job', jobId: job.id, pipelineId, status: job.status });
  ctx.hub.publish({ type: 'pipeline', pipelineId, repoId: pipeline.repo_id, status: pipeline.status });
  if (jobs.some((j) => j.status === 'pending')) ctx.hub.publish({ type: 'queue' });
}

/** Publishes the status changes a scheduler call committed. */
export function publishChanges(ctx: ServerContext, changes: StatusChange[]): void {
  let queued = false;
  for (const change of changes) {
    if (change.type === 'job') {
      ctx.hub.publish({ type: 'job', jobId: change.id, pipelineId: change.pipelineId, status: change.status });
      queued ||= change.status === 'pending';
    } else {
      ctx.hub.publish({ type: 'pipeline', pipelineId: change.id, repoId: change.repoId, status: change.status });
      if (FINAL_PIPELINE.has(change.status)) ctx.metrics.pipelines.inc({ status: change.status });
    }
  }
  if (queued) ctx.hub.publish({ type: 'queue' });
}
