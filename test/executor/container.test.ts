import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ContainerEngine, containerJobOf, ContainerExecutor, type ContainerRun, type StepsSpec } from '../../src/executor/index.js';
import { busyboxImage, credentialRecorder, leftovers, podman, podmanSkip, RUN_ARGS } from '../support/podman.js';
import { capture, spec, tempDir } from './helpers.js';

const skip = podmanSkip('CONTAINER EXECUTOR TESTS');

describe('ContainerExecutor with podman', { skip }, () => {
  let root: { path: string; remove(): Promise<void> };
  let image: { name: string; remove(): Promise<void> };
  let executor: ContainerExecutor;
  let owner: string;
  let jobs = 0;

  before(async () => {
    root = await tempDir('tandem-exec-container-');
    image = await busyboxImage();
    owner = join(root.path, 'agent');
    executor = new ContainerExecutor({ engine: podman!, runArgs: RUN_ARGS, owner, agentName: 'test-agent', servicesWaitMs: 10_000 });
  });
  after(async () => {
    await executor?.removeLeftovers();
    await image?.remove();
    await root?.remove();
  });

  /** A job's spec: a fresh workspace, the busybox image (or the given one), variables as a job has them. */
  async function job(
    fields: Partial<StepsSpec>,
    containerJob: { image?: unknown; services?: unknown[] } = {},
    extra: Partial<ContainerRun> = {},
  ): Promise<StepsSpec> {
    const workspace = join(root.path, `ws-${++jobs}`);
    await mkdir(workspace);
    const env = { CI_JOB_ID: String(jobs), CI_PROJECT_DIR: workspace, ...fields.env };
    return {
      ...spec(workspace, fields),
      env,
      container: {
        job: containerJobOf(containerJob.image ?? image.name, containerJob.services ?? null, env),
        jobId: jobs,
        serviceEnv: env,
        ...extra,
      },
    };
  }

  it('runs the steps in the image with the workspace mounted and the job variables, after_script in a fresh container', async () => {
    const steps = await job({
      env: { GREETING: 'hello from the job', MULTI: 'line one\nline two', SPACED: '  padded value  ' },
      beforeScript: ['export CARRIED=yes'],
      script: [
        'echo "in=$GREETING carried=$CARRIED"',
        'printf "%s|" "$MULTI" "$SPACED"; echo',
        'test ! -e /etc/os-release && echo "image root"',
        'echo made-inside > out.txt',
        'echo "path=$PATH"',
        'exit 3',
      ],
      afterScript: ['echo "after status=$CI_JOB_STATUS carried=${CARRIED:-unset}"', 'cat out.txt'],
    });
    const result = await capture(executor, steps);
    assert.equal(result.outcome, 'failed', result.plain);
    assert.equal(result.exitCode, 3);
    assert.match(result.plain, /in=hello from the job carried=yes/);
    assert.match(result.plain, /line one\nline two| {2}padded value {2}\|/);
    assert.match(result.plain, /image root/, 'the job sees the image, not the host');
    assert.match(result.plain, /path=\/bin\n/, "the image's PATH, not the agent's");
    assert.match(result.plain, /after status=failed carried=unset\n.*\nmade-inside/);
    assert.equal(await readFile(join(steps.workspace, 'out.txt'), 'utf8'), 'made-inside\n', 'written through the workspace mount');
    assert.deepEqual(await leftovers(owner), { containers: 0, networks: 0 });
  });

  it('honours an entrypoint and a user, and mounts file variables read-only', async () => {
    const scratch = join(root.path, 'scratch');
    await mkdir(scratch);
    await writeFile(join(scratch, 'KEY_FILE'), 'file content');
    const steps = await job(
      {
        env: { KEY_FILE: join(scratch, 'KEY_FILE') },
        mounts: [scratch],
        script: ['echo "file=$(cat "$KEY_FILE") entrypoint=$VIA_ENTRYPOINT"', 'echo x >> "$KEY_FILE" || echo "file is read-only"'],
      },
      { image: { name: image.name, entrypoint: ['/bin/env', 'VIA_ENTRYPOINT=yes'] } },
    );
    const result = await capture(executor, steps);
    assert.equal(result.outcome, 'success', result.plain);
    assert.match(result.plain, /file=file content entrypoint=yes/);
    assert.match(result.plain, /file is read-only/);
    const asUser = await job(
      { script: ['echo "uid=$(id -u) entrypoint=${VIA_ENTRYPOINT:-none}"'] },
      { image: { name: image.name, entrypoint: [''], docker: { user: '1234' } } },
    );
    const other = await capture(executor, asUser);
    assert.equal(other.outcome, 'success', other.plain);
    assert.match(other.plain, /uid=1234 entrypoint=none/);
  });

  it('starts services on a job network, reachable by alias once their exposed port answers, with their variables but not the secrets', async () => {
    const steps = await job(
      { env: { SECRET_TOKEN: 'do-not-pass', PUBLIC: 'shared' }, script: ['wget -q -O - http://web/', 'wget -q -O - http://"$ALIAS2"/'] },
      {
        services: [
          {
            name: image.name,
            alias: 'web, www',
            // It listens only after a second: the job must wait for the exposed port, not race it.
            command: [
              'sh',
              '-c',
              'mkdir /www && echo "greeting=$GREETING public=$PUBLIC secret=${SECRET_TOKEN:-none}" > /www/index.html && sleep 1 && exec httpd -f -p 80 -h /www',
            ],
            variables: { GREETING: 'hi from $PUBLIC' },
          },
        ],
      },
    );
    steps.env.ALIAS2 = 'www';
    steps.container!.serviceEnv = { PUBLIC: 'shared' };
    const result = await capture(executor, steps);
    assert.equal(result.outcome, 'success', result.plain);
    assert.match(result.plain, /Starting service .* as web, www/);
    assert.equal(result.plain.match(/greeting=hi from shared public=shared secret=none/g)?.length, 2, result.plain);
    assert.deepEqual(await leftovers(owner), { containers: 0, networks: 0 }, 'the service and its network went with the job');
  });

  // Serves its exposed port (so the job need not wait for it), and keeps running.
  const idleService = () => ({ name: image.name, alias: 'idle', command: ['sh', '-c', 'httpd -p 80 -h /tmp; exec sleep 60'] });

  it('a cancel removes the job container, its services and its network at once', async () => {
    const steps = await job({ script: ['echo started', 'sleep 60'] }, { services: [idleService()] });
    const abort = new AbortController();
    const started = Date.now();
    const result = await capture(executor, steps, abort.signal, (soFar) => {
      if (soFar.includes('started') && !abort.signal.aborted) abort.abort();
    });
    assert.equal(result.outcome, 'canceled', result.plain);
    assert.ok(Date.now() - started < 8_000, `the cancel took ${Date.now() - started} ms`);
    assert.deepEqual(await leftovers(owner), { containers: 0, networks: 0 });
  });

  it('a timeout removes the job container, its services and its network', async () => {
    // The timeout covers starting the service and the job's container too: on a loaded machine that
    // once took over 2 s, and the job was stopped before its first line.
    const steps = await job({ script: ['echo started', 'sleep 60'], timeoutMs: 6_000 }, { services: [idleService()] });
    const result = await capture(executor, steps);
    assert.equal(result.outcome, 'timeout', result.plain);
    assert.match(result.plain, /started/);
    assert.deepEqual(await leftovers(owner), { containers: 0, networks: 0 });
  });

  it('a missing image fails the job with a message naming it and the pull policy', async () => {
    const missing = `tandem-missing-${process.pid}:1`;
    const steps = await job({ script: ['echo never'] }, { image: missing });
    await assert.rejects(
      capture(executor, steps),
      new RegExp(`image ${missing}: it is not on this agent and pulling it failed: .*short-name`),
    );
    const never = await job({ script: ['echo never'] }, { image: { name: `localhost/${missing}`, pull_policy: 'never' } });
    await assert.rejects(
      capture(executor, never),
      /image localhost\/tandem-missing-\d+:1: it is not on this agent and pull_policy is never/,
    );
    const service = await job({ script: ['echo never'] }, { services: [{ name: `localhost/${missing}`, pull_policy: ['never'] }] });
    await assert.rejects(capture(executor, service), /pull_policy is never/);
    assert.deepEqual(await leftovers(owner), { containers: 0, networks: 0 });
  });

  it('pulls with the registry credentials of DOCKER_AUTH_CONFIG, and refuses one that is not JSON', async () => {
    const registry = await credentialRecorder();
    const saved = process.env.CONTAINERS_REGISTRIES_CONF;
    process.env.CONTAINERS_REGISTRIES_CONF = registry.registriesConf;
    // The engine takes the agent's environment when it is made: this one knows the plain-HTTP registry.
    const engine = new ContainerEngine('podman', podman!.path, podman!.globalArgs, false);
    if (saved === undefined) delete process.env.CONTAINERS_REGISTRIES_CONF;
    else process.env.CONTAINERS_REGISTRIES_CONF = saved;
    try {
      const withRegistry = new ContainerExecutor({ engine, runArgs: RUN_ARGS, owner });
      const auth = JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from('deployer:s3cret').toString('base64') } } });
      const steps = await job({ env: { DOCKER_AUTH_CONFIG: auth }, script: ['echo never'] }, { image: `${registry.host}/team/app:1` });
      await assert.rejects(
        capture(withRegistry, steps),
        /image 127\.0\.0\.1:\d+\/team\/app:1: it is not on this agent and pulling it failed: .*manifest unknown/,
      );
      assert.ok(
        registry.authorizations.includes(`Basic ${Buffer.from('deployer:s3cret').toString('base64')}`),
        `the registry saw ${JSON.stringify(registry.authorizations)}`,
      );

      const broken = await job({ env: { DOCKER_AUTH_CONFIG: '{auths: nope' }, script: ['echo never'] });
      await assert.rejects(capture(withRegistry, broken), /DOCKER_AUTH_CONFIG: not valid JSON/);
    } finally {
      await registry.close();
    }
  });

  it('removeLeftovers removes what a killed agent left, and only its own', async () => {
    const other = new ContainerExecutor({ engine: podman!, runArgs: RUN_ARGS, owner: join(root.path, 'other-agent') });
    const start = async (who: string) =>
      podman!.check(
        ['run', '--detach', '--label', `tandem.owner=${who}`, ...RUN_ARGS, image.name, 'sleep', '60'],
        'starting a stray container',
      );
    await start(owner);
    await podman!.check(
      ['network', 'create', '--label', `tandem.owner=${owner}`, `tandem-test-stray-${process.pid}`],
      'creating a stray network',
    );
    await start(join(root.path, 'other-agent'));
    // A killed agent also leaves the scratch dir of its job (env files, credentials).
    await mkdir(`${executor.scratchPrefix}killed`);
    await mkdir(`${other.scratchPrefix}running`);
    assert.deepEqual(await executor.removeLeftovers(), { containers: 1, networks: 1 });
    assert.ok(!existsSync(`${executor.scratchPrefix}killed`));
    assert.ok(existsSync(`${other.scratchPrefix}running`), "another owner's scratch dir stays");
    assert.deepEqual(await leftovers(owner), { containers: 0, networks: 0 });
    assert.deepEqual(await leftovers(join(root.path, 'other-agent')), { containers: 1, networks: 0 }, "another owner's container stays");
    await other.removeLeftovers();
  });
});
