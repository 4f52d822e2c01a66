// A release tells where it went: the target's kind and hosts and the strategy, read from the deploy
// block it was stored with, as written in the pipeline file.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { releaseView } from '../../src/server/presenters.js';
import type { Release } from '../../src/store/schema.js';

function release(deploy: unknown): Release {
  return {
    id: 1,
    environment_id: 1,
    repo_id: 1,
    pipeline_id: 1,
    job_id: 1,
    kind: 'deploy',
    rollback_of: null,
    sha: 'a'.repeat(40),
    ref: 'main',
    version: 'v1',
    files: '[]',
    digest: 'd',
    image: null,
    deploy_spec: JSON.stringify(deploy),
    tags: '[]',
    fencing_token: 1,
    status: 'live',
    status_reason: null,
    decision: null,
    created_by: 'pipeline #1',
    created_at: 0,
    finished_at: 0,
  };
}

test('ssh hosts are named as the deploy names them, with the strategy', () => {
  const view = releaseView(
    release({
      source: 'app',
      target: { ssh: { hosts: ['web1.example.com', { host: 'web2.example.com', port: 2222 }], dir: '/srv/app' } },
      strategy: { canary: { first: 1 } },
    }),
  );
  assert.deepEqual(view.target, { kind: 'ssh', hosts: ['web1.example.com:22', 'web2.example.com:2222'], strategy: 'canary' });
});

test('a local target is its dir; rolling is the default strategy, a bare name counts', () => {
  assert.deepEqual(releaseView(release({ source: 'app', target: { local: { dir: '/srv/app' } } })).target, {
    kind: 'local',
    hosts: ['local:/srv/app'],
    strategy: 'rolling',
  });
  assert.equal(
    releaseView(release({ source: 'app', target: { local: { dir: '/srv/app' } }, strategy: 'blue-green' })).target.strategy,
    'blue-green',
  );
});

test('a target built from job variables (resolved on the agent) shows its kind alone', () => {
  assert.deepEqual(releaseView(release({ source: 'app', target: { ssh: { hosts: '$DEPLOY_HOSTS' } } })).target, {
    kind: 'ssh',
    hosts: [],
    strategy: 'rolling',
  });
  assert.deepEqual(releaseView(release({ source: 'app', target: { script: { deploy: './deploy.sh' } } })).target, {
    kind: 'script',
    hosts: [],
    strategy: 'rolling',
  });
});
