// The outbox (issue 17): what Tandem tells the world about its pipelines (commit statuses on the
// forge, pipeline notifications), written in the transaction that changed a status and sent after
// commit by whichever replica claims it. One table for every topic, so that ordering, claims,
// retries and takeover after a replica's death are one mechanism.
import type { Kysely } from 'kysely';
import type { StoreDialect } from '../dialect.js';
import { withId } from './id-column.js';

export async function up(db: Kysely<unknown>, dialect: StoreDialect): Promise<void> {
  const s = db.schema;
  await withId(s.createTable('outbox'), dialect)
    .addColumn('topic', 'text', (c) => c.notNull())
    // Messages of one key go out in id order (a commit and context; a subscription).
    .addColumn('key', 'text', (c) => c.notNull())
    // For per-repository views; no foreign key: the history outlives a deleted repository's rows.
    .addColumn('repo_id', 'bigint')
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('coalesce', 'integer', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
    .addColumn('claimed_until', 'bigint')
    .addColumn('claimed_by', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('sent_at', 'bigint')
    .addColumn('last_error', 'text')
    .addColumn('last_error_at', 'bigint')
    .addColumn('result', 'text')
    .execute();
  await s.createIndex('outbox_due').on('outbox').columns(['status', 'next_attempt_at']).execute();
  await s.createIndex('outbox_key').on('outbox').columns(['key', 'id']).execute();
  await s.createIndex('outbox_repo').on('outbox').columns(['repo_id', 'topic', 'id']).execute();
}
