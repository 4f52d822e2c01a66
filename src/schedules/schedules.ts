// The schedules table: create, list, change and delete pipeline schedules. Variable values are
// sealed with the keyring, bound to the schedule's id (a value copied to another row does not
// decrypt), and never returned: listings show their names only.
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { SCHEDULE_VARIABLES } from '../auth/index.js';
import { DomainError } from '../errors.js';
import type { RepoSecretsContext } from '../repos/index.js';
import { jsonColumn, type Database, type PipelineStatus, type Schedule } from '../store/index.js';
import { nextRunAfter } from './cron.js';

const variableKeys = jsonColumn('schedules', 'variable_keys', z.array(z.string()));
const variableValues = jsonColumn('schedules', 'variables', z.record(z.string(), z.string()));

/** A schedule with what its listing shows beside it: the repository, the owner's name, the last pipeline's status. */
export type ScheduleRow = Schedule & { repo_name: string; owner_username: string | null; last_pipeline_status: PipelineStatus | null };

export interface NewSchedule {
  repoId: number;
  description?: string;
  cron: string;
  /** Default UTC. */
  timezone?: string;
  ref: string;
  variables?: Record<string, string>;
  /** Default true. */
  active?: boolean;
  ownerUserId: number | null;
  now: number;
}

export interface ScheduleChanges {
  description?: string;
  cron?: string;
  timezone?: string;
  ref?: string;
  /** Replaces every variable (values are write-only, so there is nothing to merge with). */
  variables?: Record<string, string>;
  active?: boolean;
  /** The caller becomes the owner (GitLab's "take ownership"): the schedule runs with their permissions. */
  ownerUserId?: number;
}

function rows(db: Kysely<Database>) {
  return db
    .selectFrom('schedules')
    .innerJoin('repos', 'repos.id', 'schedules.repo_id')
    .leftJoin('users', 'users.id', 'schedules.owner_user_id')
    .leftJoin('pipelines', 'pipelines.id', 'schedules.last_pipeline_id')
    .selectAll('schedules')
    .select(['repos.name as repo_name', 'users.username as owner_username', 'pipelines.status as last_pipeline_status']);
}

export async function listSchedules(db: Kysely<Database>, repoId: number): Promise<ScheduleRow[]> {
  return rows(db).where('schedules.repo_id', '=', repoId).orderBy('schedules.id').execute();
}

/** A schedule by id; refuses (not_found) one that does not exist. */
export async function requireSchedule(db: Kysely<Database>, id: number): Promise<ScheduleRow> {
  const row = Number.isSafeInteger(id) ? await rows(db).where('schedules.id', '=', id).executeTakeFirst() : undefined;
  if (!row) throw new DomainError('not_found', `no schedule ${id}`);
  return row;
}

/** Seals the variables into the schedule's row (null: none). */
async function saveVariables(ctx: RepoSecretsContext, id: number, variables: Record<string, string>, now: number): Promise<void> {
  const keys = Object.keys(variables).sort();
  const sealed = keys.length === 0 ? null : await ctx.secrets.keyring.seal(JSON.stringify(variables), SCHEDULE_VARIABLES, { id });
  await ctx.store.db
    .updateTable('schedules')
    .set({
      variables: sealed?.value ?? null,
      variables_key_id: sealed?.keyId ?? null,
      variable_keys: JSON.stringify(keys),
      updated_at: now,
    })
    .where('id', '=', id)
    .execute();
}

export async function createSchedule(ctx: RepoSecretsContext, input: NewSchedule): Promise<ScheduleRow> {
  const timezone = input.timezone ?? 'UTC';
  const nextRunAt = nextRunAfter(input.cron, timezone, input.now);
  const { id } = await ctx.store.db
    .insertInto('schedules')
    .values({
      repo_id: input.repoId,
      description: input.description ?? '',
      cron: input.cron,
      timezone,
      ref: input.ref,
      variables: null,
      variables_key_id: null,
      variable_keys: '[]',
      active: input.active === false ? 0 : 1,
      owner_user_id: input.ownerUserId,
      next_run_at: nextRunAt,
      last_run_at: null,
      last_pipeline_id: null,
      last_error: null,
      deactivated_reason: null,
      created_at: input.now,
      updated_at: input.now,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  // Sealed once the row exists: the ciphertext is bound to its id. A schedule left without its
  // variables would run differently from what was asked, so a failure here removes it.
  if (input.variables && Object.keys(input.variables).length > 0) {
    try {
      await saveVariables(ctx, id, input.variables, input.now);
    } catch (err) {
      await ctx.store.db.deleteFrom('schedules').where('id', '=', id).execute();
      throw err;
    }
  }
  return requireSchedule(ctx.store.db, id);
}

/**
 * Changes a schedule. A new pattern or timezone, or turning it on again, counts the next due time
 * from now: a schedule switched back on does not make up the times it was off.
 */
export async function updateSchedule(ctx: RepoSecretsContext, id: number, changes: ScheduleChanges, now: number): Promise<ScheduleRow> {
  const current = await requireSchedule(ctx.store.db, id);
  const cron = changes.cron ?? current.cron;
  const timezone = changes.timezone ?? current.timezone;
  const reactivated = changes.active === true && current.active === 0;
  const set: Partial<Schedule> = { updated_at: now };
  if (changes.cron !== undefined || changes.timezone !== undefined || reactivated) {
    set.cron = cron;
    set.timezone = timezone;
    set.next_run_at = nextRunAfter(cron, timezone, now);
  }
  if (changes.description !== undefined) set.description = changes.description;
  if (changes.ref !== undefined) set.ref = changes.ref;
  if (changes.ownerUserId !== undefined) set.owner_user_id = changes.ownerUserId;
  if (changes.active !== undefined) {
    set.active = changes.active ? 1 : 0;
    // A person decided: the server's reason (the owner lost access) no longer explains the state.
    set.deactivated_reason = null;
  }
  await ctx.store.db.updateTable('schedules').set(set).where('id', '=', id).execute();
  if (changes.variables !== undefined) await saveVariables(ctx, id, changes.variables, now);
  return requireSchedule(ctx.store.db, id);
}

/** False when there was no such schedule. */
export async function deleteSchedule(db: Kysely<Database>, id: number): Promise<boolean> {
  const result = await db.deleteFrom('schedules').where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** The schedule's variables, decrypted, for the pipeline it starts. */
export async function scheduleVariables(ctx: RepoSecretsContext, schedule: Schedule): Promise<Record<string, string>> {
  if (schedule.variables === null) return {};
  const plain = await ctx.secrets.keyring.open(schedule.variables, schedule.variables_key_id, SCHEDULE_VARIABLES, schedule);
  return variableValues(plain, schedule.id);
}

/** The names of the schedule's variables (stored plain beside the sealed values). */
export function scheduleVariableKeys(schedule: Schedule): string[] {
  return variableKeys(schedule.variable_keys, schedule.id);
}
