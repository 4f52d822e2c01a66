// Starting scheduled pipelines. A due time is claimed by compare-and-set of next_run_at, from the
// due time to the next one, inside the pipeline's own transaction (createPipeline's `claim`): the
// pipeline and the claim commit together or not at all. Two replicas that both believe they lead
// (a paused old leader, a new one) cannot both start it: the second UPDATE finds next_run_at moved
// and rolls its pipeline back (the due time is also recorded under the events table's unique key,
// as a delivery is). A leader killed before the commit leaves the due time unclaimed, and the next
// leader runs it. Times missed during an outage run once: the stored due time runs, and
// the next one is counted from now, not from the missed slot.
import type { Kysely } from 'kysely';
import {
  recordDelivery,
  triggerPipeline,
  type StatusChange,
  type TriggerContext,
  type TriggerInput,
  type TriggerResult,
} from '../scheduler/index.js';
import type { Database, Repo, Schedule } from '../store/index.js';
import { nextRunAfter } from './cron.js';
import { ownerRefRefusal, ownerStanding } from './owner.js';
import { scheduleVariables } from './schedules.js';

/**
 * started: a pipeline; skipped: its rules made none; failed: it could not be made (an unknown ref,
 * an unreachable remote); deactivated: its owner lost access; lost: another replica (or a change
 * to the schedule) claimed the due time first.
 */
export type ScheduleResult = 'started' | 'skipped' | 'failed' | 'deactivated' | 'lost';

export interface ScheduleRun {
  scheduleId: number;
  repo: string;
  dueAt: number;
  result: ScheduleResult;
  pipelineId: number | null;
  /** Why no pipeline was made: the rules' reason, the error, the owner's lost access. */
  reason: string | null;
  changes: StatusChange[];
}

/** Active schedules due at `now`, the longest overdue first. */
export async function dueSchedules(db: Kysely<Database>, now: number, limit = 100): Promise<Schedule[]> {
  return db
    .selectFrom('schedules')
    .selectAll()
    .where('active', '=', 1)
    .where('next_run_at', '<=', now)
    .orderBy('next_run_at')
    .limit(limit)
    .execute();
}

/** Thrown inside the pipeline's transaction when the due time is no longer this run's to claim. */
class ClaimLost extends Error {}
/** Thrown by the ref check when the owner may not run the schedule's ref. */
class OwnerRefused extends Error {}

/**
 * The compare-and-set of a due time: true when this caller changed the schedule (moved it on, or
 * made it inactive) while it was still active and due at the time it was read.
 */
