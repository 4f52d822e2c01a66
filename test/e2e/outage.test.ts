// A control-plane outage: every server is down while an agent runs a job. The agent keeps running
// it, keeps the log and the result on disk, and delivers both once a server answers again. The
// job is neither lost nor run twice.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { jobNamed, TestTandem } from '../support/tandem.js';
import { until } from './helpers.js';

let tandem: TestTandem;
before(async () => {
  tandem = await TestTandem.start({ agents: 1 });
});
after(() => tandem.close());

test('a job that runs through a server outage delivers its whole log and result afterwards', async () => {
  const { name } = await tandem.repo({
    '.gitlab-ci.yml': `
steady:
  script:
    - for i in 1 2 3 4 5 6 7 8; do echo "line $i"; sleep 0.25; done
`,
  });
  const id = await tandem.trigger(name);
  await until('the job prints its first line', async () =>
    (await tandem.log(jobNamed(await tandem.pipeline(id), 'steady').id)).includes('line 1') ? true : undefined,
  );

  await tandem.stopServer();
  // The job ends (2 s of output) while no server answers; the agent keeps everything on disk.
  await new Promise((r) => setTimeout(r, 2500));
  await tandem.startServerAgain();

  const p = await tandem.waitForPipeline(id);
  assert.equal(p.status, 'success', JSON.stringify(p.jobs));
  const job = jobNamed(p, 'steady');
  assert.equal(job.attempt, 1, 'the job ran once: the agent kept its claim through the outage');
  assert.equal(p.jobs.length, 1);
  const lines = (await tandem.log(job.id)).split('\n').filter((l) => /^line \d$/.test(l));
  assert.deepEqual(
    lines,
    ['line 1', 'line 2', 'line 3', 'line 4', 'line 5', 'line 6', 'line 7', 'line 8'],
    'every line exactly once, in order',
  );
});

test('an agent killed during an outage delivers the finished job from disk after its restart', async () => {
  const { name } = await tandem.repo({
    '.gitlab-ci.yml': `
short:
  tags: [outage]
  script:
    - for i in 1 2 3 4; do echo "step $i"; sleep 0.25; done
`,
  });
  const agentDir = path.join(tandem.dataDir, 'crashy');
  let agent = tandem.spawnAgent('crashy', ['--tags', 'outage']);
  const id = await tandem.trigger(name);
  const first = await until('the job prints its first line', async () => {
    const job = jobNamed(await tandem.pipeline(id), 'short');
    return (await tandem.log(job.id)).includes('step 1') ? job : undefined;
  });

  await tandem.stopServer();
  // The job finishes while no server answers: its result lands in the agent's outbox on disk.
  const resultFile = await until(
    'the result in the outbox',
    async () => {
      const dirs = await readdir(path.join(agentDir, 'outbox')).catch(() => [] as string[]);
      const dir = dirs.find((d) => d.startsWith(`${first.id}.`));
      return dir && existsSync(path.join(agentDir, 'outbox', dir, 'result.json'))
        ? path.join(agentDir, 'outbox', dir, 'result.json')
        : undefined;
    },
    10_000,
  );
  agent.kill('SIGKILL');
  await once(agent, 'exit');
  await tandem.startServerAgain();
  agent = tandem.spawnAgent('crashy', ['--tags', 'outage']);

  const p = await tandem.waitForPipeline(id);
  assert.equal(p.status, 'success', JSON.stringify(p.jobs));
  assert.equal(jobNamed(p, 'short').attempt, 1, 'delivered by the restarted agent, not run again');
  const lines = (await tandem.log(first.id)).split('\n').filter((l) => /^step \d$/.test(l));
  assert.deepEqual(lines, ['step 1', 'step 2', 'step 3', 'step 4']);
  await until('the outbox is emptied', async () => (existsSync(resultFile) ? undefined : true));
  agent.kill('SIGTERM');
});
