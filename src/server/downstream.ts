// Starts the downstream pipelines of trigger jobs as soon as they are queued (publishChanges kicks
// it) and on every duty tick (a kick lost to a restart or another replica's queueing).
import { startDownstreamPipelines } from '../scheduler/index.js';
import type { ServerContext } from './context.js';
import { publishChanges } from './notify.js';

interface Runner {
  running: boolean;
  again: boolean;
}

const runners = new WeakMap<ServerContext, Runner>();

/** One pass at a time per server; a kick during a pass makes one more pass after it. */
export function kickDownstream(ctx: ServerContext): void {
  let runner = runners.get(ctx);
  if (!runner) {
    runner = { running: false, again: false };
    runners.set(ctx, runner);
  }
  if (runner.running) {
    runner.again = true;
    return;
  }
  runner.running = true;
  const state = runner;
  void (async () => {
    do {
      state.again = false;
      try {
        publishChanges(ctx, await startDownstreamPipelines(ctx));
      } catch (err) {
        ctx.log.warn({ err: (err as Error).message }, 'starting downstream pipelines failed');
      }
    } while (state.again);
    state.running = false;
  })();
}
