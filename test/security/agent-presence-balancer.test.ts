// An agent killed behind a load balancer: HAProxy keeps its connection to the server open after the
// agent's side closed, so the presence stream's break used to reach the server only when HAProxy
// gave up on it (half a minute in the fault run, with ops/cluster's one-hour timeouts), and the job
// waited that long or a whole lease. The server now writes a heartbeat on the presence stream every
// second: the first write after the agent died is refused through the balancer, the break is seen,
// and the job is queued again within the disconnect grace, far below the lease.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AgentProcesses, attemptsOf } from '../e2e/agent-processes.js';
import { haproxySkipReason, startHaproxy, type Haproxy } from '../support/haproxy.js';
import { TestTandem } from '../support/tandem.js';

const LEASE_SECONDS = 60;
const GRACE_SECONDS = 3;

const skip = haproxySkipReason();

describe('an agent killed behind HAProxy', { skip }, () => {
  let tandem: TestTandem;
  let haproxy: Haproxy;
  let agents: AgentProcesses;

  before(async () => {
    tandem = await TestTandem.start({ agents: 0, settings: { leaseSeconds: LEASE_SECONDS, agentDisconnectGraceSeconds: GRACE_SECONDS } });
    // As ops/cluster/haproxy.cfg.in: long client and server timeouts, so streams stay open.
    haproxy = await startHaproxy({ tandem: Number(new URL(tandem.url).port) }, { timeouts: { connect: '2s', client: '1h', server: '1h' } });
    assert.equal((await haproxy.command(`set server ${haproxy.backend}/tandem state ready`)).trim(), '');
    agents = await AgentProcesses.start(tandem, ['near', 'far'], haproxy.url);
  });

  after(async () => {
    agents?.stopOrphans();
    await tandem?.close();
    await haproxy?.stop();
  });

  test('its job is queued again within the disconnect grace, not after the balancer’s timeout or the lease', async () => {
    const { name } = await tandem.repo({ '.gitlab-ci.yml': agents.script('balanced', 2) });
    const id = await tandem.trigger(name);
    const { job, holder } = await agents.runningAttempt(id, 'job', 'balanced');
    const killedAt = Date.now();
    agents.signal(holder, 'SIGKILL');

    const requeued = await tandem.waitForPipeline(
      id,
      (p) => p.jobs.some((j) => j.id === job.id && j.status !== 'running'),
      LEASE_SECONDS * 1000,
    );
    const freedAfterMs = Date.now() - killedAt;
    assert.ok(
      freedAfterMs < (GRACE_SECONDS + 3) * 1000,
      `the job was freed ${freedAfterMs} ms after the kill (grace ${GRACE_SECONDS} s, lease ${LEASE_SECONDS} s)`,
    );
    assert.ok(requeued.jobs.some((j) => j.name === 'job' && j.attempt === 2));

    const p = await tandem.waitForPipeline(id, undefined, 20_000);
    assert.equal(p.status, 'success', JSON.stringify(p.jobs));
    const [first, second] = attemptsOf(p, 'job');
    assert.deepEqual([first.status, first.failureReason], ['failed', 'runner_system_failure']);
    assert.notEqual(await agents.nameOf(second.agentId!), holder);
  });
});
