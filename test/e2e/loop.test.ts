// Pipeline-level actions against a real server and agent, through the API and the `tandem` command:
// "Retry failed jobs" of a pipeline (RBAC, audit, what runs again), the earlier attempts of a job
// each with its own log, and `tandem run watch` following the pipeline a push starts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { JobDetailJson } from '../../src/api/index.js';
import { CLI_ARGV, cleanEnv, tandem as cli } from '../cli/helpers.js';
import { repoRoot } from '../support/git.js';
import { jobNamed, TestTandem, type PipelineView } from '../support/tandem.js';
import { until } from './helpers.js';

let server: TestTandem;
let scratch: string;
before(async () => {
  server = await TestTandem.start({ agents: 1, concurrency: 4 });
  scratch = await mkdtemp(path.join(tmpdir(), 'tandem-e2e-loop-'));
});
after(async () => {
  await server.close();
  await rm(scratch, { recursive: true, force: true });
});

/** A token for a new user with that role in the repository. */
async function userWithRole(repo: string, username: string, role: string): Promise<string> {
  const created = await server.api('POST', '/api/v1/users', { username, password: 'a-long-password-1' });
  assert.equal(created.status, 201, created.text);
  const member = await server.api('PUT', `/api/v1/repos/${repo}/members/${username}`, { role });
  assert.equal(member.status, 200, member.text);
  const token = await server.api<{ token: string }>('POST', '/api/v1/tokens', { name: 'loop', scopes: ['api'], username });
  assert.equal(token.status, 201, token.text);
  return token.body.token;
}

const as = (token: string) => ['--server', server.url, '--token', token];

describe('retry failed jobs of a pipeline', () => {
  test('retries the failed job, re-runs what it skipped, keeps every attempt with its own log', async () => {
    const marker = path.join(scratch, 'flaky-ran-once');
    const { name } = await server.repo({
      '.gitlab-ci.yml': `
build:
  stage: build
  script: [echo built]
flaky:
  stage: test
  script:
    - if [ -e ${marker} ]; then echo ran second; else touch ${marker}; echo ran first; exit 3; fi
ship:
  stage: deploy
  needs: [flaky]
  script: [echo shipped]
`,
    });
    const id = await server.trigger(name);
    const failed = await server.waitForPipeline(id);
    assert.equal(failed.status, 'failed');
    assert.equal(jobNamed(failed, 'ship').status, 'skipped');
    const firstFlaky = jobNamed(failed, 'flaky');

    // RBAC as a job's retry: a reporter may not; a developer may not on main, protected for maintainers by default.
    const reporter = await userWithRole(name, 'rita', 'reporter');
    const refused = await server.api('POST', `/api/v1/pipelines/${id}/retry`, undefined, { authorization: `Bearer ${reporter}` });
    assert.equal(refused.status, 403, refused.text);
    const developer = await userWithRole(name, 'dave', 'developer');
    const byDeveloper = await cli(['run', 'retry', String(id), '--pipeline', ...as(developer)]);
    assert.equal(byDeveloper.code, 1);
    assert.match(byDeveloper.stderr, /not allowed: .*protected branch main/);
    assert.equal((await server.pipeline(id)).jobs.length, 3, 'a refused retry made no attempt');

    const retried = await cli(['run', 'retry', String(id), '--pipeline', '--json', ...as(server.token)]);
    assert.equal(retried.code, 0, retried.stderr);
    const shown = JSON.parse(retried.stdout) as PipelineView;
    assert.equal(shown.id, id);
    assert.notEqual(shown.status, 'failed', 'the pipeline runs again');
    const done = await server.waitForPipeline(id);
    assert.equal(done.status, 'success');
    const attemptsOf = (job: string) =>
      done.jobs
        .filter((j) => j.name === job)
        .map((j) => [j.attempt, j.status])
        .sort();
    assert.deepEqual(attemptsOf('flaky'), [
      [1, 'failed'],
      [2, 'success'],
    ]);
    assert.deepEqual(attemptsOf('build'), [[1, 'success']], 'a job that succeeded is not run again');
    assert.deepEqual(attemptsOf('ship'), [[1, 'success']], 'the skipped job runs once its need succeeded');

    // Each attempt opens with its own log.
    const latest = jobNamed(done, 'flaky');
    const detail = await server.api<JobDetailJson>('GET', `/api/v1/jobs/${latest.id}`);
    assert.equal(detail.status, 200, detail.text);
    assert.deepEqual(
      detail.body.attempts.map((a) => [a.id, a.attempt, a.status, a.exitCode]),
      [
        [firstFlaky.id, 1, 'failed', 3],
        [latest.id, 2, 'success', 0],
      ],
    );
    const earlier = await server.api<JobDetailJson>('GET', `/api/v1/jobs/${firstFlaky.id}`);
    assert.deepEqual(
      earlier.body.attempts.map((a) => a.id),
      [firstFlaky.id, latest.id],
      'the earlier attempt lists the same attempts',
    );
    const firstLog = await server.log(firstFlaky.id);
    const secondLog = await server.log(latest.id);
    // Whole lines: the echoed command names both.
    assert.match(firstLog, /^ran first$/m);
    assert.doesNotMatch(firstLog, /^ran second$/m);
    assert.match(secondLog, /^ran second$/m);

    const audit = await server.api<{ action: string; details: { retried?: { from: number; to: number }[] } }[]>(
      'GET',
      '/api/v1/audit?action=pipeline.retry',
    );
    assert.equal(audit.status, 200, audit.text);
    assert.equal(audit.body.length, 1, 'only the retry that happened is audited');
    assert.deepEqual(audit.body[0].details.retried, [{ from: firstFlaky.id, to: latest.id }]);

    const again = await server.api<{ message: string }>('POST', `/api/v1/pipelines/${id}/retry`);
    assert.equal(again.status, 409);
    assert.match(again.body.message, /no failed or canceled jobs/);
  });
});

