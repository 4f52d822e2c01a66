// The commit a pipeline runs (issue 16, predefined variables): its message, author ("Name <email>")
// and committer date, read from git when the pipeline is made, for GitLab's CI_COMMIT_MESSAGE,
// _TITLE, _DESCRIPTION, _AUTHOR and _TIMESTAMP. Null in rows made before: those are then unset.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('pipelines').addColumn('commit_message', 'text').execute();
  await db.schema.alterTable('pipelines').addColumn('commit_author', 'text').execute();
  await db.schema.alterTable('pipelines').addColumn('commit_timestamp', 'text').execute();
}
