// Item 18 of issue 14: replay protection keyed only on the delivery-id header, which no forge
// signs. A captured delivery replayed under a new id started a second pipeline; now the body's
// digest is remembered for an hour, so the replay creates nothing.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TestTandem, type PipelineView } from '../support/tandem.js';
import { deliver, pushDelivery } from '../e2e/helpers.js';

const SECRET = 'webhook-secret-0123';
const CI_FILE = { '.gitlab-ci.yml': 'job:\n  script: [echo built]\n' };

let tandem: TestTandem;
before(async () => {
  tandem = await TestTandem.start({ agents: 0 });
});
after(() => tandem.close());

for (const provider of ['github', 'gitlab', 'gitea', 'bitbucket'] as const) {
  test(`${provider}: a signed delivery replayed under a new delivery id creates no second pipeline`, async () => {
    const { name, remote, sha: first } = await tandem.repo(CI_FILE, { webhookSecret: SECRET });
    const second = await remote.commit({ 'a.txt': 'a\n' }, 'second');
    await remote.push('main');
    const original = pushDelivery(provider, SECRET, {
      ref: 'refs/heads/main',
      before: first,
      after: second,
      deliveryId: `${provider}-original`,
    });
    const accepted = await deliver(tandem.url, provider, name, original);
    assert.equal(accepted.status, 201, JSON.stringify(accepted.body));

    // The attacker changes only the unsigned delivery-id header.
    const idHeader = Object.keys(original.headers).find((h) => /delivery|uuid|request-id/.test(h))!;
    const replay = await deliver(tandem.url, provider, name, {
      body: original.body,
      headers: { ...original.headers, [idHeader]: `${provider}-replayed` },
    });
    assert.equal(replay.status, 200, JSON.stringify(replay.body));
    assert.equal(replay.body.duplicate, true);
    assert.equal(replay.body.pipelineId, accepted.body.pipelineId);

    // A genuinely new push (another body) still builds.
    const third = await remote.commit({ 'b.txt': 'b\n' }, 'third');
    await remote.push('main');
    const next = await deliver(
      tandem.url,
      provider,
      name,
      pushDelivery(provider, SECRET, { ref: 'refs/heads/main', before: second, after: third, deliveryId: `${provider}-next` }),
    );
    assert.equal(next.status, 201, JSON.stringify(next.body));
    const pipelines = (await tandem.api<PipelineView[]>('GET', `/api/v1/repos/${name}/pipelines`)).body;
    assert.deepEqual(pipelines.map((p) => p.sha).sort(), [second, third].sort());
  });
}
