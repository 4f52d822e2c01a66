import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { expireArtifacts, sweepQueuedBlobs } from '../../src/server/retention.js';
import { jobNamed, TestTandem } from '../support/tandem.js';

let tandem: TestTandem;
before(async () => {
  tandem = await TestTandem.start({ agents: 1 });
});
after(() => tandem.close());

test('expired artifacts are removed, blobs still used by other jobs are kept', async () => {
  const { name } = await tandem.repo({
    '.gitlab-ci.yml': `
short:
  script: [echo shared > shared.txt, echo only-short > mine.txt]
  artifacts: { paths: [shared.txt, mine.txt], expire_in: 1 hour }
long:
  script: [echo shared > shared.txt]
  artifacts: { paths: [shared.txt], expire_in: 1 week }
`,
  });
  const p = await tandem.waitForPipeline(await tandem.trigger(name));
  assert.equal(p.status, 'success');
  const short = jobNamed(p, 'short');
  const long = jobNamed(p, 'long');
  const { blobs, store } = tandem.server.ctx;
  const files = await store.db.selectFrom('artifact_files').select(['job_id', 'path', 'digest']).execute();
  const mine = files.find((f) => f.path === 'mine.txt')!;
  const shared = files.find((f) => f.path === 'shared.txt' && f.job_id === long.id)!;

  // Not yet expired: nothing happens.
  assert.deepEqual(await expireArtifacts(tandem.server.ctx, Date.now()), { files: 0, blobs: 0 });
  // Two hours later the short-lived files go; the shared content stays for the other job.
  const result = await expireArtifacts(tandem.server.ctx, Date.now() + 2 * 3600_000);
  assert.deepEqual(result, { files: 2, blobs: 1 });
  assert.equal(await blobs.has(mine.digest), false);
  assert.equal(await blobs.has(shared.digest), true);
  assert.equal((await tandem.api('GET', `/api/v1/jobs/${short.id}/artifacts/mine.txt`)).status, 404);
  const kept = await tandem.api('GET', `/api/v1/jobs/${long.id}/artifacts/shared.txt`);
  assert.equal(kept.status, 200);
  assert.equal(kept.text, 'shared\n');
});

test('a JUnit report kept as the job’s test report outlives an expired artifact of the same content', async () => {
  const { name } = await tandem.repo({
    '.gitlab-ci.yml': `
unit:
  script: ['echo "<testsuite><testcase name=\\"t\\"/></testsuite>" > junit.xml']
  artifacts: { paths: [junit.xml], expire_in: 1 hour, reports: { junit: junit.xml } }
`,
  });
  const p = await tandem.waitForPipeline(await tandem.trigger(name));
  assert.equal(p.status, 'success');
  const { blobs, store } = tandem.server.ctx;
  const report = await store.db
    .selectFrom('test_report_files')
    .select(['digest'])
    .where('job_id', '=', jobNamed(p, 'unit').id)
    .executeTakeFirstOrThrow();
  const result = await expireArtifacts(tandem.server.ctx, Date.now() + 2 * 3600_000);
  assert.equal(result.files, 1, 'the artifact expired');
  assert.equal(await blobs.has(report.digest), true, 'its blob stays: the test report refers to it');
  const tests = await tandem.api<{ summary: { total: number } }>('GET', `/api/v1/jobs/${jobNamed(p, 'unit').id}/tests`);
  assert.equal(tests.body.summary.total, 1);
});

test("a removed repository's blobs are swept, those another repository still lists are kept", async () => {
  const file = (own: string) => `
build:
  script: [echo shared > shared.txt, echo ${own} > own.txt, echo log-of-${own}]
  artifacts: { paths: [shared.txt, own.txt] }
`;
  const gone = await tandem.repo({ '.gitlab-ci.yml': file('gone') });
  const kept = await tandem.repo({ '.gitlab-ci.yml': file('kept') });
  const { blobs, store } = tandem.server.ctx;
  const [pGone, pKept] = await Promise.all([gone, kept].map(async (r) => tandem.waitForPipeline(await tandem.trigger(r.name))));
  assert.deepEqual([pGone.status, pKept.status], ['success', 'success']);
  const jobOf = (p: typeof pGone) => jobNamed(p, 'build').id;
  // A finished job's log moves to the artifact store (a blob) shortly after it ends.
  const logBlob = async (jobId: number) => {
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
      const row = await store.db.selectFrom('jobs').select('log_blob').where('id', '=', jobId).executeTakeFirstOrThrow();
      if (row.log_blob !== null) return row.log_blob;
    }
    assert.fail(`job ${jobId}'s log never moved to a blob`);
  };
  const goneLog = await logBlob(jobOf(pGone));
  const keptLog = await logBlob(jobOf(pKept));
  const digestOf = async (jobId: number, path: string) =>
    (
      await store.db
        .selectFrom('artifact_files')
        .select('digest')
        .where('job_id', '=', jobId)
        .where('path', '=', path)
        .executeTakeFirstOrThrow()
    ).digest;
  const goneOwn = await digestOf(jobOf(pGone), 'own.txt');
  const shared = await digestOf(jobOf(pGone), 'shared.txt');
  assert.equal(shared, await digestOf(jobOf(pKept), 'shared.txt'), 'same content, one blob');

  const removed = await tandem.api('DELETE', `/api/v1/repos/${gone.name}`);
  assert.equal(removed.status, 204, removed.text);
  const queued = (await store.db.selectFrom('blob_sweeps').select('digest').execute()).map((r) => r.digest);
  assert.deepEqual(new Set(queued), new Set([goneOwn, shared, goneLog]), 'its artifacts and log are queued with the removal');

  const swept = await sweepQueuedBlobs(tandem.server.ctx);
  assert.deepEqual(swept, { checked: 3, blobs: 2 });
  assert.deepEqual(
    await Promise.all([goneOwn, goneLog, shared, keptLog].map((d) => blobs.has(d))),
    [false, false, true, true],
    "the removed repository's own blobs are gone; the shared one and the other repository's log stay",
  );
  assert.equal((await store.db.selectFrom('blob_sweeps').select('digest').execute()).length, 0);
  const stillServed = await tandem.api('GET', `/api/v1/jobs/${jobOf(pKept)}/artifacts/shared.txt`);
  assert.equal(stillServed.text, 'shared\n');
});
