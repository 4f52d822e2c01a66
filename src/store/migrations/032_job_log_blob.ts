// Logs out of the database (issue 19, item 4): once a job has ended, its log moves to the artifact
// store as one gzipped blob and its job_logs rows are deleted, so a finished job costs the database
// the same few bytes whatever it printed. jobs.log_blob is the blob's sha256 (null while the log is
// in job_logs: running, not yet moved, or no log at all); readers take a set digest as the truth.
// jobs.log_blob_size is the blob's size, for backups. The index lets artifact retention see that a
// digest is still a job's log before deleting the blob.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('jobs').addColumn('log_blob', 'text').execute();
  await db.schema.alterTable('jobs').addColumn('log_blob_size', 'bigint').execute();
  await db.schema.createIndex('jobs_log_blob').on('jobs').column('log_blob').execute();
}
