// The container target with real podman (runc) and a real registry (docker-registry with TLS and
// basic auth): pinned images pulled by digest, two "hosts" on this machine, health checks, rolling,
// canary and blue-green rollbacks, fencing, and podman over a real sshd.
//
// Two hosts on one machine: two container names and state dirs (each its own fence and lock), the
// same port on two loopback addresses (127.0.0.2, 127.0.0.3). Two podman storage roots would isolate
// more, but the port still had to differ, and every image would be pulled twice per run; the names
// and dirs already give each host its own record (labels) and its own fence, which is what is tested.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parseDeploySpec, runDeployment, type DeploymentResult, type ReleaseInput } from '../../src/deploy/index.js';
import { ContainerDeployTarget } from '../../src/deploy/targets/container.js';
import { createTarget } from '../../src/deploy/targets/index.js';
import { podmanSkip, removeContainersNamed } from '../support/podman.js';
import { freePort } from '../support/ports.js';
import { podmanRegistryEnv, pushBusybox, registrySkip, startRegistry, type PushedImage, type TestRegistry } from '../support/registry.js';
import { startSshd, sshdAvailable, type SshdHosts } from '../support/sshd.js';
import { get, recorder } from './deploy-fixtures.js';
import { tempDir, type TempDir } from './targets-fixtures.js';

const run = promisify(execFile);
const skip = podmanSkip('CONTAINER TARGET TESTS') || registrySkip();

/** Writes its version, serves /health only when HEALTHY=yes; catatonit (--init) makes SIGTERM stop it at once. */
const COMMAND = [
  'sh',
  '-c',
  'mkdir -p /www && echo "$VERSION" >/www/index.html && if [ "$HEALTHY" = yes ]; then echo ok >/www/health; fi && exec httpd -f -p 80 -h /www',
];

const ROLLBACK_BOUND_MS = 4_000;
const RUNS = 3;

