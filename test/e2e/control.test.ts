// Controlling jobs while and after they run: retry policy, allowed failures, timeouts and cancels
// that must kill the whole process tree (checked by pid), manual and delayed jobs, resource groups,
// auto-cancel of interruptible pipelines and the retry API.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { jobNamed, TestTandem, type JobView, type PipelineView } from '../support/tandem.js';
import { until } from './helpers.js';

let tandem: TestTandem;
let scratch: string;
before(async () => {
  // A short lease makes agents heartbeat every ~0.7 s, which is how they learn about a cancel.
  tandem = await TestTandem.start({ agents: 1, concurrency: 8, settings: { leaseSeconds: 2 } });
  scratch = await mkdtemp(path.join(tmpdir(), 'tandem-e2e-control-'));
});
after(async () => {
  await tandem.close();
  await rm(scratch, { recursive: true, force: true });
});

const mark = (name: string) => path.join(scratch, name);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function pidFrom(file: string): Promise<number> {
  // The job has to be claimed and started first: on a loaded machine that can take a while.
  const text = await until(
    `pid file ${file}`,
    async () => (existsSync(file) ? (await readFile(file, 'utf8')).trim() || undefined : undefined),
    30_000,
  );
  return Number(text);
}

/** A script line that starts a long `sleep` in the job's tree, records its pid and waits for it. */
const sleeper = (pidFile: string) => `sleep 30 & echo $! > ${pidFile}; wait`;

async function pipelineOf(
  files: Record<string, string>,
): Promise<{ name: string; id: number; sha: string; remote: Awaited<ReturnType<TestTandem['repo']>>['remote'] }> {
  const { name, sha, remote } = await tandem.repo(files);
  return { name, sha, remote, id: await tandem.trigger(name) };
}

const attempts = (p: PipelineView, name: string): JobView[] => p.jobs.filter((j) => j.name === name).sort((a, b) => a.attempt - b.attempt);

