// Deployments of the demo service to a local target: the service commands really restart it on a free
// port, health checks really probe it, a rollback really brings the previous version back.
import assert from 'node:assert/strict';
import { mkdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseDeploySpec, runDeployment, type DeploymentResult, type DeploySpec, type ReleaseInput } from '../../src/deploy/index.js';
import { DEMO_SERVICE_COMMANDS, stopDeployedDemoServices, writeDeployableDemoRelease } from '../support/demo-service.js';
import { freePort } from '../support/ports.js';
import { get, recorder, version } from './deploy-fixtures.js';
import { release, tempDir, type TempDir } from './targets-fixtures.js';

const INTERVAL_MS = 100;
const FAILURES = 2;

describe('deployment to a local target', () => {
  let tmp: TempDir;
  const deployDirs: string[] = [];

  before(async () => {
    tmp = await tempDir('tandem-deploy-local-');
  });
  after(async () => {
    await Promise.all(deployDirs.map(stopDeployedDemoServices));
    await tmp?.remove();
  });

  interface Env {
    dir: string;
    url: string;
    spec(extra?: Record<string, unknown>): DeploySpec;
    /** A demo release of version v<id>. */
    release(id: number, token: number, options?: { unhealthy?: boolean }): Promise<ReleaseInput>;
  }

  let envs = 0;
  async function environment(): Promise<Env> {
    const dir = join(tmp.path, `env-${++envs}`);
    await mkdir(dir, { recursive: true });
    deployDirs.push(dir);
    const port = await freePort();
    await writeFile(join(dir, 'port'), `${port}\n`);
    const url = `http://127.0.0.1:${port}`;
    return {
      dir,
      url,
      spec: (extra = {}) =>
        parseDeploySpec(
          {
            source: 'dist',
            target: { local: { dir, keep: 3 } },
            service: DEMO_SERVICE_COMMANDS,
            verify: [{ http: `${url}/health`, expect_status: 200, interval: `${INTERVAL_MS}ms`, failures: FAILURES }],
            ...extra,
          },
          'deploy',
        ),
      release: async (id, token, options = {}) => {
        const source = await writeDeployableDemoRelease(join(tmp.path, `src-${envs}-${id}`), `v${id}`, options);
        return release(id, source, token);
      },
    };
  }

  const workDir = (): string => join(tmp.path, 'work');

  it('puts a good version live, and the next one after it', async () => {
    const env = await environment();
    const v1 = await env.release(1, 1);
    const first = recorder({ spec: env.spec(), release: v1, previous: null, workDir: workDir() });
    assert.equal((await runDeployment(first.input)).status, 'live', first.lines.join('\n'));
    assert.equal(await version(env.url), 'v1');

    const v2 = await env.release(2, 2);
    const second = recorder({ spec: env.spec({ bake: '300ms' }), release: v2, previous: v1, workDir: workDir() });
    const result = await runDeployment(second.input);
    assert.equal(result.status, 'live', second.lines.join('\n'));
    assert.ok(result.status === 'live' && result.durationMs >= 300, `the bake holds the verdict: ${JSON.stringify(result)}`);
    assert.equal(await version(env.url), 'v2');
    assert.equal(await readlink(join(env.dir, 'current')), 'releases/2');
    assert.deepEqual(
      second.phases.map(([phase]) => phase),
      ['deploying', 'verifying'],
    );
    assert.ok(
      second.lines.some((l) => /^deploy: LIVE: release 2 on local in /.test(l)),
      second.lines.join('\n'),
    );
    assert.equal(second.fetches(), 0);
  });

  it('rolls a version failing its health check back: the previous version answers again', async () => {
    const env = await environment();
    const v1 = await env.release(1, 1);
    assert.equal((await runDeployment(recorder({ spec: env.spec(), release: v1, workDir: workDir() }).input)).status, 'live');
    const bad = await env.release(2, 2, { unhealthy: true });
    const rec = recorder({ spec: env.spec(), release: bad, previous: v1, workDir: workDir() });
    const result = await runDeployment(rec.input);
    const answeredAt = Date.now();
    assert.equal(result.status, 'rolled_back', rec.lines.join('\n'));
    if (result.status !== 'rolled_back') return;
    assert.equal(await version(env.url), 'v1');
    assert.equal((await get(`${env.url}/health`)).status, 200);
    assert.equal(await readlink(join(env.dir, 'current')), 'releases/1');
    assert.match(result.reason, /expected status 200, got 500/);

    const detection = result.detectedAtMs - result.switchedAtMs;
    const restore = result.restoredAtMs - result.detectedAtMs;
    console.log(
      `local rollback: failure detected ${detection} ms after v2 went live, v1 serving ${restore} ms after detection (${answeredAt - result.detectedAtMs} ms to the first answer)`,
    );
    // Detected at the second failed probe: one interval after the first, plus the probes' own time.
    assert.ok(detection >= INTERVAL_MS * (FAILURES - 1) && detection < INTERVAL_MS * FAILURES + 1_000, `detection took ${detection} ms`);
    assert.ok(restore < 1_000, `restore took ${restore} ms`);
    assert.deepEqual(
      rec.phases.map(([phase]) => phase),
      ['deploying', 'verifying', 'rolling_back'],
    );
    assert.equal(rec.fetches(), 0, 'the previous release was still on the host');
  });

  it('leaves a failed version in place with rollback: manual', async () => {
    const env = await environment();
    const v1 = await env.release(1, 1);
    assert.equal((await runDeployment(recorder({ spec: env.spec(), release: v1, workDir: workDir() }).input)).status, 'live');
    const bad = await env.release(2, 2, { unhealthy: true });
    const rec = recorder({ spec: env.spec({ rollback: 'manual' }), release: bad, previous: v1, workDir: workDir() });
    const result = await runDeployment(rec.input);
    assert.equal(result.status, 'failed', rec.lines.join('\n'));
    assert.match(result.status === 'failed' ? result.reason : '', /rollback: manual leaves release 2 on local$/);
    assert.equal(result.status === 'failed' && result.switched, true);
    assert.equal(await version(env.url), 'v2');
    assert.equal((await get(`${env.url}/health`)).status, 500);
    assert.ok(!rec.phases.some(([phase]) => phase === 'rolling_back'));

    // The one-command rollback, from the release's files only: the host no longer has them.
    await rm(join(env.dir, 'releases', '1'), { recursive: true });
    const back = recorder({
      spec: env.spec({ verify: [{ http: 'http://127.0.0.1:1/never', interval: '50ms', failures: 1 }] }),
      release: { ...v1, fencingToken: 3 },
      mode: 'rollback',
      workDir: workDir(),
    });
    const rolledBack = await runDeployment(back.input);
    assert.equal(rolledBack.status, 'live', back.lines.join('\n'));
    assert.equal(await version(env.url), 'v1');
    assert.equal(await readFile(join(env.dir, 'releases', '1', 'VERSION'), 'utf8'), 'v1\n');
    assert.ok(!back.lines.some((l) => l.startsWith('verify:')), 'a rollback skips verification');
    assert.deepEqual(
      back.phases.map(([phase]) => phase),
      ['rolling_back'],
    );
  });

  it('refuses a stale fencing token at once and rolls nothing back', async () => {
    const env = await environment();
    const v1 = await env.release(1, 7);
    assert.equal((await runDeployment(recorder({ spec: env.spec(), release: v1, workDir: workDir() }).input)).status, 'live');
    const v2 = await env.release(2, 6);
    const rec = recorder({ spec: env.spec(), release: v2, previous: v1, workDir: workDir() });
    const result = await runDeployment(rec.input);
    assert.equal(result.status, 'failed');
    assert.match(
      result.status === 'failed' ? result.reason : '',
      /^stale fencing token: local: stale fencing token 6 refused: .* has already seen token 7; a newer deployment/,
    );
    assert.equal(result.status === 'failed' && result.switched, false);
    assert.equal(await version(env.url), 'v1');
    assert.deepEqual(
      rec.phases.map(([phase]) => phase),
      ['deploying'],
    );
  });

  it('holds a canary without pause for a decision, and withdraws the question when a check fails first', async () => {
    const env = await environment();
    const v1 = await env.release(1, 1);
    const canary = { canary: { first: 1 } };
    const promoted = recorder({
      spec: env.spec({ strategy: canary }),
      release: v1,
      workDir: workDir(),
      decide: () => new Promise((resolve) => setTimeout(() => resolve('promote'), 300)),
    });
    assert.equal((await runDeployment(promoted.input)).status, 'live', promoted.lines.join('\n'));
    assert.equal(promoted.questions.length, 1);
    assert.match(
      promoted.questions[0].reason,
      /^batch 1\/1 \(canary\) \[local\]: canary analysis: promote the release to the other hosts, or abort\?$/,
    );

    const bad = await env.release(2, 2, { unhealthy: true });
    const held = recorder({
      spec: env.spec({ strategy: canary }),
      release: bad,
      previous: v1,
      workDir: workDir(),
      decide: (_reason, signal) =>
        new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error))),
    });
    const result = await runDeployment(held.input);
    assert.equal(result.status, 'rolled_back', held.lines.join('\n'));
    assert.equal(held.questions[0].signal.aborted, true);
    assert.equal(await version(env.url), 'v1');
  });

  it('rejects with the reason when cancelled during verification, touching nothing more', async () => {
    const env = await environment();
    const v1 = await env.release(1, 1);
    const controller = new AbortController();
    const rec = recorder({ spec: env.spec({ bake: '10s' }), release: v1, workDir: workDir(), signal: controller.signal });
    const started = Date.now();
    setTimeout(() => controller.abort(new Error('job cancelled')), 500);
    await assert.rejects(runDeployment(rec.input), /job cancelled/);
    assert.ok(Date.now() - started < 3_000);
    assert.ok(!rec.phases.some(([phase]) => phase === 'rolling_back'));
  });

  it('fails before touching anything when a check names a variable that is not set', async () => {
    const env = await environment();
    const spec = env.spec({ verify: [{ http: 'http://127.0.0.1:${NOT_SET_ANYWHERE}/health' }] });
    const rec = recorder({ spec, release: await env.release(1, 1), workDir: workDir() });
    const result = await runDeployment(rec.input);
    assert.deepEqual(result, {
      status: 'failed',
      reason: 'verify check "http http://127.0.0.1:${NOT_SET_ANYWHERE}/health": $NOT_SET_ANYWHERE is not set',
      switched: false,
    });
    assert.deepEqual(rec.phases, []);
  });
});