/** `tandem run watch` as a child process, its stdout readable while it runs. */
function startWatch(args: string[]): { lines: () => string[]; exit: Promise<number | null>; output: () => string } {
  const child = spawn(process.execPath, [...CLI_ARGV, 'run', 'watch', ...args, ...as(server.token)], {
    cwd: repoRoot(),
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const exit = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    }),
  );
  return { lines: () => out.split('\n').filter(Boolean), exit, output: () => out + err };
}

interface WatchLine {
  type: string;
  pipelineId?: number;
  ref?: string;
  name?: string;
  status?: string;
}

describe('tandem run watch', () => {
  test('follows the next pipeline of the ref to its end and exits 0 on success', async () => {
    const { name, remote } = await server.repo({ '.tandem.yml': 'hello:\n  script: [echo hello, sleep 1]\n' });
    const earlier = await server.waitForPipeline(await server.trigger(name));
    const watch = startWatch([name, '--ref', 'main', '--json', '--timeout', '50']);
    await until('the watch to start waiting', () => (watch.lines().some((l) => l.includes('"waiting"')) ? true : undefined), 20_000);
    // A pipeline of another branch is not the one the watch waits for.
    await remote.push('main:other');
    await server.trigger(name, { ref: 'other' });
    const pushed = await server.trigger(name);
    const code = await watch.exit;
    assert.equal(code, 0, watch.output());
    const events = watch.lines().map((l) => JSON.parse(l) as WatchLine);
    const pipelines = events.filter((e) => e.type === 'pipeline');
    assert.ok(pipelines.length > 0 && pipelines.every((e) => e.pipelineId === pushed && e.ref === 'main'), watch.output());
    assert.notEqual(pushed, earlier.id);
    assert.equal(pipelines.at(-1)?.status, 'success');
    const jobStatuses = events.filter((e) => e.type === 'job' && e.name === 'hello').map((e) => e.status);
    assert.ok(jobStatuses.includes('running') && jobStatuses.at(-1) === 'success', `job events: ${jobStatuses.join(', ')}`);
  });

  test('--sha follows the pipeline of that commit, made before it started, and exits 1 on failure', async () => {
    const { name, remote } = await server.repo({ '.tandem.yml': 'ok:\n  script: [echo ok]\n' });
    const sha = await remote.commit({ '.tandem.yml': 'broken:\n  script: [echo broken, exit 1]\n' }, 'break it');
    await remote.push('main');
    const id = await server.trigger(name, { sha });
    const watch = startWatch([name, '--sha', sha.slice(0, 10)]);
    assert.equal(await watch.exit, 1, watch.output());
    assert.match(watch.output(), new RegExp(`Pipeline #${id} .*failed`));
    assert.match(watch.output(), /broken \(#\d+\): failed/);
  });

  test('exits 2 when no pipeline comes within --timeout', async () => {
    const { name } = await server.repo({ '.tandem.yml': 'ok:\n  script: [echo ok]\n' });
    const watch = startWatch([name, '--ref', 'nowhere', '--timeout', '1']);
    assert.equal(await watch.exit, 2, watch.output());
    assert.match(watch.output(), /Timed out after 1 s waiting for a pipeline/);
  });
});
