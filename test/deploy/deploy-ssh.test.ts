// Rolling and canary deployments of the demo service to three ssh hosts (real sshd servers, a deploy
// dir and a service port each), verified per host through $TANDEM_DEPLOY_DIR.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseDeploySpec, runDeployment, type DeploySpec, type ReleaseInput } from '../../src/deploy/index.js';
import { DEMO_SERVICE_COMMANDS, stopDeployedDemoServices, writeDeployableDemoRelease } from '../support/demo-service.js';
import { freePort } from '../support/ports.js';
import { startSshd, sshdSkipReason, type SshdHosts } from '../support/sshd.js';
import { recorder, version, type Recorder } from './deploy-fixtures.js';
import { release, tempDir, type TempDir } from './targets-fixtures.js';

const skip = sshdSkipReason();

describe('deployment to ssh hosts', { skip }, () => {
  let tmp: TempDir;
  let sshd: SshdHosts;
  let fleets = 0;
  const dirs: string[] = [];

  before(async () => {
    [tmp, sshd] = await Promise.all([tempDir('tandem-deploy-ssh-'), startSshd(3)]);
  });
  after(async () => {
    await Promise.all(dirs.map(stopDeployedDemoServices));
    await sshd?.stop();
    await tmp?.remove();
  });

  interface Fleet {
    dirs: string[];
    /** The hosts' names, "127.0.0.1:PORT". */
    hosts: string[];
    urls: string[];
    spec(strategy: unknown): DeploySpec;
    release(id: number, options?: { unhealthy?: boolean }): Promise<ReleaseInput>;
    /** What each host serves: its `current` link and the version its service reports. */
    serving(): Promise<string[]>;
    deploy(
      strategy: unknown,
      r: ReleaseInput,
      previous: ReleaseInput | null,
    ): Promise<Recorder & { result: Awaited<ReturnType<typeof runDeployment>> }>;
  }

  /** Three hosts, each with its deploy dir and service port, on release 1 (v1) already. */
  async function fleet(): Promise<Fleet> {
    const n = ++fleets;
    const hostDirs = sshd.servers.map((_, i) => join(tmp.path, `fleet-${n}-host-${i}`));
    const urls: string[] = [];
    for (const dir of hostDirs) {
      await mkdir(dir);
      dirs.push(dir);
      const port = await freePort();
      await writeFile(join(dir, 'port'), `${port}\n`);
      urls.push(`http://127.0.0.1:${port}`);
    }
    const f: Fleet = {
      dirs: hostDirs,
      hosts: sshd.servers.map((s) => `${s.host}:${s.port}`),
      urls,
      spec: (strategy) =>
        parseDeploySpec(
          {
            source: 'dist',
            target: {
              ssh: {
                hosts: sshd.servers.map((s, i) => ({ host: s.host, port: s.port, dir: hostDirs[i] })),
                user: sshd.user,
                identity_file: sshd.identityFile,
                known_hosts: sshd.servers.map((s) => s.knownHostsLine).join('\n'),
              },
            },
            service: DEMO_SERVICE_COMMANDS,
            strategy,
            verify: [
              {
                command: 'curl -fsS -o /dev/null "http://127.0.0.1:$(cat "$TANDEM_DEPLOY_DIR/port")/health"',
                interval: '200ms',
                timeout: '2s',
                failures: 2,
              },
            ],
          },
          'deploy',
        ),
      release: async (id, options = {}) =>
        release(id, await writeDeployableDemoRelease(join(tmp.path, `src-${n}-${id}`), `v${id}`, options), id),
      serving: () =>
        Promise.all(
          hostDirs.map(async (dir, i) => `${await readlink(join(dir, 'current')).catch(() => 'none')} ${await version(urls[i])}`),
        ),
      deploy: async (strategy, r, previous) => {
        const rec = recorder({ spec: f.spec(strategy), release: r, previous, workDir: join(tmp.path, `work-${n}`) });
        return { ...rec, result: await runDeployment(rec.input) };
      },
    };
    const first = await f.deploy(null, await f.release(1), null);
    assert.equal(first.result.status, 'live', first.lines.join('\n'));
    return f;
  }

  const v = (id: number): string => `releases/${id} v${id}`;
  // One fleet for the whole file, each test starting from the release the previous one left live.
  let f: Fleet;

  it('stops a failing canary at its first batch: that host rolled back, the others never touched', async () => {
    f = await fleet();
    const v1 = await f.release(1);
    // This host lost release 1's files (say, it was rebuilt): the rollback uploads them again.
    await rm(join(f.dirs[0], 'releases', '1'), { recursive: true });
    const run = await f.deploy({ canary: { first: 1, pause: '1s' } }, await f.release(2, { unhealthy: true }), v1);
    assert.equal(run.result.status, 'rolled_back', run.lines.join('\n'));
    assert.match(
      run.result.status === 'rolled_back' ? run.result.reason : '',
      /^batch 1\/2 \(canary\) \[127\.0\.0\.1:\d+\]: canary analysis: command .* @ 127\.0\.0\.1:\d+: 2 consecutive failures/,
    );
    assert.deepEqual(await f.serving(), [v(1), v(1), v(1)]);
    for (const dir of f.dirs.slice(1)) assert.equal(existsSync(join(dir, 'releases', '2')), false, `${dir} was touched`);
    assert.equal(await readFile(join(f.dirs[0], 'releases', '1', 'VERSION'), 'utf8'), 'v1\n');
    assert.equal(run.fetches(), 1);
    assert.deepEqual(
      run.phases.map(([phase]) => phase),
      ['deploying', 'verifying', 'rolling_back'],
    );
  });

  it('promotes a passing canary after its pause, then the rest in batches', async () => {
    const started = Date.now();
    const run = await f.deploy({ canary: { first: 1, pause: '500ms', batch: 1 } }, await f.release(3), await f.release(1));
    assert.equal(run.result.status, 'live', run.lines.join('\n'));
    assert.ok(Date.now() - started >= 500);
    assert.deepEqual(await f.serving(), [v(3), v(3), v(3)]);
    assert.deepEqual(
      run.phases.map(([phase, detail]) => `${phase} ${detail?.replace(/ \[.*$/, '')}`),
      [
        'deploying batch 1/3 (canary)',
        'verifying batch 1/3 (canary)',
        'deploying batch 2/3',
        'verifying batch 2/3',
        'deploying batch 3/3',
        'verifying batch 3/3',
      ],
    );
    // The canary's analysis probed the canary host, the second batch its host, the last every host.
    const probed = run.lines.filter((l) => l.startsWith('verify: ok command')).map((l) => l.match(/@ (\S+):/)?.[1]);
    assert.deepEqual(probed.slice(0, 2), [f.hosts[0], f.hosts[1]]);
    assert.deepEqual(new Set(probed.slice(2)), new Set(f.hosts));
  });

  it('rolls out in batches of one; a failure in the second batch rolls back both switched hosts, the third untouched', async () => {
    await writeFile(join(f.dirs[1], 'unhealthy'), '');
    const run = await f.deploy({ rolling: { batch: 1 } }, await f.release(4), await f.release(3));
    assert.equal(run.result.status, 'rolled_back', run.lines.join('\n'));
    assert.deepEqual(await f.serving(), [v(3), v(3), v(3)]);
    assert.equal(existsSync(join(f.dirs[2], 'releases', '4')), false);
    // Host 0 switched and verified, then host 1 switched and failed: both go back, at once.
    const steps = run.lines.filter((l) => /^deploy: (\[.*\] release 4 active|batch .*: verifying|rolling back)/.test(l));
    const [h0, h1] = f.hosts.map((h) => h.replaceAll('.', '\\.'));
    const expected = [
      `^deploy: \\[${h0}\\] release 4 active in `,
      `^deploy: batch 1/3 \\[${h0}\\]: verifying ${h0}$`,
      `^deploy: \\[${h1}\\] release 4 active in `,
      `^deploy: batch 2/3 \\[${h1}\\]: verifying ${h1}$`,
      `^deploy: rolling back ${h0}, ${h1} to release 3: batch 2/3 \\[${h1}\\]: command .* @ ${h1}: 2 consecutive failures`,
    ];
    assert.equal(steps.length, expected.length, steps.join('\n'));
    steps.forEach((line, i) => assert.match(line, new RegExp(expected[i])));
    assert.equal(run.fetches(), 0);
  });
});
