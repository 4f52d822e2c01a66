// The test registry itself (test/support/registry.ts): a real docker-registry that serves TLS with
// the test CA and refuses clients without its credentials, so the resolver's tests mean something.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { pushBusybox, registrySkip, skopeoDigest, startRegistry, type TestRegistry } from '../support/registry.js';

const execFileP = promisify(execFile);

describe('test registry (docker-registry with TLS and basic auth)', { skip: registrySkip() }, () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await startRegistry();
  });
  after(async () => {
    await registry?.stop();
  });

  test('an image pushed with podman is stored under the digest skopeo reports', async () => {
    const image = await pushBusybox(registry, 'support/busybox', 'v1');
    assert.match(image.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(image.pinned, `${registry.host}/support/busybox@${image.digest}`);
    assert.equal(await skopeoDigest(registry, image.ref), image.digest);
    assert.equal(await skopeoDigest(registry, image.pinned), image.digest);
  });

  test('a client without the credentials, or without the CA, is refused', async () => {
    const ref = `docker://${registry.host}/support/busybox:v1`;
    await assert.rejects(
      execFileP('skopeo', ['inspect', '--cert-dir', registry.certDir, '--creds', `${registry.username}:wrong`, ref], { timeout: 30_000 }),
      /unauthorized|authentication required/i,
    );
    await assert.rejects(
      execFileP('skopeo', ['inspect', '--creds', `${registry.username}:${registry.password}`, ref], { timeout: 30_000 }),
      /certificate|x509/i,
    );
  });
});
