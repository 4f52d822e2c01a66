// An agent process killed mid-job and started again a second later (systemd's Restart=always): its
// new presence stream arrives within the disconnect grace and hides the old one's break, so before
// the restarted agent handed back what its previous process held, the job waited out its whole
// lease. Now the restarted agent delivers the old attempt's log and hands the job back; the job runs
// again at once (here on the same agent) and completes, with the lease far longer than the wait.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { AgentProcesses, attemptsOf } from '../e2e/agent-processes.js';
import { TestTandem } from '../support/tandem.js';

const LEASE_SECONDS = 120;

let tandem: TestTandem;
let agents: AgentProcesses;

before(async () => {
  // A grace longer than the restart takes: the break alone must not be what frees the job.
  tandem = await TestTandem.start({ agents: 0, settings: { leaseSeconds: LEASE_SECONDS, agentDisconnectGraceSeconds: 30 } });
  agents = await AgentProcesses.start(tandem, ['phoenix']);
});

after(async () => {
  agents.stopOrphans();
  await tandem.close();
});

test('an agent killed mid-job and restarted within a second hands the job back: it runs again at once, not after the lease', async () => {
  const { name } = await tandem.repo({ '.gitlab-ci.yml': agents.script('restarted', 2) });
  const id = await tandem.trigger(name);
  const { job } = await agents.runningAttempt(id, 'job', 'restarted');
  agents.signal('phoenix', 'SIGKILL');
  await sleep(1000);
  const restartedAt = Date.now();
  agents.spawn('phoenix');

  const p = await tandem.waitForPipeline(id, undefined, 20_000);
  assert.equal(p.status, 'success', JSON.stringify(p.jobs));
  assert.ok(Date.now() - restartedAt < (LEASE_SECONDS * 1000) / 4, 'well within the lease');
  const [first, second] = attemptsOf(p, 'job');
  assert.deepEqual([first.id, first.status, first.failureReason], [job.id, 'failed', 'runner_system_failure']);
  assert.equal(second.status, 'success');
  assert.equal(await agents.nameOf(second.agentId!), 'phoenix');
  assert.match(await tandem.log(second.id), /done-by-phoenix/);
});
