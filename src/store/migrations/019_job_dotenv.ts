// GitLab's artifacts:reports:dotenv (issue 16): the variables a job's dotenv report set, as JSON
// ({"KEY": "value"}), read when a later job that takes its artifacts is claimed. Null: no report.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('jobs').addColumn('dotenv', 'text').execute();
}
