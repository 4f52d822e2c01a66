// Finds a repository's test cases by the name a person types (`test_add`, `tests.test_calc.test_add`,
// `Calc adds`), for `tandem test history` and the history API. Looked up in the latest pipelines of the
// default branch that have test reports and among the cases marked flaky: bounded reads, and a case
// that ran neither lately nor flakily has no history worth showing anyway.
import type { Store } from '../store/index.js';
import { testCaseLabel } from '../api/index.js';

export interface FindTestCasesInput {
  repoId: number;
  /** The case's name, or `class.name` as listings show it. */
  name: string;
}

export interface FoundTestCase {
  case_key: string;
  suite: string;
  classname: string;
  name: string;
}

/** Pipelines of the default branch searched, newest first. */
export const FIND_PIPELINES = 5;
/** Matches returned at most (an ambiguous name lists them). */
const MAX_FOUND = 20;

export async function findTestCases(store: Store, input: FindTestCasesInput): Promise<FoundTestCase[]> {
  const { db } = store;
  const wanted = input.name.trim();
  // `class.name`: the name is what follows a dot the class may itself contain; try every split.
  const names = new Set([wanted]);
  for (let i = wanted.indexOf('.'); i >= 0; i = wanted.indexOf('.', i + 1)) names.add(wanted.slice(i + 1));
  const repo = await db.selectFrom('repos').select('default_branch').where('id', '=', input.repoId).executeTakeFirstOrThrow();
  const pipelines = await db
    .selectFrom('pipelines')
    .select('id')
    .where('repo_id', '=', input.repoId)
    .where('ref', '=', repo.default_branch)
    .where('is_tag', '=', 0)
    .where((eb) => eb.exists(eb.selectFrom('test_reports').select('job_id').whereRef('test_reports.pipeline_id', '=', 'pipelines.id')))
    .orderBy('id', 'desc')
    .limit(FIND_PIPELINES)
    .execute();
  const jobIds =
    pipelines.length === 0
      ? []
      : (
          await db
            .selectFrom('test_reports')
            .select('job_id')
            .where(
              'pipeline_id',
              'in',
              pipelines.map((p) => p.id),
            )
            .execute()
        ).map((r) => r.job_id);
  const recent =
    jobIds.length === 0
      ? []
      : await db
          .selectFrom('test_cases')
          .select(['case_key', 'suite', 'classname', 'name'])
          .where('job_id', 'in', jobIds)
          .where('name', 'in', [...names])
          .execute();
  const flaky = await db
    .selectFrom('flaky_tests')
    .select(['case_key', 'suite', 'classname', 'name'])
    .where('repo_id', '=', input.repoId)
    .where('name', 'in', [...names])
    .execute();
  const found = new Map<string, FoundTestCase>();
  for (const c of [...recent, ...flaky]) {
    if (c.name === wanted || testCaseLabel(c) === wanted || `${c.classname}.${c.name}` === wanted) found.set(c.case_key, c);
  }
  return [...found.values()].sort((a, b) => testCaseLabel(a).localeCompare(testCaseLabel(b))).slice(0, MAX_FOUND);
}
