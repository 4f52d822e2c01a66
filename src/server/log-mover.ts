// Moves finished jobs' logs from the database to the artifact store (src/scheduler/sql/move-log.ts),
// after the commit that ended them: publishChanges kicks it when a job finishes, and the leader's
// tick kicks it now and then for a kick lost to a crash or a restart. Any replica may run it at the
// same time as another: every step of a move is idempotent.
import { jobsWithLogsToMove, moveFinishedLog } from '../scheduler/index.js';
import type { ServerContext } from './context.js';

interface Mover {
  again: boolean;
  /** The pass running now, if any. */
  pass: Promise<void> | null;
}

const movers = new WeakMap<ServerContext, Mover>();

async function movePass(ctx: ServerContext): Promise<void> {
  for (;;) {
    const ids = await jobsWithLogsToMove(ctx.store);
    if (ids.length === 0) return;
    for (const id of ids) {
      const started = performance.now();
      await moveFinishedLog(ctx.store, ctx.blobs, id);
      ctx.log.debug({ jobId: id, ms: Math.round(performance.now() - started) }, 'job log moved to the artifact store');
    }
  }
}

/** One pass at a time per server; a kick during a pass makes one more pass after it. */
export function kickLogMover(ctx: ServerContext): void {
  let mover = movers.get(ctx);
  if (!mover) {
    mover = { again: false, pass: null };
    movers.set(ctx, mover);
  }
  if (mover.pass) {
    mover.again = true;
    return;
  }
  const state = mover;
  state.pass = (async () => {
    do {
      state.again = false;
      try {
        await movePass(ctx);
      } catch (err) {
        // The rows stay; the next kick tries again (a blob store that is down, a database failover).
        ctx.log.warn({ err: (err as Error).message }, 'moving job logs to the artifact store failed');
      }
    } while (state.again);
    state.pass = null;
  })();
}

/** Resolves once no pass runs (shutdown waits for it; tests wait for a move). */
export async function logMoverIdle(ctx: ServerContext): Promise<void> {
  for (let pass = movers.get(ctx)?.pass; pass; pass = movers.get(ctx)?.pass) await pass;
}
