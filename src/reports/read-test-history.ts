// One test case's history on its repository's default branch: its runs in the latest N pipelines
// there (each pipeline's latest attempts; a case run by several jobs failed if any failed), how many
// of them failed, its last status, and where its current failing streak began. Read through the
// (repo_id, case_key) index newest first, a page at a time, and never past MAX_HISTORY_SCAN rows, so a
// case run for years costs a bounded read; a streak older than that is reported as such.
import type { TestCaseStatus } from '../api/index.js';
import type { FlakyTest, Store } from '../store/index.js';

export interface ReadTestHistoryInput {
  repoId: number;
  caseKey: string;
  /** Pipelines of the default branch to count failures in (GitLab shows 14 days; Tandem counts runs). */
  runs: number;
}

export const DEFAULT_HISTORY_RUNS = 20;
export const MAX_HISTORY_RUNS = 200;
/** Rows of one case read at most to find where its failing streak began. */
export const MAX_HISTORY_SCAN = 5000;
const PAGE = 500;

export interface TestRun {
  pipeline_id: number;
  sha: string;
  created_at: number;
  status: TestCaseStatus;
  /** The first failing job's message, when the run failed. */
  message: string | null;
  job_id: number;
  job_name: string;
}

export interface TestHistory {
  case_key: string;
  suite: string;
  classname: string;
  name: string;
  default_branch: string;
  /** Newest first, at most `runs`. */
  runs: TestRun[];
  failures: number;
  last_status: TestCaseStatus | null;
  /** The oldest run of the current failing streak; null when the last run did not fail. */
  first_failure: TestRun | null;
  /** The streak goes back further than the rows read: first_failure is the oldest seen. */
  streak_truncated: boolean;
  flaky: FlakyTest | null;
}

const failing = (s: TestCaseStatus) => s === 'failed' || s === 'error';
const RANK: Record<TestCaseStatus, number> = { failed: 0, error: 1, passed: 2, skipped: 3 };

/** Null when the repository has no run of the case on its default branch and no flaky mark. */
export async function readTestHistory(store: Store, input: ReadTestHistoryInput): Promise<TestHistory | null> {
  const { db } = store;
  const repo = await db.selectFrom('repos').select('default_branch').where('id', '=', input.repoId).executeTakeFirstOrThrow();
  const flaky =
    (await db
      .selectFrom('flaky_tests')
      .selectAll()
      .where('repo_id', '=', input.repoId)
      .where('case_key', '=', input.caseKey)
      .executeTakeFirst()) ?? null;

  const runs: TestRun[] = [];
  let names: { suite: string; classname: string; name: string } | null = flaky;
  // The current failing streak, walked back from the newest run until a pass closes it.
  const streak: { open: boolean; first: TestRun | null } = { open: true, first: null };
  // Pipelines are judged newest first, each once all its rows are merged into one run.
  const settle = (run: TestRun) => {
    if (runs.length < input.runs) runs.push(run);
    if (!streak.open) return;
    if (failing(run.status)) streak.first = run;
    else if (run.status === 'passed') streak.open = false;
  };
  const done = () => runs.length >= input.runs && !streak.open;

  let scanned = 0;
  let exhausted = false;
  let before: number | null = null;
  while (!done() && scanned < MAX_HISTORY_SCAN) {
    let q = db
      .selectFrom('test_cases')
      .innerJoin('jobs', 'jobs.id', 'test_cases.job_id')
      .innerJoin('pipelines', 'pipelines.id', 'test_cases.pipeline_id')
      .select([
        'test_cases.pipeline_id',
        'test_cases.job_id',
        'test_cases.suite',
        'test_cases.classname',
        'test_cases.name',
        'test_cases.status',
        'test_cases.message',
        'jobs.name as job_name',
        'pipelines.sha',
        'pipelines.created_at',
      ])
      .where('test_cases.repo_id', '=', input.repoId)
      .where('test_cases.case_key', '=', input.caseKey)
      .where('jobs.retried', '=', 0)
      .where('pipelines.ref', '=', repo.default_branch)
      .where('pipelines.is_tag', '=', 0);
    if (before !== null) q = q.where('test_cases.pipeline_id', '<', before);
    const page = await q.orderBy('test_cases.pipeline_id', 'desc').orderBy('test_cases.id').limit(PAGE).execute();
    scanned += page.length;
    let rows = page;
    if (page.length === PAGE) {
      // The page's last pipeline may go on in the next page: it is read there whole (unless it alone
      // fills a page, which is taken as it is).
      const lastId = Number(page[page.length - 1].pipeline_id);
      const whole = page.filter((r) => Number(r.pipeline_id) !== lastId);
      if (whole.length > 0) rows = whole;
    } else exhausted = true;
    let current: TestRun | null = null;
    for (const r of rows) {
      names ??= r;
      const run: TestRun = {
        pipeline_id: Number(r.pipeline_id),
        sha: r.sha,
        created_at: Number(r.created_at),
        status: r.status,
        message: failing(r.status) ? r.message : null,
        job_id: Number(r.job_id),
        job_name: r.job_name,
      };
      if (current && current.pipeline_id === run.pipeline_id) {
        if (RANK[run.status] < RANK[current.status]) current = run;
        continue;
      }
      if (current) settle(current);
      current = run;
    }
    if (current) settle(current);
    if (exhausted || rows.length === 0) break;
    before = Number(rows[rows.length - 1].pipeline_id);
  }
  const truncated = !exhausted && streak.open && streak.first !== null;
  if (names === null) return null;
  const lastStatus = runs[0]?.status ?? null;
  return {
    case_key: input.caseKey,
    suite: names.suite,
    classname: names.classname,
    name: names.name,
    default_branch: repo.default_branch,
    runs,
    failures: runs.filter((r) => failing(r.status)).length,
    last_status: lastStatus,
    first_failure: lastStatus !== null && failing(lastStatus) ? streak.first : null,
    streak_truncated: truncated,
    flaky,
  };
}
