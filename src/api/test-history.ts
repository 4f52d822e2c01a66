// The API's JSON shapes of test history (issue 18, item 2): a repository's flaky tests, and one test
// case's runs on the default branch.
import type { TestCaseStatus } from './test-reports.js';

/** How a case is named to people: `class.name`, or the name alone when the class adds nothing. */
export function testCaseLabel(testCase: { classname: string; name: string }): string {
  const { classname, name } = testCase;
  return classname === '' || classname === name || name.startsWith(`${classname} `) ? name : `${classname}.${name}`;
}

/** A test case that failed and then passed on a retry of the same commit. */
export interface FlakyTestJson {
  /** Identifies the case across pipelines: pass it as `?case=` to the history. */
  caseKey: string;
  suite: string;
  classname: string;
  name: string;
  /** Times a run failed and the next run of the same commit passed. */
  flips: number;
  firstSeenAt: string;
  lastSeenAt: string;
  /** The pipeline, job and commit of the last flip's passing run. */
  lastPipelineId: number;
  lastJobId: number;
  lastSha: string;
}

/** `GET /repos/:name/tests/flaky`: the most recently flipping first. */
export interface FlakyTestsJson {
  /** The repository lets failures of known-flaky tests only pass (allow_failure). */
  quarantine: boolean;
  tests: FlakyTestJson[];
  total: number;
  nextOffset: number | null;
}

/** One pipeline's run of a case (its latest attempts; failed if any job running it failed). */
export interface TestRunJson {
  pipelineId: number;
  sha: string;
  createdAt: string;
  status: TestCaseStatus;
  message: string | null;
  jobId: number;
  jobName: string;
}

/** `GET /repos/:name/tests/history`: a case across pipelines of the default branch. */
export interface TestHistoryJson {
  caseKey: string;
  suite: string;
  classname: string;
  name: string;
  defaultBranch: string;
  /** Newest first, at most `?runs=` (default 20). */
  runs: TestRunJson[];
  /** Failed runs among `runs`. */
  failures: number;
  lastStatus: TestCaseStatus | null;
  /** Where the current failing streak began; null unless the last run failed. */
  firstFailure: TestRunJson | null;
  /** The streak is older than the rows read: firstFailure is the oldest seen. */
  streakTruncated: boolean;
  flaky: FlakyTestJson | null;
}