describe('deployment with a script target', () => {
  let tmp: TempDir;
  before(async () => {
    tmp = await tempDir('tandem-deploy-script-');
  });
  after(() => tmp?.remove());

  it('rolls back with the rollback command and the previous release files, and a rollback without one redeploys', async () => {
    const state = join(tmp.path, 'state');
    await mkdir(state);
    const write = async (id: number, version: string): Promise<ReleaseInput> => {
      const dir = join(tmp.path, `src-${id}`);
      await mkdir(dir);
      await writeFile(join(dir, 'VERSION'), `${version}\n`);
      return release(id, dir, id);
    };
    const spec = (script: Record<string, string>): DeploySpec =>
      parseDeploySpec(
        {
          source: 'dist',
          target: { script },
          // A generous timeout: a command takes longer than the 50 ms interval on a loaded machine.
          verify: [{ command: `grep -q good ${state}/live`, interval: '50ms', failures: 2, timeout: '5s' }],
        },
        'deploy',
      );
    const deploy = `echo "deploy $TANDEM_RELEASE_ID" >> ${state}/log && cp VERSION ${state}/live`;
    const withRollback = spec({ deploy, rollback: `echo "rollback $TANDEM_RELEASE_ID" >> ${state}/log && cp VERSION ${state}/live` });
    const workDir = join(tmp.path, 'work');
    const run = async (
      spec: DeploySpec,
      r: ReleaseInput,
      previous: ReleaseInput | null,
      mode: 'deploy' | 'rollback' = 'deploy',
    ): Promise<{ result: DeploymentResult; fetches: number }> => {
      const rec = recorder({ spec, release: r, previous, mode, workDir });
      const result = await runDeployment(rec.input);
      return { result, fetches: rec.fetches() };
    };

    const good = await write(1, 'good-1');
    assert.equal((await run(withRollback, good, null)).result.status, 'live');
    const bad = await write(2, 'bad-2');
    const failedRun = await run(withRollback, bad, good);
    assert.equal(failedRun.result.status, 'rolled_back');
    assert.equal(failedRun.fetches, 1);
    assert.equal(await readFile(join(state, 'live'), 'utf8'), 'good-1\n');

    // Without a rollback command, the release is deployed again with its own env and files.
    const fresh = await write(3, 'bad-3');
    assert.equal((await run(spec({ deploy }), fresh, good)).result.status, 'rolled_back');
    const back = await run(spec({ deploy }), { ...good, fencingToken: 4 }, null, 'rollback');
    assert.equal(back.result.status, 'live');
    assert.deepEqual((await readFile(join(state, 'log'), 'utf8')).trim().split('\n'), [
      'deploy 1',
      'deploy 2',
      'rollback 1',
      'deploy 3',
      'deploy 1',
      'deploy 1',
    ]);
    assert.equal(await readFile(join(state, 'live'), 'utf8'), 'good-1\n');
  });
});
