// Cobertura reports (issue 18, item 3): one row per file of a job's
// `artifacts:reports:coverage_report`, summarized on the server when the agent uploads it. The
// summary is JSON (CoberturaSummaryJson: totals, packages, the first files); a report that could
// not be read keeps its error ("file:line:column: reason") instead, and the job's result is unchanged.
import type { Kysely } from 'kysely';
import type { StoreDialect } from '../dialect.js';
import { withId } from './id-column.js';

export async function up(db: Kysely<unknown>, dialect: StoreDialect): Promise<void> {
  await withId(db.schema.createTable('coverage_reports'), dialect)
    .addColumn('job_id', 'bigint', (c) => c.notNull().references('jobs.id').onDelete('cascade'))
    .addColumn('path', 'text', (c) => c.notNull())
    // Only 'cobertura' (GitLab's only coverage_format besides jacoco, which Tandem does not read).
    .addColumn('format', 'text', (c) => c.notNull())
    .addColumn('summary', 'text')
    .addColumn('error', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    // An agent that retries its upload replaces the row.
    .addUniqueConstraint('coverage_reports_job_path', ['job_id', 'path'])
    .execute();
}
