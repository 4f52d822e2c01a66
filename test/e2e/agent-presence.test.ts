// An agent's presence stream: with a lease far longer than the test waits, a SIGKILLed agent's job
// is still freed (its broken connection tells the server), while a frozen agent (connection open)
// and a server restart (the server ends the streams itself) free nothing.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { TestTandem } from '../support/tandem.js';
import { AgentProcesses, attemptsOf } from './agent-processes.js';

const LEASE_SECONDS = 120;

let tandem: TestTandem;
let agents: AgentProcesses;

before(async () => {
  tandem = await TestTandem.start({ agents: 0, settings: { leaseSeconds: LEASE_SECONDS, agentDisconnectGraceSeconds: 1 } });
  agents = await AgentProcesses.start(tandem, ['north', 'south']);
});

after(async () => {
  agents.stopOrphans();
  await tandem.close();
});

test('a SIGKILLed agent’s job is freed by its broken presence stream, long before its lease', async () => {
  const { name } = await tandem.repo({ '.gitlab-ci.yml': agents.script('killed', 1) });
  const id = await tandem.trigger(name);
  const { job, holder } = await agents.runningAttempt(id, 'job', 'killed');
  agents.signal(holder, 'SIGKILL');

  // Within the wait, only the broken stream can free the job: its lease has minutes to go.
  const p = await tandem.waitForPipeline(id, undefined, 15_000);
  assert.equal(p.status, 'success', JSON.stringify(p.jobs));
  const [first, second] = attemptsOf(p, 'job');
  assert.deepEqual([first.id, first.status, first.failureReason], [job.id, 'failed', 'runner_system_failure']);
  assert.notEqual(await agents.nameOf(second.agentId!), holder);
  agents.spawn(holder);
  await agents.waitOnline([holder]);
});

test('a frozen agent keeps its job: its connection is open, so only the lease could free it', async () => {
  const { name } = await tandem.repo({ '.gitlab-ci.yml': agents.script('frozen', 2) });
  const id = await tandem.trigger(name);
  const { job, holder } = await agents.runningAttempt(id, 'job', 'frozen');
  agents.signal(holder, 'SIGSTOP');
  await sleep(3000);
  agents.signal(holder, 'SIGCONT');
  const p = await tandem.waitForPipeline(id, undefined, 15_000);
  assert.equal(p.status, 'success', JSON.stringify(p.jobs));
  assert.deepEqual(
    attemptsOf(p, 'job').map((j) => [j.id, j.attempt]),
    [[job.id, 1]],
  );
});

test('a server restart frees nothing: a stream the server ends is not an agent lost', async () => {
  const { name } = await tandem.repo({ '.gitlab-ci.yml': agents.script('restart', 3) });
  const id = await tandem.trigger(name);
  const { job } = await agents.runningAttempt(id, 'job', 'restart');
  await tandem.stopServer();
  await sleep(1500);
  await tandem.startServerAgain();
  const p = await tandem.waitForPipeline(id, undefined, 20_000);
  assert.equal(p.status, 'success', JSON.stringify(p.jobs));
  assert.deepEqual(
    attemptsOf(p, 'job').map((j) => [j.id, j.attempt]),
    [[job.id, 1]],
  );
});