// The cases use separate repositories and mostly wait on sleeps and heartbeats, so they run side by side.
describe('job control', { concurrency: true }, () => {
  test('retry: a failing script is run again as a new attempt; the old one is flagged retried', async () => {
    const { id } = await pipelineOf({
      '.gitlab-ci.yml': `
  flaky:
    retry: 1
    script: ['if [ -f ${mark('flaky')} ]; then echo second-try; else touch ${mark('flaky')}; exit 3; fi']
  doomed:
    retry: 2
    allow_failure: true
    script: [exit 4]
  `,
    });
    const p = await tandem.waitForPipeline(id);
    assert.equal(p.status, 'success', JSON.stringify(p.jobs));
    const flaky = attempts(p, 'flaky');
    assert.deepEqual(
      flaky.map((j) => [j.attempt, j.retried, j.status, j.exitCode]),
      [
        [1, true, 'failed', 3],
        [2, false, 'success', 0],
      ],
    );
    assert.match(await tandem.log(flaky[1].id), /^second-try$/m);
    assert.deepEqual(
      attempts(p, 'doomed').map((j) => [j.attempt, j.retried, j.status]),
      [
        [1, true, 'failed'],
        [2, true, 'failed'],
        [3, false, 'failed'],
      ],
    );
  });

  test('allow_failure and allow_failure:exit_codes decide whether a failed job fails the pipeline', async () => {
    const allowed = await pipelineOf({
      '.gitlab-ci.yml': `
  soft:
    allow_failure: true
    script: [exit 1]
  coded:
    allow_failure: { exit_codes: [42] }
    script: [exit 42]
  `,
    });
    const notAllowed = await pipelineOf({
      '.gitlab-ci.yml': `
  coded:
    allow_failure: { exit_codes: [42] }
    script: [exit 1]
  `,
    });
    const p1 = await tandem.waitForPipeline(allowed.id);
    assert.equal(p1.status, 'success', JSON.stringify(p1.jobs));
    // Latest attempts only: on a loaded machine a 2 s lease can lapse and the job run again.
    const latest = p1.jobs.filter((j) => !j.retried);
    assert.deepEqual(latest.map((j) => [j.name, j.status, j.exitCode]).sort(), [
      ['coded', 'failed', 42],
      ['soft', 'failed', 1],
    ]);
    const p2 = await tandem.waitForPipeline(notAllowed.id);
    assert.equal(p2.status, 'failed');
    assert.equal(jobNamed(p2, 'coded').exitCode, 1);
  });

  test('timeout kills the job’s whole process tree and fails it with job_execution_timeout', async () => {
    const pidFile = mark('timeout.pid');
    // Tandem takes any ChronicDuration here; GitLab would insist on at least ten minutes. The
    // timeout covers the job's start too: a full run once took more than 4 s to write the pid file,
    // so 12 s, still well below the 30 s sleep it has to cut short.
    const { id } = await pipelineOf({
      '.gitlab-ci.yml': `
  slow:
    timeout: 12s
    script: ['${sleeper(pidFile)}']
  `,
    });
    const pid = await pidFrom(pidFile);
    assert.ok(alive(pid));
    const p = await tandem.waitForPipeline(id, undefined, 30_000);
    const slow = jobNamed(p, 'slow');
    assert.equal(slow.status, 'failed');
    assert.equal(slow.failureReason, 'job_execution_timeout');
    assert.ok(new Date(slow.finishedAt!).getTime() - new Date(slow.startedAt!).getTime() < 20_000, 'stopped near its timeout');
    await until(`sleep ${pid} to be killed`, () => (alive(pid) ? undefined : true), 3000);
  });

  test('cancel of a running job kills its processes, runs after_script and ends canceled', async () => {
    const pidFile = mark('cancel.pid');
    const afterFile = mark('cancel.after');
    const { id } = await pipelineOf({
      '.gitlab-ci.yml': `
  long:
    script: ['${sleeper(pidFile)}']
    after_script: ['echo "after-script-ran" > ${afterFile}']
  `,
    });
    const pid = await pidFrom(pidFile);
    const running = await tandem.pipeline(id);
    const res = await tandem.api<{ status: string }>('POST', `/api/v1/jobs/${jobNamed(running, 'long').id}/cancel`);
    assert.equal(res.status, 200, res.text);
    const p = await tandem.waitForPipeline(id, undefined, 8000);
    assert.equal(p.status, 'canceled');
    assert.equal(jobNamed(p, 'long').status, 'canceled');
    await until(`sleep ${pid} to be killed`, () => (alive(pid) ? undefined : true), 3000);
    assert.equal((await readFile(afterFile, 'utf8')).trim(), 'after-script-ran');
    assert.match(await tandem.log(jobNamed(p, 'long').id), /Running after_script/);
    const again = await tandem.api('POST', `/api/v1/jobs/${jobNamed(p, 'long').id}/cancel`);
    assert.equal(again.status, 200, 'canceling a canceled job is a no-op');
  });

  test('pipeline cancel stops running jobs and cancels the ones not started', async () => {
    const [pidA, pidB] = [mark('pipe-a.pid'), mark('pipe-b.pid')];
    const { id } = await pipelineOf({
      '.gitlab-ci.yml': `
  stages: [first, second]
  a:
    stage: first
    script: ['${sleeper(pidA)}']
  b:
    stage: first
    script: ['${sleeper(pidB)}']
  later:
    stage: second
    script: [echo never]
  `,
    });
    const pids = [await pidFrom(pidA), await pidFrom(pidB)];
    const res = await tandem.api<{ status: string }>('POST', `/api/v1/pipelines/${id}/cancel`);
    assert.equal(res.status, 200, res.text);
    const p = await tandem.waitForPipeline(id, undefined, 8000);
    assert.equal(p.status, 'canceled');
    assert.deepEqual(p.jobs.map((j) => [j.name, j.status]).sort(), [
      ['a', 'canceled'],
      ['b', 'canceled'],
      ['later', 'canceled'],
    ]);
    for (const pid of pids) await until(`sleep ${pid} to be killed`, () => (alive(pid) ? undefined : true), 3000);
    assert.equal(jobNamed(p, 'later').startedAt, null);
  });

  test('a manual job waits for the play API; a delayed job starts after start_in', async () => {
    const { id } = await pipelineOf({
      '.gitlab-ci.yml': `
  build:
    script: [echo built]
  deploy:
    when: manual
    script: [echo deployed]
  soon:
    when: delayed
    start_in: 3 seconds
    script: [echo delayed-ran]
  `,
    });
    const created = await tandem.pipeline(id);
    const readBy = Date.now();
    const scheduledAt = new Date(jobNamed(created, 'soon').scheduledAt!).getTime();
    // Only a read that ended before the job's time can insist on `scheduled`: on a loaded machine a
    // read has taken longer than start_in (the server shares this process with eight busy cases).
    if (readBy < scheduledAt) assert.equal(jobNamed(created, 'soon').status, 'scheduled');
    const waiting = await tandem.waitForPipeline(
      id,
      (p) =>
        jobNamed(p, 'deploy').status === 'manual' && jobNamed(p, 'soon').status === 'success' && jobNamed(p, 'build').status === 'success',
    );
    const soon = await tandem.api<JobView>('GET', `/api/v1/jobs/${jobNamed(waiting, 'soon').id}`);
    const createdAt = new Date(soon.body.createdAt!).getTime();
    assert.ok(
      scheduledAt - createdAt >= 3000 && scheduledAt - createdAt < 4000,
      `scheduled for start_in after its stage began: ${soon.body.scheduledAt}`,
    );
    assert.ok(new Date(soon.body.startedAt!).getTime() >= scheduledAt, 'delayed job waited start_in');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(jobNamed(await tandem.pipeline(id), 'deploy').status, 'manual', 'a manual job never starts by itself');

    const played = await tandem.api<{ status: string }>('POST', `/api/v1/jobs/${jobNamed(waiting, 'deploy').id}/play`);
    assert.equal(played.status, 200, played.text);
    const done = await tandem.waitForPipeline(id, (p) => jobNamed(p, 'deploy').status === 'success');
    assert.match(await tandem.log(jobNamed(done, 'deploy').id), /^deployed$/m);
  });

  test('resource_group: jobs of two pipelines sharing a group never overlap', async () => {
    const { name, remote } = await tandem.repo({
      '.gitlab-ci.yml': `
  deploy:
    resource_group: production
    script: [sleep 0.6]
  `,
    });
    // Two branches: a second pipeline on the same branch would auto-cancel the first while it waits.
    await remote.push('main:other');
    const ids = [await tandem.trigger(name, { ref: 'main' }), await tandem.trigger(name, { ref: 'other' })];
    const jobs = await Promise.all(ids.map(async (id) => jobNamed(await tandem.waitForPipeline(id), 'deploy')));
    for (const j of jobs) assert.equal(j.status, 'success');
    const [first, second] = jobs
      .map((j) => [new Date(j.startedAt!).getTime(), new Date(j.finishedAt!).getTime()])
      .sort((a, b) => a[0] - b[0]);
    assert.ok(second[0] >= first[1], `overlap: ${JSON.stringify(jobs.map((j) => [j.startedAt, j.finishedAt]))}`);
  });

  test('a new pipeline on the same branch auto-cancels an older interruptible one', async () => {
    const pidFile = mark('interruptible.pid');
    const {
      name,
      id: older,
      remote,
    } = await pipelineOf({
      '.gitlab-ci.yml': `
  work:
    interruptible: true
    script: ['${sleeper(pidFile)}']
  `,
    });
    const pid = await pidFrom(pidFile);
    await remote.commit({ '.gitlab-ci.yml': 'work:\n  interruptible: true\n  script: [echo newer]\n' }, 'newer');
    await remote.push('main');
    const newer = await tandem.trigger(name);
    const p = await tandem.waitForPipeline(older, undefined, 8000);
    assert.equal(p.status, 'canceled');
    await until(`sleep ${pid} to be killed`, () => (alive(pid) ? undefined : true), 3000);
    assert.equal((await tandem.waitForPipeline(newer)).status, 'success');
  });

  test('the retry API runs a finished job again and the pipeline follows the new attempt', async () => {
    const flag = mark('retry-api');
    const { id } = await pipelineOf({
      '.gitlab-ci.yml': `
  once:
    script: ['if [ -f ${flag} ]; then echo passed-on-retry; else touch ${flag}; exit 1; fi']
  `,
    });
    const failed = await tandem.waitForPipeline(id);
    assert.equal(failed.status, 'failed');
    const first = jobNamed(failed, 'once');
    const retried = await tandem.api<JobView>('POST', `/api/v1/jobs/${first.id}/retry`);
    assert.equal(retried.status, 200, retried.text);
    assert.notEqual(retried.body.id, first.id);
    assert.equal(retried.body.attempt, 2);
    const p = await tandem.waitForPipeline(
      id,
      (x) => jobNamed(x, 'once').id === retried.body.id && ['success', 'failed'].includes(x.status),
    );
    assert.equal(p.status, 'success');
    assert.match(await tandem.log(jobNamed(p, 'once').id), /^passed-on-retry$/m);
    const twice = await tandem.api<{ message: string }>('POST', `/api/v1/jobs/${first.id}/retry`);
    assert.equal(twice.status, 409);
    assert.match(twice.body.message, /already retried/);
  });
});
