// `artifacts:images` end to end, against a real registry (docker-registry with TLS and basic auth):
// a job pushes a busybox image with podman using the repository's CI_REGISTRY* variables; its agent
// (a `tandem agent` process trusting the test CA through NODE_EXTRA_CA_CERTS, as docs/operations.md
// says) pins the declared ref to the digest skopeo reports, and the pipeline's images show it. A
// declared tag that was never pushed fails its job with the entry and the registry's 404 named.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { PipelineImagesJson } from '../../src/api/index.js';
import { busyboxImage } from '../support/podman.js';
import { registrySkip, skopeoDigest, startRegistry, type TestRegistry } from '../support/registry.js';
import { stopChild } from '../support/stop-child.js';
import { jobNamed, TestTandem } from '../support/tandem.js';

const CI_FILE = `
build:
  script:
    - podman --runtime runc push --quiet --cert-dir "$REG_CERT_DIR" --creds "$CI_REGISTRY_USER:$CI_REGISTRY_PASSWORD" "$LOCAL_IMAGE" "docker://$CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA"
  artifacts:
    images:
      - $CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA
ghost:
  needs: [build]
  script: [echo pushes nothing]
  artifacts:
    images:
      - $CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA
      - $CI_REGISTRY_IMAGE:never-pushed
`;

describe('artifacts:images against docker-registry', { skip: registrySkip() }, () => {
  let registry: TestRegistry;
  let tandem: TestTandem;
  let local: { name: string; remove(): Promise<void> };
  before(async () => {
    [registry, tandem, local] = await Promise.all([startRegistry(), TestTandem.start({ agents: 0 }), busyboxImage()]);
  });
  after(async () => {
    await tandem?.close();
    await registry?.stop();
    await local?.remove();
  });

  test('a job pushes an image and declares it: the pipeline shows it pinned by digest', async () => {
    const agent = tandem.spawnAgent('builder', [], undefined, { NODE_EXTRA_CA_CERTS: registry.caFile });
    try {
      const { name, sha } = await tandem.repo({ '.gitlab-ci.yml': CI_FILE }, { name: 'shop' });
      const patched = await tandem.api('PATCH', `/api/v1/repos/${name}`, {
        registry: { host: registry.host, username: registry.username, password: registry.password },
      });
      assert.equal(patched.status, 200, patched.text);
      const id = await tandem.trigger(name, { variables: { REG_CERT_DIR: registry.certDir, LOCAL_IMAGE: local.name } });
      const done = await tandem.waitForPipeline(id, undefined, 45_000);

      const build = jobNamed(done, 'build');
      const buildLog = await tandem.log(build.id);
      assert.equal(build.status, 'success', buildLog);
      const ref = `${registry.host}/shop:${sha.slice(0, 8)}`;
      const digest = await skopeoDigest(registry, ref);
      assert.match(buildLog, new RegExp(`${ref} is ${registry.host}/shop@${digest}`));
      assert.ok(!buildLog.includes(registry.password), 'the registry password is masked');

      const ghost = jobNamed(done, 'ghost');
      assert.equal(ghost.status, 'failed');
      assert.equal(ghost.failureReason, 'archived_failure');
      assert.match(
        await tandem.log(ghost.id),
        new RegExp(
          `artifacts\\.images\\[1\\] \\(\\$CI_REGISTRY_IMAGE:never-pushed\\): image ${registry.host}/shop:never-pushed: not found in registry ${registry.host} \\(404`,
        ),
      );

      const images = await tandem.api<PipelineImagesJson>('GET', `/api/v1/pipelines/${id}/images`);
      assert.equal(images.status, 200, images.text);
      assert.deepEqual(images.body, {
        pipelineId: id,
        images: [
          {
            jobId: build.id,
            jobName: 'build',
            ref,
            image: `${registry.host}/shop@${digest}`,
            registry: registry.host,
            repository: 'shop',
            digest,
            url: `https://${registry.host}/v2/shop/manifests/${digest}`,
          },
        ],
      });
    } finally {
      await stopChild(agent);
    }
  });
});
