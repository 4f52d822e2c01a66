// After a scheduler call commits, tell live listeners (SSE clients, waiting agents) what changed.
// Scheduler calls return their changes only after the transaction committed, so listeners never
// see a status that was rolled back.
import { FINISHED_STATUSES } from '../api/index.js';
import type { StatusChange } from '../scheduler/index.js';
import type { ServerContext } from './context.js';
import { kickDownstream } from './downstream.js';
import { kickLogMover } from './log-mover.js';

/** Publishes the status changes a scheduler call committed. */
export function publishChanges(ctx: ServerContext, changes: StatusChange[]): void {
  let queued = false;
  let triggerQueued = false;
  // Jobs that ran and ended (a skipped job never wrote a log).
  const endedJobs: number[] = [];
  for (const change of changes) {
    if (change.type === 'job') {
      ctx.hub.publish({ type: 'job', jobId: change.id, pipelineId: change.pipelineId, status: change.status });
      if (FINISHED_STATUSES.has(change.status) && change.status !== 'skipped') endedJobs.push(change.id);
      queued ||= change.status === 'pending';
      triggerQueued ||= change.status === 'pending' && change.trigger;
    } else {
      ctx.hub.publish({ type: 'pipeline', pipelineId: change.id, repoId: change.repoId, status: change.status });
      if (FINISHED_STATUSES.has(change.status)) ctx.metrics.pipelines.inc({ status: change.status });
      if (change.status === 'failed') ctx.metrics.countPipelineFailure(change.failureReason);
    }
  }
  if (queued) ctx.hub.publish({ type: 'queue' });
  // The transaction wrote outbox messages (forge statuses, notifications): send them now.
  if (changes.some((c) => c.outbox)) ctx.outbox.kick();
  // A queued trigger job is the server's to run: its downstream pipeline starts now.
  if (triggerQueued) kickDownstream(ctx);
  // An ended job's log leaves the database now that its end committed (src/server/log-mover.ts).
  if (endedJobs.length > 0) kickLogMover(ctx, endedJobs);
}
