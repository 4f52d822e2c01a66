// A container release end to end, through a real server and a `tandem agent` process: a build job
// pushes an image to a real registry (docker-registry with TLS and basic auth) with the repository's
// CI_REGISTRY* variables, the deploy job pins it by digest and runs it with podman on two "hosts"
// of this machine (127.0.0.2 and 127.0.0.3); a second pipeline's image fails its health check on
// both, the agent rolls it back, and the first image serves again. The environment shows which
// release each host runs.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { get } from '../deploy/deploy-fixtures.js';
import { busyboxImage, podmanSkip, removeContainersNamed } from '../support/podman.js';
import { freePort } from '../support/ports.js';
import { podmanRegistryEnv, registrySkip, startRegistry, type TestRegistry } from '../support/registry.js';
import { stopChild } from '../support/stop-child.js';
import { jobNamed, TestTandem } from '../support/tandem.js';

const run = promisify(execFile);

interface EnvironmentJson {
  name: string;
  current: { id: number; image: string | null } | null;
  hosts: { name: string; releaseId: number; image: string | null }[];
}

/** Serves $VERSION at /, and /health only when HEALTHY=yes (a command keeps its `$` for the container's shell). */
const SERVE =
  'mkdir -p /www && echo "$VERSION" >/www/index.html && if [ "$HEALTHY" = yes ]; then echo ok >/www/health; fi && exec httpd -f -p 80 -h /www';

function pipelineFile(prefix: string, dir: string, port: number): string {
  const host = (suffix: string, address: string) =>
    `          - {host: local, container: ${prefix}-${suffix}, address: ${address}, dir: ${join(dir, suffix)}}`;
  return [
    'stages: [build, deploy]',
    'build:',
    '  stage: build',
    '  script:',
    '    - podman --runtime runc push --quiet --cert-dir "$REG_CERT_DIR" --creds "$CI_REGISTRY_USER:$CI_REGISTRY_PASSWORD" "$LOCAL_IMAGE" "docker://$CI_REGISTRY_IMAGE:$APP_VERSION"',
    '  artifacts:',
    '    images: [$CI_REGISTRY_IMAGE:$APP_VERSION]',
    'deploy:',
    '  stage: deploy',
    '  script: [echo deploying]',
    '  environment: {name: production}',
    '  deploy:',
    '    image: $CI_REGISTRY_IMAGE:$APP_VERSION',
    '    target:',
    '      container:',
    '        hosts:',
    host('a', '127.0.0.2'),
    host('b', '127.0.0.3'),
    `        ports: ["\${TANDEM_HOST_ADDRESS}:${port}:80"]`,
    '        env: {VERSION: $APP_VERSION, HEALTHY: $HEALTHY}',
    `        command: ["sh", "-c", ${JSON.stringify(SERVE)}]`,
    '        run_args: [--init]',
    '        engine_args: [--runtime, runc]',
    '    verify:',
    `      - {http: "http://\${TANDEM_HOST_ADDRESS}:${port}/health", expect_status: 200, interval: 100ms, failures: 3}`,
    '',
  ].join('\n');
}

describe('container releases end to end', { skip: podmanSkip('the container release e2e test') || registrySkip() }, () => {
  let registry: TestRegistry;
  let tandem: TestTandem;
  const prefix = `tt-e2e-ct-${process.pid}`;
  const images: { name: string; remove(): Promise<void> }[] = [];
  before(async () => {
    [registry, tandem] = await Promise.all([startRegistry(), TestTandem.start({ agents: 0 })]);
  });
  after(async () => {
    await removeContainersNamed(prefix);
    const pulled = (await run('podman', ['images', '--quiet', '--filter', `reference=${registry?.host}/*`]).catch(() => ({ stdout: '' })))
      .stdout;
    for (const id of new Set(pulled.split('\n').filter(Boolean))) await run('podman', ['rmi', '--force', id]).catch(() => undefined);
    for (const image of images) await image.remove();
    await tandem?.close();
    await registry?.stop();
  });

  test('build → push → deploy to two hosts; a v2 failing its health check is rolled back and v1 serves again', async () => {
    const dir = join(tandem.dataDir, 'hosts');
    const port = await freePort();
    // The hosts' podman pulls with the registry's credentials; the agent trusts its CA to pin tags.
    const hostEnv = await podmanRegistryEnv(registry, tandem.dataDir);
    const agent = tandem.spawnAgent('deployer', [], undefined, { NODE_EXTRA_CA_CERTS: registry.caFile });
    try {
      const { name } = await tandem.repo({ '.gitlab-ci.yml': pipelineFile(prefix, dir, port) }, { name: 'web' });
      const patched = await tandem.api('PATCH', `/api/v1/repos/${name}`, {
        registry: { host: registry.host, username: registry.username, password: registry.password },
      });
      assert.equal(patched.status, 200, patched.text);
      const deployOf = async (version: string, healthy: boolean) => {
        const image = await busyboxImage();
        images.push(image);
        const variables = {
          REG_CERT_DIR: registry.certDir,
          LOCAL_IMAGE: image.name,
          APP_VERSION: version,
          HEALTHY: healthy ? 'yes' : 'no',
          ...hostEnv,
        };
        const done = await tandem.waitForPipeline(await tandem.trigger(name, { variables }), undefined, 90_000);
        return { done, log: await tandem.log(jobNamed(done, 'deploy').id) };
      };
      const urls = ['127.0.0.2', '127.0.0.3'].map((address) => `http://${address}:${port}/`);
      const serving = async () => Promise.all(urls.map(async (url) => (await get(url)).body.trim()));
      const environment = async () => (await tandem.api<EnvironmentJson[]>('GET', `/api/v1/repos/${name}/environments`)).body[0];

      const first = await deployOf('v1', true);
      assert.equal(first.done.status, 'success', first.log);
      assert.deepEqual(await serving(), ['v1', 'v1']);
      const v1 = await environment();
      assert.match(v1.current?.image ?? '', new RegExp(`^${registry.host}/web@sha256:[0-9a-f]{64}$`), 'the release runs the pinned digest');
      assert.deepEqual(
        v1.hosts.map((h) => [h.name, h.releaseId, h.image]),
        [`${prefix}-a`, `${prefix}-b`].map((container) => [`local:${container}`, v1.current?.id, v1.current?.image]),
      );

      const second = await deployOf('v2', false);
      assert.equal(second.done.status, 'failed', second.log);
      assert.equal(jobNamed(second.done, 'deploy').failureReason, 'deployment_failure');
      assert.match(second.log, /rolled back to #\d+/);
      assert.deepEqual(await serving(), ['v1', 'v1'], 'the first image serves again on both hosts');
      const after = await environment();
      assert.deepEqual(
        after.hosts.map((h) => [h.releaseId, h.image]),
        [
          [v1.current?.id, v1.current?.image],
          [v1.current?.id, v1.current?.image],
        ],
        'both hosts are back on the first release',
      );
    } finally {
      await stopChild(agent);
    }
  });
});
