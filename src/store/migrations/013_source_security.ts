// What webhooks and repository URLs may do (issue 14, items 1, 10, 18 and 24).
//
// - Merge request pipelines remember the merge request (`merge_request`, JSON): whether it comes
//   from a fork and from which branch decides whether the pipeline is protected, not its ref.
// - A fork's pipeline can wait for a maintainer (`approval`: 'waiting' | 'approved'), as the
//   repository's `fork_pull_requests` setting says ('approval', the default, or 'run').
// - Deliveries remember a digest of their body, so a replay under a new delivery id is known.
// - Webhook secrets and the credentials of repository URLs are encrypted like variables. Migrations
//   never see the master key, so existing plain webhook secrets are encrypted by the server when it
//   starts (src/auth/secrets), as variable values were; URL credentials are moved out of the URL
//   then too (src/server/repo-url.ts).
import type { Kysely } from 'kysely';
import type { StoreDialect } from '../dialect.js';

export async function up(db: Kysely<unknown>, _dialect: StoreDialect): Promise<void> {
  const s = db.schema;
  await s.alterTable('pipelines').addColumn('merge_request', 'text').execute();
  await s.alterTable('pipelines').addColumn('approval', 'text').execute();
  await s.alterTable('pipelines').addColumn('approved_by', 'text').execute();
  await s.alterTable('pipelines').addColumn('approved_at', 'bigint').execute();
  await s
    .alterTable('repos')
    .addColumn('fork_pull_requests', 'text', (c) => c.notNull().defaultTo('approval'))
    .execute();
  await s
    .alterTable('repos')
    .addColumn('webhook_secret_key_id', 'text', (c) => c.references('data_keys.id'))
    .execute();
  await s.alterTable('repos').addColumn('url_credentials', 'text').execute();
  await s
    .alterTable('repos')
    .addColumn('url_credentials_key_id', 'text', (c) => c.references('data_keys.id'))
    .execute();
  await s.alterTable('events').addColumn('payload_digest', 'text').execute();
  await s.createIndex('events_payload_digest').on('events').columns(['repo_id', 'provider', 'payload_digest']).execute();
}
