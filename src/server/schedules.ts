// Pipeline schedules, a leader duty: every tick starts the schedules that are due. Each runs on
// its own (a slow git fetch must not hold up lease reaping), at most once at a time per schedule
// on this replica; across replicas, the claim of the due time in the pipeline's transaction keeps
// it to one pipeline (src/schedules/run.ts), even when a replica that lost the lease still runs.
import { dueSchedules, runDueSchedule, type ScheduleRun } from '../schedules/index.js';
import type { ServerContext } from './context.js';
import { publishChanges } from './notify.js';

/**
 * Runs under way on this replica at most: each fetches and compiles, and a popular time (02:00)
 * can make hundreds due at once. The rest wait for the next ticks, the longest overdue first.
 */
const MAX_RUNNING = 8;

export interface ScheduleDuty {
  /** Starts the due schedules (the caller leads); never waits for them. */
  tick(now: number): Promise<void>;
  /** Waits for the runs under way. */
  stop(): Promise<void>;
}

function report(ctx: ServerContext, run: ScheduleRun): void {
  publishChanges(ctx, run.changes);
  ctx.metrics.scheduleRuns.inc({ result: run.result });
  const fields = { scheduleId: run.scheduleId, repo: run.repo, dueAt: new Date(run.dueAt).toISOString() };
  if (run.result === 'started') ctx.log.info({ ...fields, pipelineId: run.pipelineId }, 'schedule started a pipeline');
  else if (run.result === 'lost') ctx.log.debug(fields, 'schedule due time claimed elsewhere');
  else ctx.log.warn({ ...fields, result: run.result, reason: run.reason }, 'schedule started no pipeline');
}

export function scheduleDuty(ctx: ServerContext): ScheduleDuty {
  const running = new Map<number, Promise<void>>();
  return {
    async tick(now) {
      if (running.size >= MAX_RUNNING) return;
      // Those under way are still due until they commit: read past them.
      for (const schedule of await dueSchedules(ctx.store.db, now, MAX_RUNNING + running.size)) {
        if (running.size >= MAX_RUNNING) break;
        if (running.has(schedule.id)) continue;
        const work = runDueSchedule(ctx, schedule, now)
          .then((run) => report(ctx, run))
          .catch((err: unknown) => ctx.log.warn({ scheduleId: schedule.id, err: (err as Error).message }, 'schedule run failed'))
          .finally(() => running.delete(schedule.id));
        running.set(schedule.id, work);
      }
    },
    async stop() {
      await Promise.all(running.values());
    },
  };
}
