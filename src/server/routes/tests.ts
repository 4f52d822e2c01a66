// JUnit test reports of pipelines and jobs (issue 18): read like a job's log (the same permission),
// one page of cases at a time, failures first.
import { TEST_CASE_STATUSES, type TestCaseStatus, type TestReportJson } from '../../api/index.js';
import { readTestReport, type ReadTestReportInput } from '../../reports/index.js';
import type { ServerContext } from '../context.js';
import { ApiError, type RouteTable } from '../http.js';
import { idParam, integerParam } from '../query.js';
import { testReportView } from '../presenters.js';

type Query = Record<string, string | undefined>;

/** Cases per page: a page with 64 KB traces stays a few megabytes at most. */
const CASE_PAGE = { fallback: 100, max: 1000 };

/** `?status=failed,error` (any of TEST_CASE_STATUSES), `?limit=`, `?offset=`. */
function caseQuery(query: Query): Pick<ReadTestReportInput, 'status' | 'offset' | 'limit'> {
  const status = query.status === undefined || query.status === '' ? undefined : query.status.split(',');
  const bad = status?.find((s) => !(TEST_CASE_STATUSES as readonly string[]).includes(s));
  if (bad !== undefined) {
    throw new ApiError(422, `query parameter status: "${bad.slice(0, 40)}" is not one of ${TEST_CASE_STATUSES.join(', ')}`);
  }
  return {
    status: status as TestCaseStatus[] | undefined,
    limit: integerParam(query, 'limit', { min: 1, ...CASE_PAGE }),
    offset: integerParam(query, 'offset', { min: 0, max: 10_000_000, fallback: 0 }),
  };
}

export function registerTestReportRoutes(routes: RouteTable, ctx: ServerContext): void {
  routes.add({
    method: 'GET',
    url: '/api/v1/pipelines/:id/tests',
    summary:
      'The pipeline’s JUnit test report: summary over its jobs’ latest attempts, cases failures first (?status=, ?job=, ?limit=, ?offset=)',
    tag: 'pipelines',
    access: 'user',
    async handler({ params, query }): Promise<TestReportJson> {
      const pipelineId = idParam(params.id, 'id');
      const jobName = query.job === undefined || query.job === '' ? undefined : query.job;
      return testReportView(await readTestReport(ctx.store, { scope: { pipelineId, jobName }, ...caseQuery(query) }));
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/jobs/:id/tests',
    summary: 'The job’s JUnit test report: summary, report files (with the error of one not read), cases failures first',
    tag: 'jobs',
    access: 'user',
    async handler({ params, query }): Promise<TestReportJson> {
      const jobId = idParam(params.id, 'id');
      return testReportView(await readTestReport(ctx.store, { scope: { jobId }, ...caseQuery(query) }));
    },
  });
}
