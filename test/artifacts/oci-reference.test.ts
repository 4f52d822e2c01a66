// Image references as Docker reads them (distribution/reference ParseNormalizedNamed), on refs
// people write: Docker Hub shorthands, registries with ports, GHCR/GitLab paths, digests.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatImageRef, imageWebUrl, ImageRefError, parseImageRef, pinnedRef, registryEndpoint } from '../../src/artifacts/index.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseImageRef', () => {
  const cases: Array<[string, string, string, string | null, string | null]> = [
    // ref, registry, repository, tag, digest
    ['busybox', 'docker.io', 'library/busybox', 'latest', null],
    ['ubuntu:22.04', 'docker.io', 'library/ubuntu', '22.04', null],
    ['bitnami/redis:7.2', 'docker.io', 'bitnami/redis', '7.2', null],
    ['docker.io/nginx', 'docker.io', 'library/nginx', 'latest', null],
    ['index.docker.io/library/nginx:1.25-alpine', 'docker.io', 'library/nginx', '1.25-alpine', null],
    ['localhost/app', 'localhost', 'app', 'latest', null],
    ['localhost:5000/app:v1', 'localhost:5000', 'app', 'v1', null],
    ['127.0.0.1:25500/team/app:v1', '127.0.0.1:25500', 'team/app', 'v1', null],
    ['foo:5000/bar', 'foo:5000', 'bar', 'latest', null],
    ['ghcr.io/owner/repo/sub-image:sha-1a2b3c', 'ghcr.io', 'owner/repo/sub-image', 'sha-1a2b3c', null],
    ['registry.gitlab.com/group/project/app:main', 'registry.gitlab.com', 'group/project/app', 'main', null],
    ['quay.io/prometheus/node-exporter:v1.7.0', 'quay.io', 'prometheus/node-exporter', 'v1.7.0', null],
    ['mcr.microsoft.com/dotnet/aspnet:8.0', 'mcr.microsoft.com', 'dotnet/aspnet', '8.0', null],
    ['123456789012.dkr.ecr.eu-west-1.amazonaws.com/my_app__x:1', '123456789012.dkr.ecr.eu-west-1.amazonaws.com', 'my_app__x', '1', null],
    ['[::1]:5000/app:v2', '[::1]:5000', 'app', 'v2', null],
    ['Registry.Example/app', 'Registry.Example', 'app', 'latest', null],
    [`busybox@${D}`, 'docker.io', 'library/busybox', null, D],
    [`ghcr.io/o/r:1.0@${D}`, 'ghcr.io', 'o/r', '1.0', D],
  ];
  for (const [ref, registry, repository, tag, digest] of cases) {
    test(ref, () => {
      assert.deepEqual(parseImageRef(ref), { registry, repository, tag, digest });
    });
  }

  const bad: Array<[string, RegExp]> = [
    ['', /empty/],
    ['Busybox', /must be lowercase/],
    ['ghcr.io/Owner/repo', /must be lowercase/],
    ['a'.repeat(64).replace(/a/g, 'f'), /bare 64-character hex/],
    ['app:-bad', /tag "-bad" is not valid/],
    ['app@sha256:abc', /needs 64 lowercase hex digits/],
    ['app@md5:0123456789abcdef0123456789abcdef', /is not sha256:<hex> or sha512:<hex>/],
    ['ghcr.io//app', /"" is not a valid name component/],
    ['team/-app', /"-app" is not a valid name component/],
    ['host_name:5000/app', /"host_name:5000" is not a registry host\[:port\]/],
    ['ghcr.io/app:', /tag "" is not valid/],
    ['x'.repeat(2000), /longer than 1024 characters/],
    [`r.io/${'a'.repeat(260)}`, /longer than 255 characters/],
  ];
  for (const [ref, message] of bad) {
    test(`refuses ${JSON.stringify(ref.slice(0, 40))}`, () => {
      assert.throws(
        () => parseImageRef(ref),
        (err: unknown) => err instanceof ImageRefError && err.kind === 'invalid' && message.test(err.message),
      );
    });
  }
});

describe('image ref forms', () => {
  test('a pinned ref keeps the registry and drops the tag', () => {
    assert.equal(pinnedRef(parseImageRef('nginx:1.25'), D), `docker.io/library/nginx@${D}`);
    assert.equal(pinnedRef(parseImageRef(`127.0.0.1:5000/a/b:v1@${D}`), D), `127.0.0.1:5000/a/b@${D}`);
  });

  test('messages show the full ref; Docker Hub answers at registry-1.docker.io', () => {
    assert.equal(formatImageRef(parseImageRef('nginx')), 'docker.io/library/nginx:latest');
    assert.equal(registryEndpoint('docker.io'), 'registry-1.docker.io');
    assert.equal(registryEndpoint('ghcr.io'), 'ghcr.io');
  });

  test("links go to the registry's page for people where it has one, else to the manifest", () => {
    const link = (ref: string) => imageWebUrl(parseImageRef(ref), D);
    assert.equal(link('nginx'), 'https://hub.docker.com/_/nginx');
    assert.equal(link('bitnami/redis'), 'https://hub.docker.com/r/bitnami/redis');
    assert.equal(link('quay.io/prometheus/node-exporter'), `https://quay.io/repository/prometheus/node-exporter/manifest/${D}`);
    assert.equal(link('ghcr.io/o/r'), 'https://ghcr.io/o/r');
    assert.equal(link('127.0.0.1:5000/team/app'), `https://127.0.0.1:5000/v2/team/app/manifests/${D}`);
  });
});
