// Revoking an agent while it runs a job: its writes are refused from then on (401), it stops the
// job, and the job runs again on another agent once the revoked claim's lease runs out.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jobNamed, TestTandem } from '../support/tandem.js';
import { until } from './helpers.js';

let tandem: TestTandem;
before(async () => {
  tandem = await TestTandem.start({ agents: 0, settings: { leaseSeconds: 2 } });
});
after(() => tandem.close());

test('a job whose agent is revoked mid-job finishes on another agent as a new attempt', async () => {
  const doomed = await tandem.addAgent({ name: 'doomed', tags: ['first'], concurrency: 1 });
  const { name } = await tandem.repo({
    '.gitlab-ci.yml': `
work:
  script:
    - echo "start on $CI_RUNNER_DESCRIPTION"
    - sleep 3
    - echo "done on $CI_RUNNER_DESCRIPTION"
`,
  });
  const id = await tandem.trigger(name);
  const first = await until('the job running', async () => {
    const job = jobNamed(await tandem.pipeline(id), 'work');
    return job.status === 'running' ? job : undefined;
  });
  assert.ok(first.agentId !== null);
  assert.equal((await tandem.api('DELETE', `/api/v1/agents/${first.agentId}`)).status, 204);
  // The revoked agent's identity is gone for good; a second agent takes the new attempt.
  await doomed.stop({ cancelRunning: false, deliveryGraceMs: 0 }).catch(() => undefined);
  await tandem.addAgent({ name: 'spare', concurrency: 1 });

  const p = await tandem.waitForPipeline(id, undefined, 30_000);
  assert.equal(p.status, 'success', JSON.stringify(p.jobs));
  const finalJob = jobNamed(p, 'work');
  assert.equal(finalJob.attempt, 2);
  assert.match(await tandem.log(finalJob.id), /done on spare/);
  const old = p.jobs.find((j) => j.id === first.id);
  assert.equal(old?.status, 'failed');
  assert.equal(old?.failureReason, 'runner_system_failure');
  assert.doesNotMatch(await tandem.log(first.id), /done on doomed/, 'nothing the revoked agent wrote after revocation was accepted');
});
