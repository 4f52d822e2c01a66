// Agents with a container engine: jobs that name an image run in it (others on the host), with
// the same artifacts and caches as on a shell agent; an agent without an engine runs the same file
// on the host and says so; and an agent killed mid-job removes its containers when it restarts.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ContainerExecutor } from '../../src/executor/index.js';
import { busyboxImage, ENGINE_ARGS, leftovers, podman, podmanSkip, removeAll, RUN_ARGS } from '../support/podman.js';
import { jobNamed, TestTandem } from '../support/tandem.js';
import { until } from './helpers.js';

const skip = podmanSkip('CONTAINER AGENT TESTS');

interface ArtifactList {
  job: string;
  files: { path: string; size: number }[];
}

describe('agents with a container engine', { skip }, () => {
  let tandem: TestTandem;
  let image: { name: string; remove(): Promise<void> };

  before(async () => {
    image = await busyboxImage();
    tandem = await TestTandem.start({ agents: 0, settings: { leaseSeconds: 2 } });
    await tandem.addAgent({ name: 'boxes', tags: ['boxes'], container: { engine: 'podman', engineArgs: ENGINE_ARGS, runArgs: RUN_ARGS } });
    await tandem.addAgent({ name: 'bare', tags: ['bare'], container: { engine: 'none' } });
  });
  after(async () => {
    await tandem?.close();
    // A failed test may have left an agent's containers behind: they must not outlive the suite.
    if (tandem) for (const owner of ['boxes', 'bare', 'doomed']) await removeAll(path.join(tandem.dataDir, owner));
    await image?.remove();
  });

  /** The same pipeline for either agent: a service, an artifact and a cache handed from one job to the next. */
  const pipeline = (tag: string) => `
stages: [build, test]
build:
  stage: build
  tags: [${tag}]
  image: ${image.name}
  services:
    - name: ${image.name}
      alias: web
      command: [sh, -c, 'echo served > /tmp/index.html && exec httpd -f -p 80 -h /tmp']
  cache: { key: shared-${tag}, paths: [cache/] }
  script:
    - mkdir -p out cache
    - echo built > out/result.txt
    - echo cached > cache/c.txt
    - (wget -q -O - http://web/ 2>/dev/null || echo no-service) > out/service.txt
  artifacts: { paths: [out/] }
check:
  stage: test
  tags: [${tag}]
  image: ${image.name}
  cache: { key: shared-${tag}, paths: [cache/], policy: pull }
  script:
    - cat out/result.txt cache/c.txt out/service.txt
on-host:
  stage: test
  tags: [${tag}]
  script:
    - echo "host job"
`;

  async function runOn(tag: string) {
    const { name } = await tandem.repo({ '.gitlab-ci.yml': pipeline(tag) });
    const p = await tandem.waitForPipeline(await tandem.trigger(name), undefined, 30_000);
    const logs = Object.fromEntries(
      await Promise.all(['build', 'check', 'on-host'].map(async (job) => [job, await tandem.log(jobNamed(p, job).id)] as const)),
    );
    assert.equal(p.status, 'success', JSON.stringify(logs, null, 1));
    const artifacts = (await tandem.api<ArtifactList[]>('GET', `/api/v1/pipelines/${p.id}/artifacts`)).body;
    return { logs, artifacts: artifacts.map((a) => ({ job: a.job, files: a.files.map((f) => f.path).sort() })) };
  }

  test('jobs with an image run in it, others on the host; artifacts and caches as on an agent without an engine', async () => {
    const agents = (await tandem.api<{ name: string; tags: string[] }[]>('GET', '/api/v1/agents')).body;
    assert.deepEqual(agents.find((a) => a.name === 'boxes')?.tags.sort(), ['boxes', 'container', 'podman', 'shell']);
    assert.deepEqual(agents.find((a) => a.name === 'bare')?.tags.sort(), ['bare', 'shell']);

    const [inBoxes, onBare] = [await runOn('boxes'), await runOn('bare')];
    assert.match(inBoxes.logs.build, /executor: container/);
    assert.match(inBoxes.logs.check, /executor: container\)[\s\S]*Restoring cache shared-boxes[\s\S]*\nbuilt\ncached\nserved\n/);
    assert.match(inBoxes.logs['on-host'], /executor: shell/);
    assert.doesNotMatch(inBoxes.logs.build, /WARNING/);

    assert.match(
      onBare.logs.build,
      /WARNING: image and services are ignored: this agent has no container engine, so the shell executor runs the job on the agent host/,
    );
    assert.match(onBare.logs.check, /Restoring cache shared-bare[\s\S]*\nbuilt\ncached\nno-service\n/);
    assert.deepEqual(inBoxes.artifacts, onBare.artifacts, 'the same files kept from the container as from the host');
    assert.deepEqual(inBoxes.artifacts, [{ job: 'build', files: ['out/result.txt', 'out/service.txt'] }]);
  });

  test('an agent killed during a job leaves its containers; its restart removes them before taking work', async () => {
    const args = [
      '--tags',
      'doomed',
      '--executor',
      'container',
      '--container-engine',
      'podman',
      `--container-engine-args=${ENGINE_ARGS.join(' ')}`,
      `--container-run-args=${RUN_ARGS.join(' ')}`,
    ];
    const owner = path.join(tandem.dataDir, 'doomed');
    let agent = tandem.spawnAgent('doomed', args);
    let stderr = '';
    agent.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const { name } = await tandem.repo({
      '.gitlab-ci.yml': `
long:
  tags: [doomed]
  image: ${image.name}
  services: [{ name: ${image.name}, alias: idle, command: [sh, -c, 'httpd -p 80 -h /tmp; exec sleep 120'] }]
  script: [echo started, sleep 120]
`,
    });
    const id = await tandem.trigger(name);
    const job = await until(
      'the job to start in its container',
      async () => {
        const j = jobNamed(await tandem.pipeline(id), 'long');
        if (agent.exitCode !== null) throw new Error(`the agent exited: ${stderr}`);
        return (await tandem.log(j.id)).includes('\nstarted') ? j : undefined;
      },
      20_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; agent: ${stderr}`);
    });
    assert.deepEqual(await leftovers(owner), { containers: 2, networks: 1 }, 'the job container, its service and their network');

    agent.kill('SIGKILL');
    await once(agent, 'exit');
    assert.deepEqual(await leftovers(owner), { containers: 2, networks: 1 }, 'nothing removes them while the agent is gone');
    // Canceled so that the restarted agent does not take the job again.
    assert.equal((await tandem.api('POST', `/api/v1/jobs/${job.id}/cancel`)).status, 200);

    const scratch = new ContainerExecutor({ engine: podman!, owner }).scratchPrefix;
    const scratchDirs = async () => (await readdir(tmpdir())).filter((n) => n.startsWith(path.basename(scratch))).length;
    assert.equal(await scratchDirs(), 1, "the job's env files stay on disk too");

    agent = tandem.spawnAgent('doomed', args);
    await until(
      'the restarted agent to remove the leftovers',
      async () => ((await leftovers(owner)).containers + (await leftovers(owner)).networks === 0 ? true : undefined),
      15_000,
      200,
    );
    assert.equal(await scratchDirs(), 0);
    agent.kill('SIGTERM');
    await once(agent, 'exit');
  });
});
