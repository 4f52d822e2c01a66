// Moves finished jobs' logs from the database to the artifact store (src/scheduler/sql/move-log.ts),
// after the commit that ended them: publishChanges kicks it with the jobs that finished, and the
// leader's tick sweeps now and then for a move lost to a crash or a restart. Any replica may run it at the
// same time as another: every step of a move is idempotent.
import { jobsWithLogsToMove, moveFinishedLog } from '../scheduler/index.js';
import type { ServerContext } from './context.js';

interface Mover {
  /** Jobs whose end committed since the pass began: moved by id, no scan needed. */
  ended: Set<number>;
  /** A sweep was asked for: scan for every finished job whose log is still in the database. */
  sweep: boolean;
  /** The pass running now, if any. */
  pass: Promise<void> | null;
}

const movers = new WeakMap<ServerContext, Mover>();

async function move(ctx: ServerContext, jobId: number): Promise<void> {
  const started = performance.now();
  if ((await moveFinishedLog(ctx.store, ctx.blobs, jobId)) === 'moved') {
    ctx.log.debug({ jobId, ms: Math.round(performance.now() - started) }, 'job log moved to the artifact store');
  }
}

async function sweepPass(ctx: ServerContext): Promise<void> {
  for (;;) {
    const ids = await jobsWithLogsToMove(ctx.store);
    if (ids.length === 0) return;
    for (const id of ids) await move(ctx, id);
  }
}

/**
 * Moves the logs of `endedJobIds` (a job's end just committed), or without them sweeps for every
 * log left behind (the leader's tick). The ended jobs are known, so a completion costs no scan of
 * the jobs still writing logs. One pass at a time per server; what a kick adds during a pass is
 * done by the pass before it ends.
 */
export function kickLogMover(ctx: ServerContext, endedJobIds?: readonly number[]): void {
  let mover = movers.get(ctx);
  if (!mover) {
    mover = { ended: new Set(), sweep: false, pass: null };
    movers.set(ctx, mover);
  }
  if (endedJobIds) for (const id of endedJobIds) mover.ended.add(id);
  else mover.sweep = true;
  if (mover.pass) return;
  const state = mover;
  state.pass = (async () => {
    while (state.ended.size > 0 || state.sweep) {
      const ended = [...state.ended];
      const sweep = state.sweep;
      state.ended.clear();
      state.sweep = false;
      try {
        for (const id of ended) await move(ctx, id);
        if (sweep) await sweepPass(ctx);
      } catch (err) {
        // The rows stay; the leader's next sweep finds them (a blob store that is down, a database failover).
        ctx.log.warn({ err: (err as Error).message }, 'moving job logs to the artifact store failed');
      }
    }
    state.pass = null;
  })();
}

/** Resolves once no pass runs (shutdown waits for it; tests wait for a move). */
export async function logMoverIdle(ctx: ServerContext): Promise<void> {
  for (let pass = movers.get(ctx)?.pass; pass; pass = movers.get(ctx)?.pass) await pass;
}
