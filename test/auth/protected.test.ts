// Protected branches and environments: pipelines on protected branches (patterns per repository)
// see protected variables and take the branch's allowed role to run; a deploy to a protected
// environment waits for an approval, which is a maintainer playing it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { JobPayload } from '../../src/api/protocol.js';
import type { PipelineView } from '../support/tandem.js';
import { AuthServer, call } from './helpers.js';

describe('protected branches and environments', () => {
  let tandem: AuthServer;
  let dev: string;
  let maintainer: string;
  let agent: string;

  before(async () => {
    tandem = await AuthServer.start();
    await tandem.repo('shop', { '.gitlab-ci.yml': 'show:\n  script: [env]\nlater:\n  when: manual\n  script: [echo later]\n' }, [
      'feature',
      'release/1',
    ]);
    await tandem.repo(
      'deploys',
      {
        '.gitlab-ci.yml':
          'ship:\n  environment: { name: production }\n  deploy:\n    source: dist\n    target: { local: { dir: /nonexistent/never-run } }\n',
      },
      ['feature'],
    );
    dev = (await tandem.user('dev')).token;
    maintainer = (await tandem.user('keeper')).token;
    for (const repo of ['shop', 'deploys']) {
      await tandem.member(repo, 'dev', 'developer');
      await tandem.member(repo, 'keeper', 'maintainer');
    }
    agent = (await tandem.api<{ token: string }>('POST', '/api/v1/agents', { body: { name: 'claimer' } })).body.token;
    for (const [key, value, isProtected] of [
      ['DEPLOY_KEY', 'protected-value-123', true],
      ['PLAIN', 'plain-value', false],
    ] as const) {
      assert.equal(
        (await tandem.api('POST', '/api/v1/repos/shop/variables', { body: { key, value, protected: isProtected } })).status,
        201,
      );
    }
  });
  after(() => tandem.close());

  const trigger = (token: string, repo: string, ref: string) =>
    tandem.api<{ id: number; message?: string }>('POST', `/api/v1/repos/${repo}/pipelines`, { as: { token }, body: { ref } });

  /** The variables the next claimed job gets, as an agent sees them. */
  async function claimVariables(): Promise<Map<string, string>> {
    const claimed = await call<JobPayload>(tandem.url, 'POST', '/api/v1/agent/jobs/request', {
      as: { token: agent },
      body: { waitMs: 5000 },
    });
    assert.equal(claimed.status, 200, claimed.text);
    return new Map(claimed.body.variables.map((v) => [v.key, v.value]));
  }

  test('the default branch is protected when a repository is registered: developers run pipelines on other branches only', async () => {
    const listed = await tandem.api<{ pattern: string; allowedRole: string }[]>('GET', '/api/v1/repos/shop/protected-branches', {
      as: { token: dev },
    });
    assert.deepEqual(
      listed.body.map((p) => [p.pattern, p.allowedRole]),
      [['main', 'maintainer']],
    );
    assert.equal((await trigger(dev, 'shop', 'feature')).status, 201);
    const refused = await trigger(dev, 'shop', 'main');
    assert.equal(refused.status, 403);
    assert.match(
      refused.body.message ?? '',
      /missing permission pipeline\.create on protected branch main: it needs the maintainer role on repository shop/,
    );
    assert.equal((await trigger(maintainer, 'shop', 'main')).status, 201);
    // Only maintainers change which branches are protected.
    assert.equal(
      (await tandem.api('POST', '/api/v1/repos/shop/protected-branches', { as: { token: dev }, body: { pattern: 'feature' } })).status,
      403,
    );
    // Drain the queue of the pipelines above, so the next claims are the next test's.
    for (let i = 0; i < 2; i++) await claimVariables();
  });

  test('protected variables reach pipelines on branches matching a protected pattern, and no others', async () => {
    const added = await tandem.api<{ id: number; pattern: string }>('POST', '/api/v1/repos/shop/protected-branches', {
      as: { token: maintainer },
      body: { pattern: 'release/*' },
    });
    assert.equal(added.status, 201, added.text);
    assert.equal((await trigger(maintainer, 'shop', 'release/1')).status, 201);
    const onRelease = await claimVariables();
    assert.equal(onRelease.get('DEPLOY_KEY'), 'protected-value-123');
    assert.equal(onRelease.get('PLAIN'), 'plain-value');
    assert.equal((await trigger(maintainer, 'shop', 'feature')).status, 201);
    const onFeature = await claimVariables();
    assert.equal(onFeature.has('DEPLOY_KEY'), false);
    assert.equal(onFeature.get('PLAIN'), 'plain-value');
    assert.match(onFeature.get('CI_JOB_TOKEN') ?? '', /^tdj_/);
    // Unprotected again, release/1 is an ordinary branch.
    assert.equal(
      (await tandem.api('DELETE', `/api/v1/repos/shop/protected-branches/${added.body.id}`, { as: { token: maintainer } })).status,
      204,
    );
    assert.equal((await trigger(dev, 'shop', 'release/1')).status, 201);
    assert.equal((await claimVariables()).has('DEPLOY_KEY'), false);
  });

  test('manual jobs of pipelines on a protected branch are played by its allowed role', async () => {
    const created = await trigger(maintainer, 'shop', 'main');
    const later = (await tandem.api<PipelineView>('GET', `/api/v1/pipelines/${created.body.id}`)).body.jobs.find(
      (j) => j.name === 'later',
    )!;
    const refused = await tandem.api<{ message: string }>('POST', `/api/v1/jobs/${later.id}/play`, { as: { token: dev } });
    assert.equal(refused.status, 403);
    assert.match(refused.body.message, /missing permission job\.play on protected branch main/);
    assert.equal((await tandem.api('POST', `/api/v1/jobs/${later.id}/play`, { as: { token: maintainer } })).status, 200);
  });

  test('a deploy to a protected environment waits; a developer cannot approve it (play, rollback), a maintainer can', async () => {
    assert.equal(
      (await tandem.api('PUT', '/api/v1/repos/deploys/environments/production', { as: { token: dev }, body: { protected: true } })).status,
      403,
    );
    assert.equal(
      (await tandem.api('PUT', '/api/v1/repos/deploys/environments/production', { as: { token: maintainer }, body: { protected: true } }))
        .status,
      200,
    );
    const created = await trigger(dev, 'deploys', 'feature');
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const pipeline = (await tandem.api<PipelineView>('GET', `/api/v1/pipelines/${created.body.id}`)).body;
    const ship = pipeline.jobs.find((j) => j.name === 'ship')!;
    assert.equal(ship.status, 'manual', 'the deploy waits for an approval');
    const refused = await tandem.api<{ message: string }>('POST', `/api/v1/jobs/${ship.id}/play`, { as: { token: dev } });
    assert.equal(refused.status, 403);
    assert.match(
      refused.body.message,
      /missing permission deployment\.approve: it needs the maintainer role on repository deploys \(you are developer\)/,
    );
    const rollback = await tandem.api<{ message: string }>('POST', '/api/v1/repos/deploys/environments/production/rollback', {
      as: { token: dev },
      body: {},
    });
    assert.equal(rollback.status, 403);
    assert.match(rollback.body.message, /deployment\.approve/);
    const approved = await tandem.api<{ status: string }>('POST', `/api/v1/jobs/${ship.id}/play`, { as: { token: maintainer } });
    assert.equal(approved.status, 200);
    assert.equal(approved.body.status, 'pending');
    const audit = await tandem.api<{ actor: string; params: { id: string } }[]>('GET', '/api/v1/audit?action=job.play');
    assert.ok(
      audit.body.some((e) => e.actor === 'keeper' && e.params.id === String(ship.id)),
      'the approval is in the audit log',
    );
  });
});
