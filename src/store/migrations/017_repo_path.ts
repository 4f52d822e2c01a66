// A repository's GitLab project path (issue 16, includes): `group/name`, which `include:project`
// and `include:component` name and CI_PROJECT_PATH shows. Null means the repository's name, so
// existing rows and inserts that do not say keep working; unique among those set, and the API
// refuses a path equal to another repository's name or path.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('repos').addColumn('path', 'text').execute();
  await db.schema.createIndex('repos_path').unique().on('repos').column('path').execute();
}
