import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { expireArtifacts } from '../../src/server/retention.js';
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
