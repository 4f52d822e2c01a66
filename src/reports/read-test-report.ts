// A pipeline's or a job's test report as shown: the summary (a pipeline's sums its jobs' latest
// attempts, so a job retried until green counts once, as its last run), each job's report with its
// files, and one page of cases, failures first.
import { sql } from 'kysely';
import type { TestCaseStatus } from '../api/index.js';
import { DomainError } from '../errors.js';
import type { Store, TestCase, TestReportFileTable, TestReportTable } from '../store/index.js';

export interface ReadTestReportInput {
  /** A pipeline (its latest attempts, or those of one job name) or one job (any attempt). */
  scope: { pipelineId: number; jobName?: string } | { jobId: number };
  status?: TestCaseStatus[];
  offset: number;
  limit: number;
}

const SUMMARY_COLUMNS = ['total', 'passed', 'failed', 'skipped', 'errors', 'duration_seconds'] as const;

/** The counts of a test_reports row, or their sums over a pipeline's jobs. */
export type TestSummary = Pick<TestReportTable, (typeof SUMMARY_COLUMNS)[number]>;

export interface JobTestReport extends TestSummary, Pick<TestReportTable, 'job_id' | 'cases_dropped'> {
  job_name: string;
  stage: string;
  files: Pick<TestReportFileTable, 'path' | 'size' | 'error'>[];
}

export interface TestReport {
  summary: TestSummary;
  jobs: JobTestReport[];
  cases: (TestCase & { job_name: string })[];
  matching: number;
  nextOffset: number | null;
}

/** Failed, then error, then skipped, then passed: what needs a look comes first. */
const STATUS_RANK = sql<number>`case test_cases.status when 'failed' then 0 when 'error' then 1 when 'skipped' then 2 else 3 end`;

export async function readTestReport(store: Store, input: ReadTestReportInput): Promise<TestReport> {
  const { db } = store;
  const [table, id, what] =
    'jobId' in input.scope ? (['jobs', input.scope.jobId, 'job'] as const) : (['pipelines', input.scope.pipelineId, 'pipeline'] as const);
  if (!(await db.selectFrom(table).select('id').where('id', '=', id).executeTakeFirst()))
    throw new DomainError('not_found', `no ${what} ${id}`);
  let jobsQuery = db
    .selectFrom('test_reports')
    .innerJoin('jobs', 'jobs.id', 'test_reports.job_id')
    .selectAll('test_reports')
    .select(['jobs.name as job_name', 'jobs.stage as stage', 'jobs.stage_index as stage_index']);
  if ('jobId' in input.scope) {
    jobsQuery = jobsQuery.where('test_reports.job_id', '=', input.scope.jobId);
  } else {
    jobsQuery = jobsQuery.where('test_reports.pipeline_id', '=', input.scope.pipelineId).where('jobs.retried', '=', 0);
    if (input.scope.jobName !== undefined) jobsQuery = jobsQuery.where('jobs.name', '=', input.scope.jobName);
  }
  const reports = await jobsQuery.orderBy('jobs.stage_index').orderBy('jobs.name').execute();
  const jobIds = reports.map((r) => r.job_id);
  const files =
    jobIds.length === 0
      ? []
      : await db
          .selectFrom('test_report_files')
          .select(['job_id', 'path', 'size', 'error'])
          .where('job_id', 'in', jobIds)
          .orderBy('id')
          .execute();

  const summary: TestSummary = { total: 0, passed: 0, failed: 0, skipped: 0, errors: 0, duration_seconds: 0 };
  const jobs: JobTestReport[] = reports.map((r) => {
    for (const key of SUMMARY_COLUMNS) summary[key] += Number(r[key]);
    return {
      job_id: Number(r.job_id),
      job_name: r.job_name,
      stage: r.stage,
      total: Number(r.total),
      passed: Number(r.passed),
      failed: Number(r.failed),
      skipped: Number(r.skipped),
      errors: Number(r.errors),
      duration_seconds: Number(r.duration_seconds),
      cases_dropped: Number(r.cases_dropped),
      files: files
        .filter((f) => Number(f.job_id) === Number(r.job_id))
        .map((f) => ({ path: f.path, size: Number(f.size), error: f.error })),
    };
  });
  summary.duration_seconds = Math.round(summary.duration_seconds * 1e6) / 1e6;
  if (jobIds.length === 0) return { summary, jobs, cases: [], matching: 0, nextOffset: null };

  let cases = db.selectFrom('test_cases').innerJoin('jobs', 'jobs.id', 'test_cases.job_id').where('test_cases.job_id', 'in', jobIds);
  if (input.status && input.status.length > 0) cases = cases.where('test_cases.status', 'in', input.status);
  const counted = await cases.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  const matching = Number(counted.n);
  const page = await cases
    .selectAll('test_cases')
    .select('jobs.name as job_name')
    .orderBy(STATUS_RANK)
    .orderBy('jobs.stage_index')
    .orderBy('jobs.name')
    .orderBy('test_cases.id')
    .limit(input.limit)
    .offset(input.offset)
    .execute();
  const nextOffset = input.offset + page.length < matching ? input.offset + page.length : null;
  return { summary, jobs, cases: page, matching, nextOffset };
}
