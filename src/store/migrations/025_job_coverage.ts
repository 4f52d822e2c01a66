// GitLab's job `coverage:` (issue 18): the percentage the job's regex found in its log when the job
// ended, null when it has no regex or nothing matched. A pipeline's coverage is the average of its
// jobs', computed when it is shown, so it has no column.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('jobs').addColumn('coverage', 'double precision').execute();
}
