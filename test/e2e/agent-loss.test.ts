// Losing an agent mid-job, with agents as real child processes: a SIGKILLed agent's job is run
// again on the other agent as attempt 2 (the first attempt failed with runner_system_failure), and
// an agent frozen past its lease (SIGSTOP) that wakes up later is fenced off: its late writes are
// refused with 409 and the job's result is the other agent's.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { TestTandem, type JobView, type PipelineView } from '../support/tandem.js';
import { until } from './helpers.js';

const LEASE_SECONDS = 2;

let tandem: TestTandem;
let pidDir: string;
const agents = new Map<string, { child: ChildProcess; output: string[] }>();
/** Process groups of jobs whose agent the test killed: nothing else would ever stop them. */
const orphanGroups: number[] = [];

function startAgent(name: string): void {
  const child = tandem.spawnAgent(name);
  const output: string[] = [];
  child.stdout?.on('data', (b: Buffer) => output.push(b.toString()));
  child.stderr?.on('data', (b: Buffer) => output.push(b.toString()));
  agents.set(name, { child, output });
}

async function waitForAgentsOnline(names: string[]): Promise<void> {
  await until(`agents ${names.join(', ')} online`, async () => {
    const list = (await tandem.api<{ name: string; online: boolean }[]>('GET', '/api/v1/agents')).body;
    return names.every((n) => list.some((a) => a.name === n && a.online)) ? true : undefined;
  }, 15_000);
}

async function agentName(agentId: number): Promise<string> {
  const list = (await tandem.api<{ id: number; name: string }[]>('GET', '/api/v1/agents')).body;
  const found = list.find((a) => a.id === agentId);
  assert.ok(found, `agent ${agentId} is listed`);
  return found.name;
}

/** The job's only attempt once it runs on an agent and its script has started (its pid file exists). */
async function runningAttempt(pipelineId: number, jobName: string, pidPrefix: string): Promise<{ job: JobView; holder: string; jobPid: number }> {
  const p = await tandem.waitForPipeline(pipelineId, (x) => x.jobs.some((j) => j.name === jobName && j.status === 'running' && j.agentId !== null), 15_000);
  const job = p.jobs.find((j) => j.name === jobName && j.status === 'running')!;
  const holder = await agentName(job.agentId!);
  const pidFile = path.join(pidDir, `${pidPrefix}-${holder}.pid`);
  await until(`pid file ${pidFile}`, () => (existsSync(pidFile) ? true : undefined));
  const jobPid = Number((await readFile(pidFile, 'utf8')).trim());
  return { job, holder, jobPid };
}

const attempts = (p: PipelineView, name: string) => p.jobs.filter((j) => j.name === name).sort((a, b) => a.attempt - b.attempt);

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
  pidDir = path.join(tandem.dataDir, 'pids');
  await mkdir(pidDir);
  for (const name of ['alpha', 'beta', 'gamma']) startAgent(name);
  await waitForAgentsOnline(['alpha', 'beta', 'gamma']);
});

after(async () => {
  for (const pgid of orphanGroups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // Already gone: the job finished on its own.
    }
  }
  await tandem.close();
});

const script = (prefix: string, seconds: number) => `
job:
  script:
    - echo "$$" > ${pidDir}/${prefix}-$CI_RUNNER_DESCRIPTION.pid
    - sleep ${seconds}
    - echo "done-by-$CI_RUNNER_DESCRIPTION"
`;

test('a SIGKILLed agent’s job runs again on another agent as attempt 2', async () => {
  const { name } = await tandem.repo({ '.gitlab-ci.yml': script('killed', 1) });
  const id = await tandem.trigger(name);
  const { job, holder, jobPid } = await runningAttempt(id, 'job', 'killed');
  agents.get(holder)!.child.kill('SIGKILL');
  orphanGroups.push(jobPid);

  const p = await tandem.waitForPipeline(id, undefined, 15_000);
  assert.equal(p.status, 'success', JSON.stringify(p.jobs));
  const [first, second] = attempts(p, 'job');
  assert.deepEqual([first.id, first.attempt, first.retried, first.status, first.failureReason], [job.id, 1, true, 'failed', 'runner_system_failure']);
  assert.deepEqual([second.attempt, second.retried, second.status], [2, false, 'success']);
  const rescuer = await agentName(second.agentId!);
  assert.notEqual(rescuer, holder);
  assert.match(await tandem.log(second.id), new RegExp(`^done-by-${rescuer}$`, 'm'));
  assert.doesNotMatch(await tandem.log(first.id), /done-by-/);
});

test('an agent frozen past its lease is fenced off: late writes get 409, the job is the other agent’s', async () => {
  const { name } = await tandem.repo({ '.gitlab-ci.yml': script('fenced', 1) });
  const id = await tandem.trigger(name);
  const { job, holder, jobPid } = await runningAttempt(id, 'job', 'fenced');
  const frozen = agents.get(holder)!;
  frozen.child.kill('SIGSTOP');
  orphanGroups.push(jobPid);

  // The lease runs out, the reaper fails attempt 1 and another agent claims attempt 2.
  const taken = await tandem.waitForPipeline(id, (x) => x.jobs.some((j) => j.attempt === 2 && j.status === 'running'), 15_000);
  const second = taken.jobs.find((j) => j.attempt === 2)!;
  const refusedBefore = await refusedAgentWrites();
  frozen.child.kill('SIGCONT');

  // Its job's script kept running while the agent was frozen; the buffered output and the
  // heartbeat now reach the server with the old fencing token.
  await until('the woken agent to give the job up', () => (/claim went stale|completion refused/.test(frozen.output.join('')) ? true : undefined), 10_000);
  assert.ok((await refusedAgentWrites()) > refusedBefore, 'the late writes were answered 409');

  const p = await tandem.waitForPipeline(id, undefined, 15_000);
  assert.equal(p.status, 'success', JSON.stringify(p.jobs));
  const [a1, a2] = attempts(p, 'job');
  assert.deepEqual([a1.id, a1.status, a1.failureReason, a1.agentId], [job.id, 'failed', 'runner_system_failure', job.agentId]);
  assert.deepEqual([a2.id, a2.status], [second.id, 'success']);
  const winner = await agentName(a2.agentId!);
  assert.notEqual(winner, holder);
  assert.match(await tandem.log(a2.id), new RegExp(`^done-by-${winner}$`, 'm'));
  assert.doesNotMatch(await tandem.log(a1.id), /done-by-/, 'the fenced agent’s late output was refused');
});
