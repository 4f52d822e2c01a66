// The first schema. Types differ by dialect only where they must: SQLite wants `integer primary key
// autoincrement` for ids (a rowid alias), PostgreSQL `bigserial`. Times and tokens are bigint in both.
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { StoreDialect } from '../dialect.js';
import { withId } from './id-column.js';

export async function up(db: Kysely<unknown>, dialect: StoreDialect): Promise<void> {
  const s = db.schema;

  await withId(s.createTable('repos'), dialect)
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('default_branch', 'text', (c) => c.notNull())
    .addColumn('poll_interval_seconds', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('webhook_secret', 'text')
    .addColumn('branch_filter', 'text')
    .addColumn('tag_filter', 'text')
    .addColumn('known_refs', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('last_polled_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await withId(s.createTable('variables'), dialect)
    .addColumn('repo_id', 'bigint', (c) => c.notNull().references('repos.id').onDelete('cascade'))
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('masked', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('protected', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('file', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('variables_repo_key', ['repo_id', 'key'])
    .execute();

  await withId(s.createTable('pipelines'), dialect)
    .addColumn('repo_id', 'bigint', (c) => c.notNull().references('repos.id').onDelete('cascade'))
    .addColumn('ref', 'text', (c) => c.notNull())
    .addColumn('is_tag', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('sha', 'text', (c) => c.notNull())
    .addColumn('before_sha', 'text')
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('name', 'text')
    .addColumn('config_path', 'text')
    .addColumn('error', 'text')
    .addColumn('variables', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('stages', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('started_at', 'bigint')
    .addColumn('finished_at', 'bigint')
    .execute();
  await s.createIndex('pipelines_repo_id').on('pipelines').columns(['repo_id', 'id']).execute();
  await s.createIndex('pipelines_repo_ref').on('pipelines').columns(['repo_id', 'ref', 'id']).execute();

  await withId(s.createTable('events'), dialect)
    .addColumn('repo_id', 'bigint', (c) => c.notNull().references('repos.id').onDelete('cascade'))
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('delivery_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('ref', 'text', (c) => c.notNull())
    .addColumn('sha', 'text', (c) => c.notNull())
    .addColumn('before_sha', 'text')
    .addColumn('received_at', 'bigint', (c) => c.notNull())
    .addColumn('pipeline_id', 'bigint', (c) => c.references('pipelines.id').onDelete('set null'))
    .addUniqueConstraint('events_delivery', ['provider', 'repo_id', 'delivery_id'])
    .execute();

  await withId(s.createTable('agents'), dialect)
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('tags', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('concurrency', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('version', 'text')
    .addColumn('last_seen_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  // agent_id has no foreign key on purpose: deleting an agent must not rewrite job history.
  await withId(s.createTable('jobs'), dialect)
    .addColumn('pipeline_id', 'bigint', (c) => c.notNull().references('pipelines.id').onDelete('cascade'))
    .addColumn('repo_id', 'bigint', (c) => c.notNull().references('repos.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('stage', 'text', (c) => c.notNull())
    .addColumn('stage_index', 'integer', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('spec', 'text', (c) => c.notNull())
    .addColumn('attempt', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('retry_of', 'bigint', (c) => c.references('jobs.id').onDelete('set null'))
    .addColumn('retried', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('allow_failure', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('resource_group', 'text')
    .addColumn('interruptible', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('tags', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('timeout_seconds', 'integer', (c) => c.notNull())
    .addColumn('exit_code', 'integer')
    .addColumn('failure_reason', 'text')
    .addColumn('agent_id', 'bigint')
    .addColumn('fencing_token', 'bigint')
    .addColumn('lease_expires_at', 'bigint')
    .addColumn('cancel_requested', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('cancel_reason', 'text')
    .addColumn('deadline_at', 'bigint')
    .addColumn('completed_token', 'bigint')
    .addColumn('played_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('queued_at', 'bigint')
    .addColumn('scheduled_at', 'bigint')
    .addColumn('started_at', 'bigint')
    .addColumn('finished_at', 'bigint')
    .execute();
  await s.createIndex('jobs_status').on('jobs').columns(['status', 'id']).execute();
  await s.createIndex('jobs_pipeline_id').on('jobs').columns(['pipeline_id', 'retried']).execute();
  await s.createIndex('jobs_resource_group').on('jobs').columns(['repo_id', 'resource_group', 'status']).execute();

  await s
    .createTable('job_logs')
    .addColumn('job_id', 'bigint', (c) => c.notNull().references('jobs.id').onDelete('cascade'))
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('job_logs_pk', ['job_id', 'seq'])
    .execute();

  await withId(s.createTable('artifact_files'), dialect)
    .addColumn('job_id', 'bigint', (c) => c.notNull().references('jobs.id').onDelete('cascade'))
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('digest', 'text', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('mode', 'integer', (c) => c.notNull())
    .addColumn('expires_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('artifact_files_job_path', ['job_id', 'path'])
    .execute();
  await s.createIndex('artifact_files_digest').on('artifact_files').column('digest').execute();

  await withId(s.createTable('cache_entries'), dialect)
    .addColumn('repo_id', 'bigint', (c) => c.notNull().references('repos.id').onDelete('cascade'))
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('manifest', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('cache_entries_repo_key', ['repo_id', 'key'])
    .execute();

  await withId(s.createTable('tokens'), dialect)
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_used_at', 'bigint')
    .execute();

  await s
    .createTable('counters')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('value', 'bigint', (c) => c.notNull())
    .execute();

  await s
    .createTable('leases')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('holder', 'text', (c) => c.notNull())
    .addColumn('epoch', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();

  // The fencing counter starts at 0 so the first claim gets token 1.
  await sql`insert into counters (name, value) values ('fencing', 0)`.execute(db);
}
