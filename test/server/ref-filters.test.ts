import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TestTandem } from '../support/tandem.js';

let tandem: TestTandem;
before(async () => {
  tandem = await TestTandem.start({ agents: 0 });
});
after(() => tandem.close());

function gitlabPush(ref: string, before: string, after: string, delivery: string) {
  return {
    headers: {
      'content-type': 'application/json',
      'x-gitlab-token': 'hook-secret-1',
      'x-gitlab-event': 'Push Hook',
      'x-gitlab-event-uuid': delivery,
    },
    body: JSON.stringify({ object_kind: 'push', ref, before, after, checkout_sha: after }),
  };
}

test('branch and tag filters decide which pushes start pipelines', async () => {
  const { name, remote, sha } = await tandem.repo({ '.gitlab-ci.yml': 'job:\n  script: [echo hi]\n' }, { webhookSecret: 'hook-secret-1' });
  const patch = await tandem.api('PATCH', `/api/v1/repos/${name}`, { branches: ['main', 'release/*', '!release/old*'], tags: [] });
  assert.equal(patch.status, 200, patch.text);
  assert.deepEqual((patch.body as { branches: string[] }).branches, ['main', 'release/*', '!release/old*']);

  await remote.push('main:refs/heads/release/2.0', 'main:refs/heads/release/old-1', 'main:refs/heads/feature', 'main:refs/tags/v1');
  const zero = '0'.repeat(40);
  const send = async (ref: string, delivery: string) => {
    const hook = gitlabPush(ref, zero, sha, delivery);
    return tandem.api<{ accepted: boolean; reason?: string; pipelineId?: number }>(
      'POST',
      `/api/v1/hooks/gitlab/${name}`,
      hook.body,
      hook.headers,
    );
  };
  const wanted = await send('refs/heads/release/2.0', 'd1');
  assert.equal(wanted.status, 201, wanted.text);
  assert.equal(wanted.body.accepted, true);
  for (const [ref, delivery] of [
    ['refs/heads/feature', 'd2'],
    ['refs/heads/release/old-1', 'd3'],
    ['refs/tags/v1', 'd4'],
  ]) {
    const res = await send(ref, delivery);
    assert.equal(res.status, 200, `${ref}: ${res.text}`);
    assert.equal(res.body.accepted, false, ref);
    assert.match(res.body.reason ?? '', /filters/, ref);
  }
  const pipelines = await tandem.api<{ ref: string }[]>('GET', `/api/v1/repos/${name}/pipelines`);
  assert.deepEqual(
    pipelines.body.map((p) => p.ref),
    ['release/2.0'],
  );
});
