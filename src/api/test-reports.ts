// The API's JSON shapes of JUnit test reports (issue 18): a job's or pipeline's summary and its
// test cases, failures first.

/** In the order they are listed: what failed first. */
export const TEST_CASE_STATUSES = ['failed', 'error', 'skipped', 'passed'] as const;
export type TestCaseStatus = (typeof TEST_CASE_STATUSES)[number];

export interface TestSummaryJson {
  total: number;
  passed: number;
  failed: number;
  skipped: number;
  errors: number;
  /** Sum of the cases' times. */
  durationSeconds: number;
}

export interface TestReportFileJson {
  path: string;
  size: number;
  /** "file:line:column: reason" when the server could not read it; its cases are not counted. */
  error: string | null;
}

/** One job's report: its summary, its files, and how many cases were counted but not stored. */
export interface JobTestReportJson {
  jobId: number;
  jobName: string;
  stage: string;
  summary: TestSummaryJson;
  files: TestReportFileJson[];
  casesDropped: number;
}

export interface TestCaseJson {
  jobId: number;
  jobName: string;
  suite: string;
  classname: string;
  name: string;
  file: string | null;
  timeSeconds: number | null;
  status: TestCaseStatus;
  message: string | null;
  /** Capped at 64 KB (see docs/test-reports.md). */
  trace: string | null;
}

/** `GET /pipelines/:id/tests` and `GET /jobs/:id/tests`: summary over the latest attempts, cases failures first, one page. */
export interface TestReportJson {
  summary: TestSummaryJson;
  jobs: JobTestReportJson[];
  cases: TestCaseJson[];
  /** Cases matching the filter, over all pages. */
  matching: number;
  /** Pass as `offset` for the next page; null on the last. */
  nextOffset: number | null;
}

/** Files a job's JUnit reports may match; GitLab sets no such limit, but one job with thousands of reports is a mistake. */
export const MAX_JUNIT_REPORT_FILES = 1000;

/** The server's answer to `POST /api/v1/agent/jobs/:id/reports/junit`, for the job's log. */
export interface JunitReportsResponse {
  total: number;
  failed: number;
  errors: number;
  /** "file:line:column: reason" of each report the server could not read. */
  fileErrors: string[];
}
