// The container executor through the docker CLI. There is no Docker daemon here, but podman serves
// the Docker API on a socket of this suite's own: the real docker CLI talks to it, so the docker
// forms of every command (rm without -t, image inspect, --config for credentials) run for real.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { containerJobOf, ContainerExecutor, findContainerEngine, type ContainerEngine, type StepsSpec } from '../../src/executor/index.js';
import { findExecutable } from '../../src/executor/steps.js';
import { busyboxImage, credentialRecorder, ENGINE_ARGS, podman, podmanSkip, RUN_ARGS } from '../support/podman.js';
import { capture, spec } from './helpers.js';

const dockerCli = findExecutable('docker');
if (!dockerCli && podman) {
  const banner = '!'.repeat(78);
  const required = process.env.TANDEM_REQUIRE_ALL === '1';
  console.warn(
    `\n${banner}\n!!! DOCKER CLI TESTS ${required ? 'FAIL' : 'SKIPPED'}: no docker CLI on PATH (apt-get install -y docker.io)\n${banner}\n`,
  );
}
const skip = podmanSkip('DOCKER CLI TESTS') || (!dockerCli && process.env.TANDEM_REQUIRE_ALL !== '1' ? 'no docker CLI on PATH' : false);

describe('ContainerExecutor with the docker CLI', { skip }, () => {
  let dir: string;
  let service: ChildProcess;
  let registry: Awaited<ReturnType<typeof credentialRecorder>>;
  let image: { name: string; remove(): Promise<void> };
  let engine: ContainerEngine;
  let executor: ContainerExecutor;
  let jobs = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tandem-docker-cli-'));
    registry = await credentialRecorder();
    const socket = join(dir, 'docker.sock');
    // The API service pulls for the CLI, so it is the one that must know the plain-HTTP registry.
    service = spawn('podman', [...ENGINE_ARGS, 'system', 'service', '--time=0', `unix://${socket}`], {
      stdio: 'ignore',
      detached: true,
      env: { ...process.env, CONTAINERS_REGISTRIES_CONF: registry.registriesConf },
    });
    const deadline = Date.now() + 10_000;
    while (!existsSync(socket) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    engine = (await findContainerEngine('docker', ['--host', `unix://${socket}`]))!;
    assert.equal(engine.kind, 'docker');
    image = await busyboxImage();
    executor = new ContainerExecutor({ engine, runArgs: RUN_ARGS, owner: dir });
  });
  after(async () => {
    await executor?.removeLeftovers();
    await image?.remove();
    if (service?.pid) {
      process.kill(service.pid, 'SIGTERM');
      const exited = await Promise.race([
        new Promise((r) => service.once('exit', () => r(true))),
        new Promise((r) => setTimeout(() => r(false), 3000)),
      ]);
      if (!exited && service.exitCode === null) process.kill(service.pid, 'SIGKILL');
    }
    await registry?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function job(fields: Partial<StepsSpec>, containerJob: { image?: unknown; services?: unknown[] }): Promise<StepsSpec> {
    const workspace = join(dir, `ws-${++jobs}`);
    await mkdir(workspace);
    const env = { CI_JOB_ID: String(jobs), ...fields.env };
    return {
      ...spec(workspace, fields),
      env,
      container: {
        job: containerJobOf(containerJob.image ?? image.name, containerJob.services ?? null, env),
        jobId: jobs,
        serviceEnv: env,
      },
    };
  }

  async function leftovers(): Promise<number> {
    const label = `tandem.owner=${dir}`;
    return (await engine.listContainers(label)).length + (await engine.listNetworks(label)).length;
  }

  it('runs a job in its image with a service reachable by its alias', async () => {
    const steps = await job(
      { env: { WORD: 'docker' }, script: ['echo "via $WORD"', 'wget -q -O - http://web/'] },
      {
        services: [
          {
            name: image.name,
            alias: 'web',
            command: ['sh', '-c', 'echo "served by $WORD" > /tmp/index.html && exec httpd -f -p 80 -h /tmp'],
          },
        ],
      },
    );
    const result = await capture(executor, steps);
    assert.equal(result.outcome, 'success', result.plain);
    assert.match(result.plain, /Using docker image/);
    assert.match(result.plain, /via docker\n[\s\S]*served by docker\n/);
    assert.equal(await leftovers(), 0);
  });

  it('a cancel removes the containers and the network', async () => {
    const steps = await job(
      { script: ['echo started', 'sleep 60'] },
      { services: [{ name: image.name, alias: 'idle', command: ['sh', '-c', 'httpd -p 80 -h /tmp; exec sleep 60'] }] },
    );
    const abort = new AbortController();
    const result = await capture(executor, steps, abort.signal, (soFar) => {
      if (soFar.includes('\nstarted') && !abort.signal.aborted) abort.abort();
    });
    assert.equal(result.outcome, 'canceled', result.plain);
    assert.equal(await leftovers(), 0);
  });

  it('a missing image fails with its name; DOCKER_AUTH_CONFIG reaches the registry through the CLI', async () => {
    await assert.rejects(
      capture(executor, await job({ script: ['true'] }, { image: { name: 'localhost/tandem-missing:1', pull_policy: 'never' } })),
      /image localhost\/tandem-missing:1: it is not on this agent and pull_policy is never/,
    );
    const auth = JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from('ci:token').toString('base64') } } });
    const pulled = await job({ env: { DOCKER_AUTH_CONFIG: auth }, script: ['true'] }, { image: `${registry.host}/team/app:2` });
    await assert.rejects(capture(executor, pulled), /image 127\.0\.0\.1:\d+\/team\/app:2: it is not on this agent and pulling it failed/);
    assert.ok(
      registry.authorizations.includes(`Basic ${Buffer.from('ci:token').toString('base64')}`),
      `the registry saw ${JSON.stringify(registry.authorizations)}`,
    );
  });
});
