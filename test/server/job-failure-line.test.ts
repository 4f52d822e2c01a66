// The API's `failureLine` (docs/api.md), with a real server and agent: a failed job names the
// command that failed and its line in the log (the number its #L link uses), on the job and in the
// pipeline's job list; a passed job and a job that failed before running anything say so.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { JobDetailJson } from '../../src/api/index.js';
import { jobNamed, TestTandem } from '../support/tandem.js';

let tandem: TestTandem;
before(async () => {
  tandem = await TestTandem.start({ agents: 1 });
});
after(() => tandem.close());

test('a failed job shows the command that failed and its log line; a passed one none', async () => {
  const { name } = await tandem.repo({
    '.gitlab-ci.yml': `
ok:
  script: [echo fine]
broken:
  script:
    - echo preparing
    - echo "connecting to db" && exit 3
    - echo never
  after_script: [echo cleanup]
`,
  });
  const p = await tandem.waitForPipeline(await tandem.trigger(name));
  assert.equal(p.status, 'failed');
  const broken = jobNamed(p, 'broken');
  assert.deepEqual(jobNamed(p, 'ok').failureLine, null);
  assert.equal(broken.failureLine?.text, '$ echo "connecting to db" && exit 3', 'the pipeline lists it with its jobs');

  const res = await tandem.api<JobDetailJson>('GET', `/api/v1/jobs/${broken.id}`);
  assert.equal(res.status, 200);
  const line = res.body.failureLine;
  assert.ok(line, 'the job has a failure line');
  const log = (await tandem.log(broken.id)).split('\n');
  // eslint-disable-next-line no-control-regex
  assert.equal(log[line.number - 1].replace(/\x1b\[[0-9;]*m/g, ''), line.text, 'the number is the line of the log that says it');
  assert.equal(res.body.failureReason, 'script_failure');
  assert.equal(res.body.exitCode, 3);
});
