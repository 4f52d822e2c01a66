// Images as artifacts (issue 20, item 1). A repository's container registry: its host, the project
// path under it (null: the repository's path) and the credentials jobs get as CI_REGISTRY_USER and
// CI_REGISTRY_PASSWORD (the password sealed with the keyring like the other repository secrets).
// And per job, the images its `artifacts:images` declared, pinned by digest when it succeeded, as
// JSON [{ref, image}]; null: it declared none.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  const repos = () => db.schema.alterTable('repos');
  await repos().addColumn('registry_host', 'text').execute();
  await repos().addColumn('registry_path', 'text').execute();
  await repos().addColumn('registry_username', 'text').execute();
  await repos().addColumn('registry_password', 'text').execute();
  await repos()
    .addColumn('registry_password_key_id', 'text', (c) => c.references('data_keys.id'))
    .execute();
  await db.schema.alterTable('jobs').addColumn('images', 'text').execute();
}