async function claimDueTime(db: Kysely<Database>, schedule: Schedule, set: Partial<Schedule>): Promise<boolean> {
  const result = await db
    .updateTable('schedules')
    .set(set)
    .where('id', '=', schedule.id)
    .where('next_run_at', '=', schedule.next_run_at)
    .where('active', '=', 1)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/**
 * Records what started the pipeline, as webhook deliveries and polls are: the schedule and its due
 * time, under the events table's unique key, a second guard against a due time run twice.
 */
async function recordDueTime(
  trx: Kysely<Database>,
  schedule: Schedule,
  dueAt: number,
  pipeline: { id: number; ref: string; sha: string },
  now: number,
): Promise<boolean> {
  return recordDelivery(trx, {
    repoId: schedule.repo_id,
    delivery: {
      provider: 'schedule',
      deliveryId: `schedule-${schedule.id}@${new Date(dueAt).toISOString()}`,
      kind: 'schedule',
      ref: pipeline.ref,
      sha: pipeline.sha,
      beforeSha: null,
    },
    pipelineId: pipeline.id,
    now,
  });
}

/** Runs one due schedule (the caller leads): a pipeline, or the reason there is none. */
export async function runDueSchedule(ctx: TriggerContext, schedule: Schedule, now: number): Promise<ScheduleRun> {
  const db = ctx.store.db;
  const dueAt = schedule.next_run_at;
  const repo = await db.selectFrom('repos').selectAll().where('id', '=', schedule.repo_id).executeTakeFirst();
  const run = (result: ScheduleResult, reason: string | null, pipelineId: number | null = null, changes: StatusChange[] = []) => ({
    scheduleId: schedule.id,
    repo: repo?.name ?? String(schedule.repo_id),
    dueAt,
    result,
    pipelineId,
    reason,
    changes,
  });
  if (!repo) return run('lost', 'the repository was removed');
  const refuse = async (reason: string) =>
    (await claimDueTime(db, schedule, { active: 0, deactivated_reason: `schedule deactivated because ${reason}`, updated_at: now }))
      ? run('deactivated', reason)
      : run('lost', null);

  let nextRunAt: number;
  try {
    nextRunAt = nextRunAfter(schedule.cron, schedule.timezone, Math.max(now, dueAt));
  } catch (err) {
    // Valid when saved; a time zone the platform no longer knows can make it invalid later.
    return refuse((err as Error).message);
  }
  const owner = await ownerStanding(db, schedule, repo.name);
  if (owner.refusal !== null) return refuse(owner.refusal);

  // Whatever happens to this due time, the schedule moves on to the next one.
  const moveOn = async (result: 'skipped' | 'failed', reason: string) =>
    (await claimDueTime(db, schedule, { next_run_at: nextRunAt, last_run_at: dueAt, last_error: reason, updated_at: now }))
      ? run(result, reason)
      : run('lost', null);
  let result: TriggerResult;
  try {
    result = await startPipeline(ctx, repo, schedule, {
      authorizeRef: async (ref) => {
        const refusal = await ownerRefRefusal(db, repo.id, owner, ref);
        if (refusal !== null) throw new OwnerRefused(refusal);
      },
      claim: async (trx, pipeline) => {
        const set = { next_run_at: nextRunAt, last_run_at: dueAt, last_pipeline_id: pipeline.id, last_error: null, updated_at: now };
        if (!(await claimDueTime(trx, schedule, set))) throw new ClaimLost();
        if (!(await recordDueTime(trx, schedule, dueAt, pipeline, now))) throw new ClaimLost();
      },
    });
  } catch (err) {
    if (err instanceof ClaimLost) return run('lost', null);
    if (err instanceof OwnerRefused) return refuse(err.message);
    return moveOn('failed', (err as Error).message);
  }
  if (result.pipelineId === null) return moveOn('skipped', `no pipeline: ${result.skippedReason}`);
  return run('started', null, result.pipelineId, result.changes);
}

/** The schedule's pipeline (source `schedule`, its variables), with the caller's checks inside the trigger. */
async function startPipeline(
  ctx: TriggerContext,
  repo: Repo,
  schedule: Schedule,
  checks: Required<Pick<TriggerInput, 'authorizeRef' | 'claim'>>,
): Promise<TriggerResult> {
  const variables = await scheduleVariables(ctx, schedule);
  return triggerPipeline(ctx, { repo, ref: schedule.ref, source: 'schedule', variables, ...checks });
}

/**
 * Runs a schedule now, outside its times (GitLab's "Run schedule"): with the caller's permissions
 * (`authorizeRef` refuses a ref they may not run), and without moving its next due time.
 */
export async function runScheduleNow(
  ctx: TriggerContext,
  input: { schedule: Schedule; repo: Repo; authorizeRef: NonNullable<TriggerInput['authorizeRef']>; now: number },
): Promise<TriggerResult> {
  const { schedule, now } = input;
  return startPipeline(ctx, input.repo, schedule, {
    authorizeRef: input.authorizeRef,
    claim: async (trx, pipeline) => {
      await trx
        .updateTable('schedules')
        .set({ last_run_at: now, last_pipeline_id: pipeline.id, updated_at: now })
        .where('id', '=', schedule.id)
        .execute();
    },
  });
}
