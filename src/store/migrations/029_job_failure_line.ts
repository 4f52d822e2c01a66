// Where a failed job's log shows it failed (issue 18, failure-first pages): the line's number and
// its text, found once when the job ends so the pipeline and job pages never read logs to show it.
// Null for a job that did not fail, one whose log has no such line, and jobs that ended before this.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('jobs').addColumn('failure_line', 'integer').execute();
  await db.schema.alterTable('jobs').addColumn('failure_line_text', 'text').execute();
}
