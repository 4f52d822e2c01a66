// A repository's test history (issue 18, item 2): its flaky tests, and one case's runs on the default
// branch. Read like a job's log (the same permission: failure messages come from the jobs' output).
import { testCaseLabel, type FlakyTestsJson, type TestHistoryJson } from '../../api/index.js';
import { DEFAULT_HISTORY_RUNS, findTestCases, listFlakyTests, MAX_HISTORY_RUNS, readTestHistory } from '../../reports/index.js';
import { requireRepo } from '../../repos/index.js';
import type { ServerContext } from '../context.js';
import { ApiError, type RouteTable } from '../http.js';
import { integerParam } from '../query.js';
import { flakyTestView, testHistoryView } from '../test-history-presenters.js';

const FLAKY_PAGE = { fallback: 50, max: 500 };
const CASE_KEY = /^[0-9a-f]{64}$/;

export function registerTestHistoryRoutes(routes: RouteTable, ctx: ServerContext): void {
  routes.add({
    method: 'GET',
    url: '/api/v1/repos/:name/tests/flaky',
    summary: 'The repository’s flaky tests (failed, then passed on a retry of the same commit), most recent first (?limit=, ?offset=)',
    tag: 'repos',
    access: 'user',
    async handler({ params, query }): Promise<FlakyTestsJson> {
      const repo = await requireRepo(ctx.store, params.name);
      const limit = integerParam(query, 'limit', { min: 1, ...FLAKY_PAGE });
      const offset = integerParam(query, 'offset', { min: 0, max: 1_000_000, fallback: 0 });
      const { tests, total } = await listFlakyTests(ctx.store, { repoId: repo.id, limit, offset });
      return {
        quarantine: repo.quarantine_flaky_tests === 1,
        tests: tests.map(flakyTestView),
        total,
        nextOffset: offset + tests.length < total ? offset + tests.length : null,
      };
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/repos/:name/tests/history',
    summary:
      'One test case across pipelines of the default branch: its runs, failures in the last ?runs= (default 20), where its failing streak began (?case= key, or ?name=)',
    tag: 'repos',
    access: 'user',
    async handler({ params, query }): Promise<TestHistoryJson> {
      const repo = await requireRepo(ctx.store, params.name);
      const runs = integerParam(query, 'runs', { min: 1, max: MAX_HISTORY_RUNS, fallback: DEFAULT_HISTORY_RUNS });
      let caseKey = query.case;
      if (caseKey !== undefined && !CASE_KEY.test(caseKey)) {
        throw new ApiError(422, 'query parameter case: expected a test case key (64 hex digits, as the flaky list shows)');
      }
      if (caseKey === undefined) {
        const name = query.name?.trim() ?? '';
        if (name === '' || name.length > 2000) throw new ApiError(422, 'query parameter name (or case): the test case to show is required');
        const found = await findTestCases(ctx.store, { repoId: repo.id, name });
        if (found.length === 0) {
          throw new ApiError(
            404,
            `no test case named "${name.slice(0, 200)}" in the latest pipelines of ${repo.default_branch} or among flaky tests`,
          );
        }
        if (found.length > 1) {
          throw new ApiError(
            409,
            `${found.length} test cases are named "${name.slice(0, 200)}": pass one's key as ?case= (${found.map((c) => `${testCaseLabel(c)} in ${c.suite}: ${c.case_key}`).join('; ')})`,
            { cases: found.map((c) => ({ caseKey: c.case_key, suite: c.suite, classname: c.classname, name: c.name })) },
          );
        }
        caseKey = found[0]!.case_key;
      }
      const history = await readTestHistory(ctx.store, { repoId: repo.id, caseKey, runs });
      if (history === null) throw new ApiError(404, `test case ${caseKey} has no runs on ${repo.default_branch} and no flaky mark`);
      return testHistoryView(history);
    },
  });
}
