import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { containerJobOf, defaultAliases, DEFAULT_PULL_POLICY } from '../../src/executor/index.js';

describe('containerJobOf', () => {
  const env = { REGISTRY: 'registry.example.com:5000', TAG: '16', PASSWORD: 'pw' };

  it('reads a plain image name and expands its variables', () => {
    const job = containerJobOf('$REGISTRY/tools/node:${TAG}', null, env);
    assert.deepEqual(job, {
      image: {
        name: 'registry.example.com:5000/tools/node:16',
        entrypoint: null,
        pullPolicy: DEFAULT_PULL_POLICY,
        user: null,
        platform: null,
      },
      services: [],
    });
  });

  it('reads the long forms: entrypoint [""] clears it, pull policies in order, docker user and platform', () => {
    const job = containerJobOf(
      {
        name: 'node:20',
        entrypoint: [''],
        pull_policy: ['always', 'if-not-present'],
        docker: { user: '1000:1000', platform: 'linux/amd64' },
      },
      null,
      env,
    );
    assert.deepEqual(job.image, {
      name: 'node:20',
      entrypoint: [],
      pullPolicy: ['always', 'if-not-present'],
      user: '1000:1000',
      platform: 'linux/amd64',
    });
    assert.deepEqual(containerJobOf({ name: 'x', entrypoint: ['/bin/sh', '-c'], pull_policy: 'never' }, null, env).image.entrypoint, [
      '/bin/sh',
      '-c',
    ]);
  });

  it('gives services GitLab default aliases, or theirs, with variables expanded but commands left to the shell', () => {
    const job = containerJobOf(
      'alpine',
      [
        '$REGISTRY/db/postgres:$TAG',
        {
          name: 'redis:7',
          alias: 'cache, kv store',
          command: ['redis-server', '--requirepass', '$PASSWORD'],
          variables: { POSTGRES_PASSWORD: '$PASSWORD', PORT: 6379 },
        },
      ],
      env,
    );
    assert.deepEqual(job.services[0].aliases, ['registry.example.com__db__postgres', 'registry.example.com-db-postgres']);
    assert.equal(job.services[0].name, 'registry.example.com:5000/db/postgres:16');
    assert.deepEqual(job.services[1].aliases, ['cache', 'kv', 'store']);
    assert.deepEqual(job.services[1].command, ['redis-server', '--requirepass', '$PASSWORD']);
    assert.deepEqual(job.services[1].variables, { POSTGRES_PASSWORD: 'pw', PORT: '6379' });
  });

  it('names the place of what it cannot use', () => {
    assert.throws(
      () => containerJobOf('$UNSET', null, env),
      /^Error: image: the image name "\$UNSET" is empty once its variables are expanded$/,
    );
    assert.throws(
      () => containerJobOf({ name: 'x', pull_policy: 'sometimes' }, null, env),
      /image\.pull_policy: unknown pull policy "sometimes" \(expected always, if-not-present, never\)/,
    );
    assert.throws(
      () => containerJobOf('x', [{ name: 'y', entrypoint: 'sh' }], env),
      /services\[0\]\.entrypoint: expected a list of strings/,
    );
    assert.throws(
      () => containerJobOf('x', ['ok', { name: 'y', alias: 'bad/alias' }], env),
      /services\[1\]\.alias: "bad\/alias" is not a valid host name/,
    );
    assert.throws(() => containerJobOf({ entrypoint: [] }, null, env), /image: expected an image name or \{name: \.\.\.\}/);
  });
});

describe('defaultAliases', () => {
  it('drops tag, digest and registry port as GitLab does', () => {
    assert.deepEqual(defaultAliases('postgres:16'), ['postgres']);
    assert.deepEqual(defaultAliases('tutum/wordpress:latest'), ['tutum__wordpress', 'tutum-wordpress']);
    assert.deepEqual(defaultAliases('localhost:5000/team/db@sha256:abc'), ['localhost__team__db', 'localhost-team-db']);
  });
});
