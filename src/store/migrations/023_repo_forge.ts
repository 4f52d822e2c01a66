// Where a repository's commit statuses go (issue 17, item 1): the forge, its API root and the
// project there, the credential (a token, or a GitHub App's id and private key, both sealed with the
// keyring like webhook secrets), and whether jobs get statuses of their own. Null forge_type: the
// repository reports to no forge.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  const repos = () => db.schema.alterTable('repos');
  await repos().addColumn('forge_type', 'text').execute();
  await repos().addColumn('forge_api_url', 'text').execute();
  await repos().addColumn('forge_project', 'text').execute();
  await repos().addColumn('forge_token', 'text').execute();
  await repos()
    .addColumn('forge_token_key_id', 'text', (c) => c.references('data_keys.id'))
    .execute();
  await repos().addColumn('forge_app_id', 'text').execute();
  await repos().addColumn('forge_app_key', 'text').execute();
  await repos()
    .addColumn('forge_app_key_key_id', 'text', (c) => c.references('data_keys.id'))
    .execute();
  await repos().addColumn('forge_installation_id', 'bigint').execute();
  await repos()
    .addColumn('forge_statuses', 'text', (c) => c.notNull().defaultTo('pipeline'))
    .execute();
}
