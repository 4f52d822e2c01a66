// JUnit test reports (issue 18): a job's `artifacts:reports:junit` files as the server read them.
// test_report_files keeps each uploaded file (its blob stays in the artifact store: retention skips
// digests listed here) with the error that made it unreadable; test_reports holds the job's summary,
// counted from its cases; test_cases one row per case, capped per job. A case is followed across
// pipelines by (repo_id, case_key), case_key being a digest of its suite, class and name, which keeps
// the index small whatever the names' length.
import type { Kysely } from 'kysely';
import type { StoreDialect } from '../dialect.js';
import { withId } from './id-column.js';

export async function up(db: Kysely<unknown>, dialect: StoreDialect): Promise<void> {
  const s = db.schema;
  await withId(s.createTable('test_report_files'), dialect)
    .addColumn('job_id', 'bigint', (c) => c.notNull().references('jobs.id').onDelete('cascade'))
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('digest', 'text', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    // "file:line:column: reason" when the file could not be read; its cases are then not counted.
    .addColumn('error', 'text')
    .addUniqueConstraint('test_report_files_job_path', ['job_id', 'path'])
    .execute();
  await s.createIndex('test_report_files_digest').on('test_report_files').column('digest').execute();

  await s
    .createTable('test_reports')
    .addColumn('job_id', 'bigint', (c) => c.primaryKey().references('jobs.id').onDelete('cascade'))
    .addColumn('pipeline_id', 'bigint', (c) => c.notNull().references('pipelines.id').onDelete('cascade'))
    .addColumn('total', 'integer', (c) => c.notNull())
    .addColumn('passed', 'integer', (c) => c.notNull())
    .addColumn('failed', 'integer', (c) => c.notNull())
    .addColumn('skipped', 'integer', (c) => c.notNull())
    .addColumn('errors', 'integer', (c) => c.notNull())
    .addColumn('duration_seconds', 'double precision', (c) => c.notNull())
    // Cases counted but not stored, past the per-job cap.
    .addColumn('cases_dropped', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await s.createIndex('test_reports_pipeline').on('test_reports').column('pipeline_id').execute();

  await withId(s.createTable('test_cases'), dialect)
    .addColumn('job_id', 'bigint', (c) => c.notNull().references('jobs.id').onDelete('cascade'))
    .addColumn('pipeline_id', 'bigint', (c) => c.notNull())
    .addColumn('repo_id', 'bigint', (c) => c.notNull())
    .addColumn('case_key', 'text', (c) => c.notNull())
    .addColumn('suite', 'text', (c) => c.notNull())
    .addColumn('classname', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('file', 'text')
    .addColumn('time_seconds', 'double precision')
    // passed | failed | error | skipped
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('message', 'text')
    .addColumn('trace', 'text')
    .execute();
  await s.createIndex('test_cases_job').on('test_cases').columns(['job_id', 'status']).execute();
  await s.createIndex('test_cases_history').on('test_cases').columns(['repo_id', 'case_key']).execute();
}
