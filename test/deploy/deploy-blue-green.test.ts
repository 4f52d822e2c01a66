// Blue-green deployments of the demo service behind a real HAProxy: one service per slot (its own
// port), traffic moved by the runtime API, and what clients see checked through HAProxy.
import assert from 'node:assert/strict';
import { mkdir, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseDeploySpec, runDeployment, type DeploySpec, type Phase, type ReleaseInput } from '../../src/deploy/index.js';
import { DEMO_SERVICE_COMMANDS, stopDeployedDemoServices, writeDeployableDemoRelease } from '../support/demo-service.js';
import { haproxySkipReason, runtimeApiShellCommand, startHaproxy, type Haproxy } from '../support/haproxy.js';
import { freePort } from '../support/ports.js';
import { get, recorder, version } from './deploy-fixtures.js';
import { release, tempDir, type TempDir } from './targets-fixtures.js';

const skip = haproxySkipReason();

describe('blue-green deployment behind HAProxy', { skip }, () => {
  let tmp: TempDir;
  let haproxy: Haproxy;
  let dir: string;
  let ports: { blue: number; green: number };
  const releases = new Map<number, ReleaseInput>();

  before(async () => {
    tmp = await tempDir('tandem-deploy-bg-');
    dir = join(tmp.path, 'deploy');
    await mkdir(dir);
    ports = { blue: await freePort(), green: await freePort() };
    haproxy = await startHaproxy(ports);
  });
  after(async () => {
    await stopDeployedDemoServices(dir);
    await haproxy?.stop();
    await tmp?.remove();
  });

  function spec(): DeploySpec {
    return parseDeploySpec(
      {
        source: 'dist',
        target: { local: { dir } },
        service: DEMO_SERVICE_COMMANDS,
        strategy: {
          'blue-green': {
            switch: runtimeApiShellCommand(
              haproxy.socket,
              `set server ${haproxy.backend}/$TANDEM_SLOT state ready; set server ${haproxy.backend}/$TANDEM_OTHER_SLOT state maint`,
            ),
            slots: { blue: { PORT: ports.blue }, green: { PORT: ports.green } },
          },
        },
        verify: [{ http: 'http://127.0.0.1:${PORT}/health', interval: '100ms', failures: 2 }],
        bake: '300ms',
      },
      'deploy',
    );
  }

  async function demo(id: number, options: { unhealthy?: boolean } = {}): Promise<ReleaseInput> {
    const r = release(id, await writeDeployableDemoRelease(join(tmp.path, `src-${id}`), `v${id}`, options), id);
    releases.set(id, r);
    return r;
  }

  /** Requests through HAProxy every 20 ms while `during` runs: the versions seen, in order, and any error. */
  async function watch<T>(during: () => Promise<T>): Promise<{ value: T; seen: string[]; errors: string[] }> {
    const seen: string[] = [];
    const errors: string[] = [];
    const sample = async (): Promise<void> => {
      const answer = await get(`${haproxy.url}/version`).catch((err: Error) => ({ status: 0, body: err.message }));
      if (answer.status !== 200) errors.push(`${answer.status} ${answer.body.trim()}`);
      else if (seen.at(-1) !== answer.body.trim()) seen.push(answer.body.trim());
    };
    let done = false;
    const poller = (async () => {
      while (!done) {
        await sample();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    try {
      const value = await during();
      done = true;
      await poller;
      // What clients see once the deployment is over.
      await sample();
      return { value, seen, errors };
    } finally {
      done = true;
      await poller;
    }
  }

  // Each deployment is a new job with a newer fencing token.
  let token = 0;
  const deploy = async (
    id: number,
    previous: number | null,
    options: { mode?: 'deploy' | 'rollback'; onPhase?: (phase: Phase, detail?: string) => Promise<void> } = {},
  ) => {
    const rec = recorder({
      spec: spec(),
      release: { ...(releases.get(id) as ReleaseInput), fencingToken: ++token },
      previous: previous === null ? null : releases.get(previous),
      workDir: join(tmp.path, 'work'),
      ...options,
    });
    return { ...rec, result: await runDeployment(rec.input) };
  };

  const links = async () => ({
    current: await readlink(join(dir, 'current')),
    blue: await readlink(join(dir, 'blue')),
    green: await readlink(join(dir, 'green')),
  });

  it('puts the first release in the first slot and switches traffic to it', async () => {
    await demo(1);
    const run = await deploy(1, null);
    assert.equal(run.result.status, 'live', run.lines.join('\n'));
    assert.equal(await version(haproxy.url), 'v1');
    assert.deepEqual(
      { current: await readlink(join(dir, 'current')), blue: await readlink(join(dir, 'blue')) },
      { current: 'releases/1', blue: 'releases/1' },
    );
  });

  it('deploys the next release to the idle slot and switches with no failed request; the old slot keeps running', async () => {
    await demo(2);
    const { value: run, seen, errors } = await watch(() => deploy(2, 1));
    assert.equal(run.result.status, 'live', run.lines.join('\n'));
    assert.deepEqual(errors, []);
    assert.deepEqual(seen, ['v1', 'v2']);
    assert.deepEqual(await links(), { current: 'releases/2', blue: 'releases/1', green: 'releases/2' });
    assert.equal(await version(`http://127.0.0.1:${ports.blue}`), 'v1');
    assert.ok(
      run.lines.some((l) => l === 'deploy: slots: blue is live (release 1), green is idle'),
      run.lines.join('\n'),
    );
  });

  it('switches back to the old slot when the release fails after the switch', async () => {
    const v3 = await demo(3);
    // It breaks under real traffic: unhealthy from the moment traffic moves to it.
    const onPhase = async (_phase: Phase, detail?: string): Promise<void> => {
      if (detail?.startsWith('switch traffic to slot blue')) await writeFile(join(dir, 'releases', String(v3.id), 'UNHEALTHY'), '');
    };
    const { value: run, seen, errors } = await watch(() => deploy(3, 2, { onPhase }));
    assert.equal(run.result.status, 'rolled_back', run.lines.join('\n'));
    if (run.result.status !== 'rolled_back') return;
    assert.match(
      run.result.reason,
      /^slot blue \[local\] after the switch: http http:\/\/127\.0\.0\.1:\$\{PORT\}\/health: 2 consecutive failures/,
    );
    assert.deepEqual(errors, []);
    assert.deepEqual(seen, ['v2', 'v3', 'v2']);
    assert.equal(await version(haproxy.url), 'v2');
    assert.deepEqual(await links(), { current: 'releases/2', blue: 'releases/3', green: 'releases/2' });
    const { switchedAtMs, detectedAtMs, restoredAtMs } = run.result;
    console.log(
      `blue-green: failure detected ${detectedAtMs - switchedAtMs} ms after the switch, traffic back on the old slot ${restoredAtMs - detectedAtMs} ms later`,
    );
    assert.ok(restoredAtMs - detectedAtMs < 1_000);
    assert.deepEqual(
      run.phases.map(([phase]) => phase),
      ['deploying', 'verifying', 'deploying', 'verifying', 'rolling_back'],
    );
  });

  it('never switches to a release failing verification in its slot', async () => {
    await demo(4, { unhealthy: true });
    const { value: run, seen } = await watch(() => deploy(4, 2));
    assert.equal(run.result.status, 'failed', run.lines.join('\n'));
    assert.deepEqual(
      run.result.status === 'failed' && { switched: run.result.switched, reason: run.result.reason.replace(/:.*?;/, ':…;') },
      {
        switched: false,
        reason: 'slot blue [local] before the switch:…; traffic stays on slot green; release 4 keeps running in slot blue for inspection',
      },
    );
    assert.deepEqual(seen, ['v2']);
    assert.equal(await version(`http://127.0.0.1:${ports.blue}`), 'v4');
  });

  it('rolls back to a release in the idle slot by switching alone, and to an older one by redeploying the idle slot', async () => {
    const older = await deploy(1, null, { mode: 'rollback' });
    assert.equal(older.result.status, 'live', older.lines.join('\n'));
    assert.equal(await version(haproxy.url), 'v1');
    assert.deepEqual(await links(), { current: 'releases/1', blue: 'releases/1', green: 'releases/2' });
    assert.ok(!older.lines.some((l) => l.startsWith('verify:')));

    const { value: instant, seen, errors } = await watch(() => deploy(2, null, { mode: 'rollback' }));
    assert.equal(instant.result.status, 'live', instant.lines.join('\n'));
    assert.deepEqual([seen, errors], [['v1', 'v2'], []]);
    assert.ok(
      instant.lines.includes('deploy: slot green [local]: release 2 is still there: switching back to it'),
      instant.lines.join('\n'),
    );
    assert.ok(!instant.lines.some((l) => l.includes('service restart')), 'no service was restarted');
    assert.equal(await version(`http://127.0.0.1:${ports.blue}`), 'v1');
  });
});
