// The JSON of test history (src/api/test-history.ts) from its rows: beside presenters.ts so that
// the shared presenters stay small while issue 18's parts are built apart.
import type { FlakyTestJson, TestHistoryJson, TestRunJson } from '../api/index.js';
import type { TestHistory, TestRun } from '../reports/index.js';
import type { FlakyTest } from '../store/index.js';

const iso = (ms: number) => new Date(Number(ms)).toISOString();

export function flakyTestView(t: FlakyTest): FlakyTestJson {
  return {
    caseKey: t.case_key,
    suite: t.suite,
    classname: t.classname,
    name: t.name,
    flips: Number(t.flips),
    firstSeenAt: iso(t.first_seen_at),
    lastSeenAt: iso(t.last_seen_at),
    lastPipelineId: Number(t.last_pipeline_id),
    lastJobId: Number(t.last_job_id),
    lastSha: t.last_sha,
  };
}

function testRunView(r: TestRun): TestRunJson {
  return {
    pipelineId: r.pipeline_id,
    sha: r.sha,
    createdAt: iso(r.created_at),
    status: r.status,
    message: r.message,
    jobId: r.job_id,
    jobName: r.job_name,
  };
}

export function testHistoryView(h: TestHistory): TestHistoryJson {
  return {
    caseKey: h.case_key,
    suite: h.suite,
    classname: h.classname,
    name: h.name,
    defaultBranch: h.default_branch,
    runs: h.runs.map(testRunView),
    failures: h.failures,
    lastStatus: h.last_status,
    firstFailure: h.first_failure === null ? null : testRunView(h.first_failure),
    streakTruncated: h.streak_truncated,
    flaky: h.flaky === null ? null : flakyTestView(h.flaky),
  };
}
