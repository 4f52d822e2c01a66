// Who started a manual job, and what they said (issue 18): on a protected environment playing the
// deploy job is its approval, which the release timeline shows with the approver's comment.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('jobs').addColumn('played_by', 'text').execute();
  await db.schema.alterTable('jobs').addColumn('play_comment', 'text').execute();
}
