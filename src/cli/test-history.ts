// `tandem test flaky` and `tandem test history`: a repository's flaky tests, and one test's runs on
// the default branch (where its failing streak began, how often it failed lately).
import { testCaseLabel as label, type FlakyTestsJson, type TestHistoryJson } from '../api/index.js';
import { ApiClient, type ApiOptions } from './api-client.js';
import { printJson, printTable } from './output.js';

type Listing = ApiOptions & { json?: boolean };

/** A time as `2026-12-06 19:40` (UTC): enough to place a run, short enough for a table. */
const when = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;

export async function testFlaky(repo: string, opts: Listing & { limit?: string }): Promise<void> {
  const limit = opts.limit === undefined ? 100 : Number(opts.limit);
  const flaky = await ApiClient.fromOptions(opts).json<FlakyTestsJson>(
    'GET',
    `/api/v1/repos/${encodeURIComponent(repo)}/tests/flaky?limit=${limit}`,
  );
  if (opts.json) {
    printJson(flaky);
    return;
  }
  console.log(`${flaky.total} flaky tests in ${repo}; quarantine ${flaky.quarantine ? 'on' : 'off'}`);
  printTable(
    flaky.tests.map((t) => ({
      test: label(t),
      suite: t.suite,
      flips: t.flips,
      'last seen': when(t.lastSeenAt),
      'last commit': t.lastSha.slice(0, 8),
      pipeline: `#${t.lastPipelineId}`,
    })),
    ['test', 'suite', 'flips', 'last seen', 'last commit', 'pipeline'],
  );
  if (flaky.nextOffset !== null) console.log(`… and ${flaky.total - flaky.tests.length} more (--limit or --json)`);
}

export async function testHistory(repo: string, name: string, opts: Listing & { case?: string; runs?: string }): Promise<void> {
  const q = new URLSearchParams(opts.case !== undefined ? { case: opts.case } : { name });
  if (opts.runs !== undefined) q.set('runs', opts.runs);
  const h = await ApiClient.fromOptions(opts).json<TestHistoryJson>('GET', `/api/v1/repos/${encodeURIComponent(repo)}/tests/history?${q}`);
  if (opts.json) {
    printJson(h);
    return;
  }
  console.log(`${label(h)} (${h.suite}) on ${h.defaultBranch}: last run ${h.lastStatus ?? 'none'}`);
  console.log(`Failed ${h.failures} of the last ${h.runs.length} runs`);
  if (h.firstFailure !== null) {
    const f = h.firstFailure;
    console.log(
      `Failing since pipeline #${f.pipelineId} (commit ${f.sha.slice(0, 8)}, ${when(f.createdAt)})${h.streakTruncated ? ' or earlier' : ''}`,
    );
  }
  if (h.flaky !== null)
    console.log(`Flaky: ${h.flaky.flips} flips, last seen ${when(h.flaky.lastSeenAt)} in pipeline #${h.flaky.lastPipelineId}`);
  printTable(
    h.runs.map((r) => ({
      pipeline: `#${r.pipelineId}`,
      commit: r.sha.slice(0, 8),
      created: when(r.createdAt),
      status: r.status,
      job: r.jobName,
      message: (r.message ?? '').split('\n')[0]!.slice(0, 80),
    })),
    ['pipeline', 'commit', 'created', 'status', 'job', 'message'],
  );
}
