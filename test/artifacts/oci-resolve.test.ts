// resolveImage against a real registry (docker-registry with TLS and a private CA): tags resolve to
// the digest skopeo reports, with basic auth and with the Bearer token flow; refusals are clear.
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { RegistryError, resolveImage, type ResolveImageOptions } from '../../src/artifacts/index.js';
import { pushBusybox, registrySkip, skopeoDigest, startRegistry, type PushedImage, type TestRegistry } from '../support/registry.js';

function optionsFor(registry: TestRegistry, password = registry.password): ResolveImageOptions {
  return { caFile: registry.caFile, auths: { [registry.host]: { username: registry.username, password } }, timeoutMs: 10_000 };
}

function refusal(status: number, kind: string, message: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof RegistryError, String(err));
    assert.equal(err.status, status);
    assert.equal(err.kind, kind);
    assert.match(err.message, message);
    return true;
  };
}

for (const auth of ['basic', 'token'] as const) {
  describe(`resolveImage against docker-registry (TLS, ${auth} auth)`, { skip: registrySkip() }, () => {
    let registry: TestRegistry;
    let image: PushedImage;
    before(async () => {
      registry = await startRegistry({ auth });
      image = await pushBusybox(registry, 'team/app', 'v1');
    });
    after(async () => {
      await registry?.stop();
    });

    test('a tag resolves to the digest skopeo reports, pinned with the registry', async () => {
      const pinned = await resolveImage(image.ref, optionsFor(registry));
      assert.equal(pinned, `${registry.host}/team/app@${await skopeoDigest(registry, image.ref)}`);
      assert.equal(pinned, image.pinned);
    });

    test('a pinned ref is checked to exist and kept; a tag moved to a new image resolves anew', async () => {
      assert.equal(await resolveImage(image.pinned, optionsFor(registry)), image.pinned);
      const moved = await pushBusybox(registry, 'team/app', 'v1');
      assert.notEqual(moved.digest, image.digest);
      assert.equal(await resolveImage(image.ref, optionsFor(registry)), moved.pinned);
      image = moved;
    });

    test('a wrong password is a 401 naming the ref, the registry and the user', async () => {
      await assert.rejects(
        resolveImage(image.ref, optionsFor(registry, 'wrong')),
        refusal(401, 'unauthenticated', new RegExp(`image ${registry.host}/team/app:v1: .*refused the credentials.*\\(401`)),
      );
      await assert.rejects(
        resolveImage(image.ref, { caFile: registry.caFile }),
        refusal(401, 'unauthenticated', /requires credentials; none are configured \(401/),
      );
    });

    test("an unknown tag or digest is a 404 with the registry's reason", async () => {
      await assert.rejects(
        resolveImage(`${registry.host}/team/app:nope`, optionsFor(registry)),
        refusal(
          404,
          'not_found',
          new RegExp(`image ${registry.host}/team/app:nope: not found in registry ${registry.host} \\(404: MANIFEST_UNKNOWN`),
        ),
      );
      await assert.rejects(
        resolveImage(`${registry.host}/team/app@sha256:${'0'.repeat(64)}`, optionsFor(registry)),
        refusal(404, 'not_found', /not found in registry .*\(404/),
      );
    });
  });
}

describe('resolveImage transport errors', { skip: registrySkip() }, () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await startRegistry();
  });
  after(async () => {
    await registry?.stop();
  });

  test('a certificate from an unknown CA, a missing CA file, or a registry that is down is a clear error', async () => {
    const { caFile: _ca, ...noCa } = optionsFor(registry);
    await assert.rejects(resolveImage(`${registry.host}/team/app:v1`, noCa), refusal(0, 'unavailable', /did not answer: .*certificate/i));
    await assert.rejects(
      resolveImage(`${registry.host}/team/app:v1`, { ...noCa, caFile: '/nonexistent/ca.pem' }),
      (err: unknown) => err instanceof RegistryError && err.kind === 'misconfigured' && /CA file \/nonexistent\/ca.pem/.test(err.message),
    );
    await registry.stop();
    await assert.rejects(
      resolveImage(`${registry.host}/team/app:v1`, noCa),
      refusal(0, 'unavailable', new RegExp(`registry ${registry.host} did not answer: .*ECONNREFUSED`)),
    );
  });
});

describe('resolveImage limits (a silent TCP listener standing in for a hung registry)', () => {
  test('no answer within the timeout is a clear error naming the registry', async () => {
    const sockets: Socket[] = [];
    const server = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const started = Date.now();
      await assert.rejects(
        resolveImage(`${host}/team/app:v1`, { plainHttp: true, timeoutMs: 300 }),
        refusal(
          0,
          'unavailable',
          new RegExp(
            `image ${host}/team/app:v1: registry ${host} did not answer: HEAD ${host}/v2/team/app/manifests/v1: no answer within 0.3 s`,
          ),
        ),
      );
      assert.ok(Date.now() - started < 5_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