function p50(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

async function podman(...args: string[]): Promise<string> {
  return (await run('podman', args, { maxBuffer: 16 * 1024 * 1024 })).stdout;
}

describe('deployment to a container target', { skip }, () => {
  let tmp: TempDir;
  let registry: TestRegistry;
  let v1: PushedImage;
  let v2: PushedImage;
  let env: Record<string, string>;
  let prefix: string;
  let sshd: SshdHosts | null = null;
  const servers: Server[] = [];

  before(async () => {
    tmp = await tempDir('tandem-deploy-container-');
    registry = await startRegistry();
    [v1, v2] = [await pushBusybox(registry, 'tandem/web', 'v1'), await pushBusybox(registry, 'tandem/web', 'v2')];
    env = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...(await podmanRegistryEnv(registry, tmp.path)) };
    prefix = `tt-ct-${process.pid}`;
  });
  after(async () => {
    for (const server of servers) server.close();
    await removeContainersNamed(prefix);
    for (const image of [v1, v2]) if (image) await podman('rmi', '--force', image.pinned).catch(() => undefined);
    await sshd?.stop();
    await registry?.stop();
    await tmp?.remove();
  });

  let envs = 0;
  /** An environment of two local hosts on their own names, dirs and loopback addresses. */
  async function environment(extra: Record<string, unknown> = {}, container: Record<string, unknown> = {}) {
    const n = ++envs;
    const port = await freePort();
    const hosts = ['127.0.0.2', '127.0.0.3'].map((address, i) => ({
      host: 'local',
      container: `${prefix}-${n}-${'ab'[i]}`,
      address,
      dir: join(tmp.path, `env-${n}-${'ab'[i]}`),
    }));
    const spec = (more: Record<string, unknown> = {}, containerMore: Record<string, unknown> = {}) =>
      parseDeploySpec(
        {
          image: `${registry.host}/tandem/web:v1`,
          target: {
            container: {
              hosts,
              ports: [`\${TANDEM_HOST_ADDRESS}:${port}:80`],
              env: { VERSION: '${TANDEM_RELEASE_VERSION}', HEALTHY: '${HEALTHY}' },
              command: COMMAND,
              run_args: ['--init'],
              keep: 2,
              ...container,
              ...containerMore,
            },
          },
          verify: [{ http: `http://\${TANDEM_HOST_ADDRESS}:${port}/health`, expect_status: 200, interval: '100ms', failures: 3 }],
          ...extra,
          ...more,
        },
        'deploy',
      );
    const urls = hosts.map((h) => `http://${h.address}:${port}/`);
    return { spec, hosts, urls, port, workDir: join(tmp.path, `work-${n}`) };
  }

  function release(id: number, token: number, image: PushedImage, healthy = true): ReleaseInput {
    return {
      id,
      sourceDir: tmp.path,
      fencingToken: token,
      image: image.pinned,
      env: {
        TANDEM_RELEASE_ID: String(id),
        TANDEM_RELEASE_VERSION: `v${id}`,
        TANDEM_ENVIRONMENT: 'production',
        HEALTHY: healthy ? 'yes' : 'no',
      },
    };
  }

  async function deploy(
    spec: ReturnType<Awaited<ReturnType<typeof environment>>['spec']>,
    workDir: string,
    next: ReleaseInput,
    previous: ReleaseInput | null,
  ): Promise<{ result: DeploymentResult; lines: string[] }> {
    const rec = recorder({ spec, release: next, previous, workDir, cwd: tmp.path });
    rec.input.env = env;
    const result = await runDeployment(rec.input);
    return { result, lines: rec.lines };
  }

  /** Milliseconds until every URL answers `version` (polled every 10 ms, for at most 5 s). */
  async function untilServing(urls: string[], version: string): Promise<number> {
    const started = Date.now();
    for (;;) {
      const answers = await versions(urls).catch(() => []);
      if (answers.length === urls.length && answers.every((a) => a === version)) return Date.now() - started;
      if (Date.now() - started > 5_000) throw new Error(`${urls.join(', ')} do not all answer ${version}: ${answers.join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async function versions(urls: string[]): Promise<string[]> {
    return Promise.all(urls.map(async (url) => (await get(url)).body.trim()));
  }

  /** The image and release of the running container of a host, from its labels. */
  async function running(container: string): Promise<string[]> {
    const out = await podman(
      'ps',
      '--filter',
      `label=tandem.target=${container}`,
      '--format',
      '{{index .Labels "tandem.release"}} {{index .Labels "tandem.image"}} {{index .Labels "tandem.environment"}}',
    );
    return out.trim().split('\n').filter(Boolean);
  }

  // The goal is 1 s p50 on an idle host (bench/rollback.ts measures it: one podman stop and one
  // podman start per host); the bound here leaves room for a CI machine running other suites.
  it('rolls v1 out to two hosts, and a v2 that fails verification back to v1, measured (p50 of 3)', async () => {
    const e = await environment();
    const r1 = release(1, 1, v1);
    const first = await deploy(e.spec(), e.workDir, r1, null);
    assert.equal(first.result.status, 'live', first.lines.join('\n'));
    assert.deepEqual(await versions(e.urls), ['v1', 'v1']);
    for (const h of e.hosts) assert.deepEqual(await running(h.container), [`1 ${v1.pinned} production`]);
    const target = createTarget(e.spec().target, { workDir: e.workDir, env });
    assert.equal(await target.current(target.hosts[1]), 1, 'current() reads the labels');
    assert.equal(await target.has(target.hosts[0], 1), true);

    const restoreMs: number[] = [];
    for (let id = 2; id <= RUNS + 1; id++) {
      const bad = await deploy(e.spec(), e.workDir, release(id, id, v2, false), r1);
      assert.equal(bad.result.status, 'rolled_back', bad.lines.join('\n'));
      assert.ok(bad.result.status === 'rolled_back');
      assert.match(bad.result.reason, /health/);
      // Serving again: the rollback's own time, and then until both hosts answer v1.
      restoreMs.push(bad.result.restoredAtMs - bad.result.detectedAtMs + (await untilServing(e.urls, 'v1')));
      for (const h of e.hosts) assert.deepEqual(await running(h.container), [`1 ${v1.pinned} production`]);
    }
    const median = p50(restoreMs);
    console.log(`container rollback, failed verify -> v1 serving on 2 hosts: p50 ${median} ms (${restoreMs.join(', ')} ms)`);
    assert.ok(median <= ROLLBACK_BOUND_MS, `p50 ${median} ms over ${restoreMs.join(', ')}`);

    // keep: 2 stopped containers beyond the running one; prune runs after a success.
    const good = release(RUNS + 2, RUNS + 2, v2);
    assert.equal((await deploy(e.spec(), e.workDir, good, r1)).result.status, 'live');
    const left = (await podman('ps', '--all', '--filter', `label=tandem.target=${e.hosts[0].container}`, '--format', '{{.Names}}'))
      .split('\n')
      .filter(Boolean);
    const kept = [1, RUNS + 1, RUNS + 2].map((id) => `${e.hosts[0].container}-${id}`);
    assert.deepEqual(left.sort(), kept.sort(), 'v1 (stopped last), the newest failed release, and the live one');
  });

  it('a v2 whose container health check fails never passes activation; v1 serves again, with the registry down', async () => {
    const e = await environment({}, { health: { cmd: 'wget -q -O /dev/null http://127.0.0.1/health', interval: '100ms', retries: 5 } });
    const r1 = release(1, 1, v1);
    assert.equal((await deploy(e.spec(), e.workDir, r1, null)).result.status, 'live');
    // The hosts already have v2 (pulled earlier); the rollback needs nothing from the registry.
    await podman('pull', '--quiet', '--authfile', env.REGISTRY_AUTH_FILE, '--tls-verify=false', v2.pinned);
    process.kill(registry.pid, 'SIGSTOP');
    try {
      const bad = await deploy(e.spec(), e.workDir, release(2, 2, v2, false), r1);
      assert.equal(bad.result.status, 'rolled_back', bad.lines.join('\n'));
      assert.match(bad.lines.join('\n'), /health check failed 5 times/);
      await untilServing(e.urls, 'v1');
    } finally {
      process.kill(registry.pid, 'SIGCONT');
    }
  });

  /** Running network holders of a host, and the network mode of its running release container. */
  async function network(container: string): Promise<{ holders: string[]; joined: string }> {
    const holders = await podman('ps', '--filter', `label=tandem.network-for=${container}`, '--format', '{{.Names}} {{.Ports}}');
    const app = (await podman('ps', '--quiet', '--filter', `label=tandem.target=${container}`)).trim();
    const joined = app ? (await podman('inspect', '--format', '{{.HostConfig.NetworkMode}}', app)).trim() : '';
    return { holders: holders.trim().split('\n').filter(Boolean), joined };
  }

  it('a network holder keeps the ports across releases; a release with other ports rolls back to the earlier ones', async () => {
    const e = await environment();
    const r1 = release(1, 1, v1);
    assert.equal((await deploy(e.spec(), e.workDir, r1, null)).result.status, 'live');
    const first = await network(e.hosts[0].container);
    assert.equal(first.holders.length, 1, `one holder: ${first.holders.join(' | ')}`);
    assert.match(first.holders[0], new RegExp(`^${e.hosts[0].container}-net-[0-9a-f]{8} 127\\.0\\.0\\.2:${e.port}->80/tcp$`));
    const holderId = (await podman('inspect', '--format', '{{.Id}}', first.holders[0].split(' ')[0])).trim();
    assert.equal(first.joined, `container:${holderId}`, 'the release container joins the holder');

    // Same ports: the next release joins the same holder.
    const r2 = release(2, 2, v2);
    assert.equal((await deploy(e.spec(), e.workDir, r2, r1)).result.status, 'live');
    assert.deepEqual((await network(e.hosts[0].container)).holders, first.holders);

    // The same host port onto another container port, where nothing listens: the new holder takes
    // the host port from the old one, verification fails, and the rollback gives it back.
    const moved = e.spec({}, { ports: [`\${TANDEM_HOST_ADDRESS}:${e.port}:81`] });
    const bad = await deploy(moved, e.workDir, release(3, 3, v2), r2);
    assert.equal(bad.result.status, 'rolled_back', bad.lines.join('\n'));
    await untilServing(e.urls, 'v2');
    assert.deepEqual((await network(e.hosts[0].container)).holders, first.holders, "back on the earlier release's holder alone");
  });

  it('a host refuses a fencing token lower than one it has seen', async () => {
    const e = await environment();
    const first = await deploy(e.spec(), e.workDir, release(1, 10, v1), null);
    assert.equal(first.result.status, 'live', first.lines.join('\n'));
    const stale = await deploy(e.spec(), e.workDir, release(2, 9, v2), null);
    assert.equal(stale.result.status, 'failed');
    assert.ok(stale.result.status === 'failed');
    assert.match(stale.result.reason, /stale fencing token 9 refused: .* has already seen token 10/);
    assert.equal(await readFile(join(e.hosts[0].dir, '.tandem', 'fence'), 'utf8'), '10\n');
    assert.deepEqual(await versions(e.urls), ['v1', 'v1']);
    for (const h of e.hosts) assert.deepEqual(await running(h.container), [`1 ${v1.pinned} production`]);
  });

  it('canary 1 of 2: a bad release is analysed on the first host only and rolled back there', async () => {
    const e = await environment({ strategy: { canary: { first: 1, pause: '300ms' } } });
    const r1 = release(1, 1, v1);
    assert.equal((await deploy(e.spec(), e.workDir, r1, null)).result.status, 'live');
    const bad = await deploy(e.spec(), e.workDir, release(2, 2, v2, false), r1);
    assert.equal(bad.result.status, 'rolled_back', bad.lines.join('\n'));
    assert.match(bad.lines.join('\n'), new RegExp(`batch 1/2 \\(canary\\) \\[local:${e.hosts[0].container}\\]`));
    const target = createTarget(e.spec().target, { workDir: e.workDir, env });
    assert.equal(await target.has(target.hosts[0], 2), true, 'the canary host ran release 2');
    assert.equal(await target.has(target.hosts[1], 2), false, 'the other host never saw it');
    await untilServing(e.urls, 'v1');

    const good = await deploy(e.spec(), e.workDir, release(3, 3, v2), r1);
    assert.equal(good.result.status, 'live', good.lines.join('\n'));
    assert.deepEqual(await versions(e.urls), ['v3', 'v3']);
  });

  it('blue-green: two slot containers behind a port switch; a failure after the switch switches back', async () => {
    const [blue, green] = [await freePort(), await freePort()];
    const live = join(tmp.path, 'live-port');
    // Before the first release, the front forwards to a stand-in that passes the checks.
    const before = createServer((_req, res) => res.end('v0\n'));
    servers.push(before);
    const beforePort = await freePort();
    await new Promise<void>((resolve) => before.listen(beforePort, '127.0.0.1', resolve));
    await writeFile(live, `${beforePort}\n`);
    // The "port switch": a front port forwarding to the slot port named in a file.
    const front = createServer((req, res) => {
      void readFile(live, 'utf8').then(
        (port) => {
          const upstream = request({ host: '127.0.0.1', port: Number(port), path: req.url, agent: false }, (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          });
          upstream.on('error', () => res.writeHead(502).end());
          upstream.end();
        },
        () => res.writeHead(503).end(),
      );
    });
    servers.push(front);
    const frontPort = await freePort();
    await new Promise<void>((resolve) => front.listen(frontPort, '127.0.0.1', resolve));
    const e = await environment(
      {
        strategy: {
          'blue-green': { slots: { blue: { SLOT_PORT: blue }, green: { SLOT_PORT: green } }, switch: `echo "$SLOT_PORT" > ${live}` },
        },
        verify: [{ http: `http://127.0.0.1:${frontPort}/health`, expect_status: 200, interval: '100ms', failures: 3 }],
      },
      { hosts: [{ host: 'local', container: `${prefix}-bg`, dir: join(tmp.path, 'bg') }], ports: ['127.0.0.1:${SLOT_PORT}:80'] },
    );
    const frontUrl = [`http://127.0.0.1:${frontPort}/`];
    const r1 = release(1, 1, v1);
    const first = await deploy(e.spec(), e.workDir, r1, null);
    assert.equal(first.result.status, 'live', first.lines.join('\n'));
    assert.equal((await readFile(live, 'utf8')).trim(), String(blue), 'with no slot live, the release goes to the first');
    const r2 = release(2, 2, v2);
    assert.equal((await deploy(e.spec(), e.workDir, r2, r1)).result.status, 'live');
    assert.deepEqual(await versions(frontUrl), ['v2']);
    assert.equal((await readFile(live, 'utf8')).trim(), String(green));

    // v3 passes the slot check before the switch (the front still points at v2), fails after it.
    const bad = await deploy(e.spec(), e.workDir, release(3, 3, v2, false), r2);
    assert.equal(bad.result.status, 'rolled_back', bad.lines.join('\n'));
    assert.ok(bad.result.status === 'rolled_back');
    console.log(`container blue-green, failed verify -> switched back in ${bad.result.restoredAtMs - bad.result.detectedAtMs} ms`);
    assert.deepEqual(await versions(frontUrl), ['v2']);
    assert.equal((await readFile(live, 'utf8')).trim(), String(green));
    const target = createTarget(e.spec().target, { workDir: e.workDir, env });
    assert.equal(await target.current(target.hosts[0]), 2, 'current is the release traffic is on');
    assert.equal(await target.current(target.hosts[0], 'blue'), 3, 'the failed release stays in its slot for inspection');
    assert.equal(await target.current(target.hosts[0], 'green'), 2);
  });

  it(
    'runs podman on an ssh host with the host-key rules of the ssh target',
    { skip: sshdAvailable() ? false : 'sshd is not installed' },
    async () => {
      sshd = await startSshd(1);
      const server = sshd.servers[0];
      const e = await environment(
        {},
        {
          hosts: [
            {
              host: server.host,
              port: server.port,
              user: sshd.user,
              container: `${prefix}-ssh`,
              dir: join(tmp.path, 'ssh'),
              address: '127.0.0.4',
            },
          ],
          known_hosts: server.knownHostsLine,
          identity_file: sshd.identityFile,
          // The ssh session has none of the test's registry settings: the host's store has the image.
          pull: 'never',
        },
      );
      await podman('pull', '--quiet', '--authfile', env.REGISTRY_AUTH_FILE, '--tls-verify=false', v1.pinned);
      const done = await deploy(e.spec(), e.workDir, release(1, 1, v1), null);
      assert.equal(done.result.status, 'live', done.lines.join('\n'));
      assert.deepEqual(await versions([e.urls[0].replace('127.0.0.2', '127.0.0.4')]), ['v1']);
      const target = createTarget(e.spec().target, { workDir: e.workDir, env });
      assert.ok(target instanceof ContainerDeployTarget);
      assert.equal(await target.current(target.hosts[0]), 1);
      await target.close();

      const untrusted = e.spec({
        target: {
          container: {
            hosts: [{ host: server.host, port: server.port, user: sshd.user, container: `${prefix}-ssh2` }],
            known_hosts: `[127.0.0.1]:${server.port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl`,
            identity_file: sshd.identityFile,
          },
        },
      });
      const refused = await deploy(untrusted, e.workDir, release(1, 1, v1), null);
      assert.equal(refused.result.status, 'failed');
      assert.ok(refused.result.status === 'failed');
      assert.match(refused.result.reason, /host key .* is not trusted/);
    },
  );
});
