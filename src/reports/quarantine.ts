// Quarantine of known-flaky tests (a repository setting): a job whose script failed and whose ONLY
// failing tests are cases already marked flaky in its repository is allowed to fail, so the pipeline
// passes with a warning instead of failing on a test known to flip. Decided when the job completes,
// in the transaction that sets its status and recomputes the pipeline's: the agent hands in the
// job's JUnit reports while it holds the job (the server refuses them after), so they are all there.
// Anything the report cannot vouch for keeps the failure real: no report, an unreadable report file,
// failing cases past the stored cap, or one failing case that is not known flaky.
import type { Kysely } from 'kysely';
import type { Database } from '../store/index.js';
import { testCaseLabel } from '../api/index.js';

/** Names listed on the job at most: the decision covers them all, the list is for people. */
export const MAX_QUARANTINED_NAMES = 50;

/** The labels of the flaky tests that make this failed job allowed to fail, or null when they do not. */
export async function quarantinedTests(db: Kysely<Database>, input: { jobId: number }): Promise<string[] | null> {
  const row = await db
    .selectFrom('jobs')
    .innerJoin('repos', 'repos.id', 'jobs.repo_id')
    .leftJoin('test_reports', 'test_reports.job_id', 'jobs.id')
    .select(['jobs.repo_id', 'repos.quarantine_flaky_tests', 'test_reports.failed', 'test_reports.errors'])
    .where('jobs.id', '=', input.jobId)
    .executeTakeFirst();
  if (!row || Number(row.quarantine_flaky_tests) !== 1 || row.failed === null || row.errors === null) return null;
  const failing = Number(row.failed) + Number(row.errors);
  if (failing === 0) return null;
  const unreadable = await db
    .selectFrom('test_report_files')
    .select('id')
    .where('job_id', '=', input.jobId)
    .where('error', 'is not', null)
    .executeTakeFirst();
  if (unreadable) return null;
  const cases = await db
    .selectFrom('test_cases')
    .leftJoin('flaky_tests', (join) =>
      join.onRef('flaky_tests.repo_id', '=', 'test_cases.repo_id').onRef('flaky_tests.case_key', '=', 'test_cases.case_key'),
    )
    .select(['test_cases.classname', 'test_cases.name', 'flaky_tests.id as flaky_id'])
    .where('test_cases.job_id', '=', input.jobId)
    .where('test_cases.status', 'in', ['failed', 'error'])
    .execute();
  // Failing cases counted but not stored (past the cap) cannot be checked.
  if (cases.length !== failing || cases.some((c) => c.flaky_id === null)) return null;
  return [...new Set(cases.map(testCaseLabel))].sort().slice(0, MAX_QUARANTINED_NAMES);
}
