// Test history (issue 18, item 2). flaky_tests holds, per repository, each test case that failed and
// then passed on a retry of the same commit (a retried attempt, or a later pipeline of the same sha):
// its flips and when they were seen, kept apart from test_cases so that a flaky mark outlives the
// pipelines that showed it and a job's completion checks it with one indexed read.
// repos.quarantine_flaky_tests (0/1) lets a job whose only failing tests are known-flaky ones count
// as allowed to fail; jobs.quarantined_tests records which tests did that (JSON list of names).
import type { Kysely } from 'kysely';
import type { StoreDialect } from '../dialect.js';
import { withId } from './id-column.js';

export async function up(db: Kysely<unknown>, dialect: StoreDialect): Promise<void> {
  const s = db.schema;
  await s
    .alterTable('repos')
    .addColumn('quarantine_flaky_tests', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await s.alterTable('jobs').addColumn('quarantined_tests', 'text').execute();
  await withId(s.createTable('flaky_tests'), dialect)
    .addColumn('repo_id', 'bigint', (c) => c.notNull().references('repos.id').onDelete('cascade'))
    .addColumn('case_key', 'text', (c) => c.notNull())
    .addColumn('suite', 'text', (c) => c.notNull())
    .addColumn('classname', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    // Times a run of the case failed and the next run of the same commit passed.
    .addColumn('flips', 'integer', (c) => c.notNull())
    .addColumn('first_seen_at', 'bigint', (c) => c.notNull())
    .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
    // The job whose passing run made the last flip (no foreign key: the mark outlives the job).
    .addColumn('last_job_id', 'bigint', (c) => c.notNull())
    .addColumn('last_pipeline_id', 'bigint', (c) => c.notNull())
    .addColumn('last_sha', 'text', (c) => c.notNull())
    .addUniqueConstraint('flaky_tests_repo_case', ['repo_id', 'case_key'])
    .execute();
  await s.createIndex('flaky_tests_repo_seen').on('flaky_tests').columns(['repo_id', 'last_seen_at']).execute();
}
