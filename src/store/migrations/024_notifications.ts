// Pipeline notifications (issue 17): who is told about which pipelines, and how. A repository's
// subscription (user_id null) covers its pipelines; a user's (user_id set) covers one repository or,
// with repo_id null, every repository the user can read, checked when a message is written. The
// messages themselves go through the outbox (020_outbox), keyed by subscription.
import type { Kysely } from 'kysely';
import type { StoreDialect } from '../dialect.js';
import { withId } from './id-column.js';

export async function up(db: Kysely<unknown>, dialect: StoreDialect): Promise<void> {
  const s = db.schema;
  await withId(s.createTable('notification_subscriptions'), dialect)
    .addColumn('repo_id', 'bigint', (c) => c.references('repos.id').onDelete('cascade'))
    .addColumn('user_id', 'bigint', (c) => c.references('users.id').onDelete('cascade'))
    // email | slack | teams | webhook
    .addColumn('type', 'text', (c) => c.notNull())
    // Email addresses (comma-separated) or a URL.
    .addColumn('target', 'text', (c) => c.notNull())
    // JSON list of failed | fixed | success | manual.
    .addColumn('events', 'text', (c) => c.notNull())
    // A webhook's signing secret, sealed with the keyring (bound to the row's id); write-only.
    .addColumn('secret', 'text')
    .addColumn('secret_key_id', 'text', (c) => c.references('data_keys.id'))
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('active', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  // The outbox's writer looks subscriptions up by repository in the transaction of every pipeline status change.
  await s.createIndex('notification_subscriptions_repo').on('notification_subscriptions').columns(['repo_id', 'active']).execute();
  await s.createIndex('notification_subscriptions_user').on('notification_subscriptions').column('user_id').execute();
}
