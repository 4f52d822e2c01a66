// A retry never rewrites history: the old row is flagged `retried` (the pipeline's status ignores
// it) and a new row with attempt + 1 takes its place.
import type { Kysely } from 'kysely';
import type { Database, Job } from '../../store/index.js';
import { readJobSpec } from '../columns.js';
import type { ChangeLog } from '../events.js';

export async function insertNewAttempt(
  trx: Kysely<Database>,
  old: Job,
  status: 'pending' | 'created',
  now: number,
  changes: ChangeLog,
  playedAt: number | null = old.played_at,
): Promise<number> {
  await trx.updateTable('jobs').set({ retried: 1 }).where('id', '=', old.id).where('retried', '=', 0).execute();
  const { id } = await trx
    .insertInto('jobs')
    .values({
      pipeline_id: old.pipeline_id,
      repo_id: old.repo_id,
      name: old.name,
      stage: old.stage,
      stage_index: old.stage_index,
      status,
      spec: old.spec,
      is_trigger: old.is_trigger,
      attempt: old.attempt + 1,
      retry_of: old.id,
      retried: 0,
      // Recomputed at completion: `allow_failure: exit_codes` depends on the new attempt's exit code.
      allow_failure: readJobSpec(old).allowFailure ? 1 : 0,
      resource_group: old.resource_group,
      has_needs: old.has_needs,
      interruptible: old.interruptible,
      tags: old.tags,
      timeout_seconds: old.timeout_seconds,
      exit_code: null,
      failure_reason: null,
      agent_id: null,
      fencing_token: null,
      lease_expires_at: null,
      cancel_requested: 0,
      cancel_reason: null,
      deadline_at: null,
      completed_token: null,
      played_at: playedAt,
      // The same play goes on (an automatic retry): so do who played it and their comment.
      played_by: playedAt === old.played_at ? old.played_by : null,
      play_comment: playedAt === old.played_at ? old.play_comment : null,
      created_at: now,
      queued_at: status === 'pending' ? now : null,
      scheduled_at: null,
      started_at: null,
      finished_at: null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  changes.job({ ...old, id }, status);
  return id;
}
