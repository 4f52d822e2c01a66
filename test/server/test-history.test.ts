// Test history through the API and the CLI: the flaky list after a retried attempt passes, one case's
// history by name (404, 409 and 422 answers naming the parameter), the quarantine setting changed by
// a maintainer (audited) and shown, a quarantined job's status in `tandem run show`.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FsBlobStore } from '../../src/artifacts/index.js';
import type { FlakyTestsJson, JobJson, RepoJson, TestHistoryJson } from '../../src/api/index.js';
import { retryJob } from '../../src/scheduler/index.js';
import { AuthServer } from '../auth/helpers.js';
import { tandem as cli } from '../cli/helpers.js';
import { caseKey, historyRunner, report, sha } from '../reports/history-helpers.js';

describe('test history API and CLI', () => {
  // The server's clock: its lease reaper would take back jobs claimed at a time long past.
  const T0 = Date.now();
  const minute = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 16);
  let tandem: AuthServer;
  let runner: ReturnType<typeof historyRunner>;
  let quarantinedJob: number;
  let auth: string[];

  before(async () => {
    tandem = await AuthServer.start();
    await tandem.repo('shop');
    await tandem.repo('vault');
    await tandem.user('olga');
    await tandem.user('mia');
    await tandem.member('shop', 'mia', 'maintainer');
    const store = tandem.server.ctx.store;
    const repo = await store.db.selectFrom('repos').select('id').where('name', '=', 'shop').executeTakeFirstOrThrow();
    runner = historyRunner(new FsBlobStore(`${tandem.dataDir}/history-blobs`), { store, repoId: repo.id });
    auth = ['--server', tandem.url, '--token', tandem.adminToken];
    // `racy` fails, then passes on the retry of the same commit; `solid` fails on the next commit.
    await runner.pipeline(sha(1), T0);
    const red = await runner.runUnit({ racy: 'fail', solid: 'pass' }, T0);
    await retryJob(store, red.id, T0 + 5000);
    await runner.runUnit({ racy: 'pass', solid: 'pass' }, T0 + 5000);
    await runner.pipeline(sha(2), T0 + 60_000);
    await runner.runUnit({ racy: 'pass', solid: 'fail' }, T0 + 60_000);
  });
  after(() => tandem.close());

  test('the flaky list and a case’s history by name', async () => {
    const flaky = await tandem.api<FlakyTestsJson>('GET', '/api/v1/repos/shop/tests/flaky');
    assert.equal(flaky.status, 200, flaky.text);
    assert.equal(flaky.body.quarantine, false);
    assert.deepEqual(
      flaky.body.tests.map((t) => [t.name, t.classname, t.flips, t.lastSha, t.caseKey]),
      [['racy', 'tests.test_app', 1, sha(1), caseKey('racy')]],
    );
    assert.equal(flaky.body.tests[0]!.lastSeenAt, new Date(T0 + 6000).toISOString());

    const solid = await tandem.api<TestHistoryJson>('GET', '/api/v1/repos/shop/tests/history?name=tests.test_app.solid');
    assert.equal(solid.status, 200, solid.text);
    assert.deepEqual([solid.body.lastStatus, solid.body.failures, solid.body.runs.length], ['failed', 1, 2]);
    assert.equal(solid.body.firstFailure?.sha, sha(2));
    assert.equal(solid.body.firstFailure?.message, 'solid broke');
    const racy = await tandem.api<TestHistoryJson>('GET', `/api/v1/repos/shop/tests/history?case=${caseKey('racy')}&runs=1`);
    assert.deepEqual([racy.body.runs.length, racy.body.lastStatus, racy.body.flaky?.flips], [1, 'passed', 1]);

    const missing = await tandem.api('GET', '/api/v1/repos/shop/tests/history?name=nope');
    assert.equal(missing.status, 404);
    assert.match(missing.text, /no test case named \\"nope\\"/);
    const badKey = await tandem.api('GET', '/api/v1/repos/shop/tests/history?case=xyz');
    assert.equal(badKey.status, 422);
    assert.match(badKey.text, /query parameter case/);
    const badRuns = await tandem.api('GET', '/api/v1/repos/shop/tests/history?name=racy&runs=0');
    assert.equal(badRuns.status, 422);
    assert.match(badRuns.text, /query parameter runs/);
    assert.equal((await tandem.api('GET', '/api/v1/repos/shop/tests/flaky', { as: { token: await tandem.tokenFor('olga') } })).status, 403);
  });

  test('a name two suites share is ambiguous: 409 lists both keys', async () => {
    await runner.pipeline(sha(3), T0 + 120_000);
    await runner.runUnit({ solid: 'pass' }, T0 + 120_000, {
      xml: report({ solid: 'pass' }).replace('</testsuites>', '') + report({ solid: 'pass' }, 'integration').replace('<testsuites>', ''),
    });
    const both = await tandem.api<{ message: string }>('GET', '/api/v1/repos/shop/tests/history?name=solid');
    assert.equal(both.status, 409, both.text);
    assert.ok(both.text.includes(caseKey('solid')));
    assert.match(both.text, /pass one's key as \?case=/);
  });

  test('a maintainer turns quarantine on (audited); a flaky-only failure then shows as quarantined', async () => {
    const mia = await tandem.tokenFor('mia');
    const bad = await tandem.api('PATCH', '/api/v1/repos/shop', { as: { token: mia }, body: { quarantineFlakyTests: 'yes' } });
    assert.equal(bad.status, 422);
    assert.match(bad.text, /quarantineFlakyTests/);
    const on = await tandem.api<RepoJson>('PATCH', '/api/v1/repos/shop', { as: { token: mia }, body: { quarantineFlakyTests: true } });
    assert.equal(on.status, 200, on.text);
    assert.equal(on.body.quarantineFlakyTests, true);
    const [entry] = (
      await tandem.api<{ actor: string; details: Record<string, unknown> | null }[]>('GET', '/api/v1/audit?action=repo.update&limit=1')
    ).body;
    assert.deepEqual([entry?.actor, entry?.details], ['mia', { quarantineFlakyTests: true }]);
    const created = await tandem.api<RepoJson>('POST', '/api/v1/repos', {
      body: { name: 'lab', url: (await tandem.repo('lab-src')).bare, quarantineFlakyTests: true },
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.quarantineFlakyTests, true);
    const [made] = (await tandem.api<{ details: Record<string, unknown> | null }[]>('GET', '/api/v1/audit?action=repo.create&limit=1'))
      .body;
    assert.deepEqual(made?.details, { visibility: 'private', quarantineFlakyTests: true });

    const pipelineId = await runner.pipeline(sha(4), T0 + 180_000);
    const job = await runner.runUnit({ racy: 'fail', solid: 'pass' }, T0 + 180_000);
    quarantinedJob = job.id;
    const shown = await tandem.api<JobJson>('GET', `/api/v1/jobs/${job.id}`);
    assert.deepEqual([shown.body.status, shown.body.allowFailure, shown.body.quarantinedTests], ['failed', true, ['tests.test_app.racy']]);
    const pipeline = await tandem.api<{ status: string }>('GET', `/api/v1/pipelines/${pipelineId}`);
    assert.equal(pipeline.body.status, 'success');

    const showCli = await cli(['run', 'show', String(pipelineId), ...auth]);
    assert.equal(showCli.code, 0, showCli.stderr);
    assert.match(showCli.stdout, /failed \(quarantined flaky tests: tests\.test_app\.racy\)/);
  });

  test('the CLI: test flaky, test history, repo edit --quarantine-flaky-tests', async () => {
    assert.ok(quarantinedJob > 0);
    const table = await cli(['test', 'flaky', 'shop', ...auth]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /1 flaky tests in shop; quarantine on/);
    assert.match(table.stdout, /TEST\s+SUITE\s+FLIPS/);
    assert.match(table.stdout, new RegExp(`tests\\.test_app\\.racy\\s+pytest\\s+1\\s+${minute(T0 + 6000)}\\s+00000000\\s+#1`));
    const json = await cli(['test', 'flaky', 'shop', '--json', ...auth]);
    assert.equal((JSON.parse(json.stdout) as FlakyTestsJson).tests[0]?.name, 'racy');

    const history = await cli(['test', 'history', 'shop', 'racy', ...auth]);
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, /tests\.test_app\.racy \(pytest\) on main: last run failed/);
    assert.match(history.stdout, /Failed 1 of the last 3 runs/);
    assert.match(history.stdout, /Failing since pipeline #4 \(commit 00000000/);
    const asJson = JSON.parse((await cli(['test', 'history', 'shop', 'racy', '--runs', '2', '--json', ...auth])).stdout) as TestHistoryJson;
    assert.equal(asJson.runs.length, 2);
    const ambiguous = await cli(['test', 'history', 'shop', 'solid', ...auth]);
    assert.notEqual(ambiguous.code, 0);
    assert.match(ambiguous.stderr, /2 test cases are named "solid"/);

    const off = await cli(['repo', 'edit', 'shop', '--quarantine-flaky-tests', 'off', '--json', ...auth]);
    assert.equal(off.code, 0, off.stderr);
    assert.equal((JSON.parse(off.stdout) as RepoJson).quarantineFlakyTests, false);
    const refused = await cli(['repo', 'edit', 'shop', '--quarantine-flaky-tests', 'maybe', ...auth]);
    assert.match(refused.stderr, /Allowed choices are on, off/);
  });
});
