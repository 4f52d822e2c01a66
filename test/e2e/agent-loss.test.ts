// Losing an agent mid-job, with agents as real child processes: a SIGKILLed agent's job is run
// again on the other agent as attempt 2 (the first attempt failed with runner_system_failure), and
// an agent frozen past its lease (SIGSTOP) that wakes up later is fenced off: its late writes are
// refused with 409 and the job's result is the other agent's.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TestTandem } from '../support/tandem.js';
import { AgentProcesses, attemptsOf } from './agent-processes.js';
import { until } from './helpers.js';

const LEASE_SECONDS = 2;

let tandem: TestTandem;
let agents: AgentProcesses;

/** Requests answered 409 on the agent protocol routes, from this replica's metrics. */
async function refusedAgentWrites(): Promise<number> {
  const text = await (await fetch(`${tandem.url}/metrics`)).text();
  let total = 0;
  for (const m of text.matchAll(/^tandem_http_requests_total\{([^}]*)\} (\d+)$/gm)) {
    if (m[1].includes('route="/api/v1/agent/jobs/') && m[1].includes('status="409"')) total += Number(m[2]);
  }
  return total;
}

before(async () => {
  tandem = await TestTandem.start({ agents: 0, settings: { leaseSeconds: LEASE_SECONDS } });
  agents = await AgentProcesses.start(tandem, ['alpha', 'beta', 'gamma']);
});

after(async () => {
  agents.stopOrphans();
  await tandem.close();
});

test('a SIGKILLed agent’s job runs again on another agent as attempt 2', async () => {
  const { name } = await tandem.repo({ '.gitlab-ci.yml': agents.script('killed', 1) });
  const id = await tandem.trigger(name);
  const { job, holder } = await agents.runningAttempt(id, 'job', 'killed');
  agents.signal(holder, 'SIGKILL');

  const p = await tandem.waitForPipeline(id, undefined, 15_000);
  assert.equal(p.status, 'success', JSON.stringify(p.jobs));
  const [first, second] = attemptsOf(p, 'job');
  assert.deepEqual(
    [first.id, first.attempt, first.retried, first.status, first.failureReason],
    [job.id, 1, true, 'failed', 'runner_system_failure'],
  );
  assert.deepEqual([second.attempt, second.retried, second.status], [2, false, 'success']);
  const rescuer = await agents.nameOf(second.agentId!);
  assert.notEqual(rescuer, holder);
  assert.match(await tandem.log(second.id), new RegExp(`^done-by-${rescuer}$`, 'm'));
  assert.doesNotMatch(await tandem.log(first.id), /done-by-/);
});

test('an agent frozen past its lease is fenced off: late writes get 409, the job is the other agent’s', async () => {
  const { name } = await tandem.repo({ '.gitlab-ci.yml': agents.script('fenced', 1) });
  const id = await tandem.trigger(name);
  const { job, holder } = await agents.runningAttempt(id, 'job', 'fenced');
  agents.signal(holder, 'SIGSTOP');

  // The lease runs out, the reaper fails attempt 1 and another agent claims attempt 2.
  const taken = await tandem.waitForPipeline(id, (x) => x.jobs.some((j) => j.attempt === 2 && j.status === 'running'), 15_000);
  const second = taken.jobs.find((j) => j.attempt === 2)!;
  const refusedBefore = await refusedAgentWrites();
  agents.signal(holder, 'SIGCONT');

  // Its job's script kept running while the agent was frozen; the buffered output and the
  // heartbeat now reach the server with the old fencing token. Whichever is refused first (the
  // heartbeat, or the completion that the job's last output rides with) makes the agent give up.
  await until(
    'the woken agent to give the job up',
    () => (/claim went stale|result refused: the claim is stale/.test(agents.output(holder)) ? true : undefined),
    10_000,
  );
  assert.ok((await refusedAgentWrites()) > refusedBefore, 'the late writes were answered 409');

  const p = await tandem.waitForPipeline(id, undefined, 15_000);
  assert.equal(p.status, 'success', JSON.stringify(p.jobs));
  const [a1, a2] = attemptsOf(p, 'job');
  assert.deepEqual([a1.id, a1.status, a1.failureReason, a1.agentId], [job.id, 'failed', 'runner_system_failure', job.agentId]);
  assert.deepEqual([a2.id, a2.status], [second.id, 'success']);
  const winner = await agents.nameOf(a2.agentId!);
  assert.notEqual(winner, holder);
  assert.match(await tandem.log(a2.id), new RegExp(`^done-by-${winner}$`, 'm'));
  assert.doesNotMatch(await tandem.log(a1.id), /done-by-/, 'the fenced agent’s late output was refused');
});
