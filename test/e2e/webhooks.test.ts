// Webhook intake for every provider against a real bare repository: signed pushes build the pushed
// commit, forged or unsigned ones are refused, replays build nothing new, bad bodies get clear
// errors, tags set CI_COMMIT_TAG; and polling notices a push without any webhook.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';
import { jobNamed, TestTandem, type PipelineView } from '../support/tandem.js';
import { deliver, pushDelivery, until, type Provider } from './helpers.js';

const SECRET = 'webhook-secret-0123';
const MAX_BODY = 64 * 1024;
const CI_FILE = { '.gitlab-ci.yml': 'job:\n  script: [echo "branch=$CI_COMMIT_BRANCH tag=$CI_COMMIT_TAG sha=$CI_COMMIT_SHA"]\n' };

let tandem: TestTandem;
before(async () => {
  tandem = await TestTandem.start({ agents: 1, concurrency: 4, settings: { maxWebhookBytes: MAX_BODY } });
});
after(() => tandem.close());

async function pipelines(repo: string): Promise<PipelineView[]> {
  return (await tandem.api<PipelineView[]>('GET', `/api/v1/repos/${repo}/pipelines`)).body;
}

for (const provider of ['github', 'gitlab', 'gitea', 'bitbucket'] as const satisfies readonly Provider[]) {
  test(`${provider}: a signed push builds the pushed commit once; forged and replayed deliveries build nothing`, async () => {
    const { name, remote, sha: before } = await tandem.repo(CI_FILE, { webhookSecret: SECRET });
    const after = await remote.commit({ 'README.md': `pushed for ${provider}\n` }, 'second');
    await remote.push('main');
    const push = { ref: 'refs/heads/main', before, after, deliveryId: `${provider}-delivery-1` };

    const forged = pushDelivery(provider, 'not-the-secret-at-all', push);
    const refused = await deliver(tandem.url, provider, name, forged);
    assert.equal(refused.status, 401, JSON.stringify(refused.body));
    assert.equal((await pipelines(name)).length, 0, 'a forged delivery creates no pipeline');

    const signed = pushDelivery(provider, SECRET, push);
    const accepted = await deliver(tandem.url, provider, name, signed);
    assert.equal(accepted.status, 201, JSON.stringify(accepted.body));
    const p = await tandem.waitForPipeline(accepted.body.pipelineId as number);
    assert.deepEqual([p.status, p.sha, p.ref, p.source], ['success', after, 'main', 'push']);
    assert.match(await tandem.log(jobNamed(p, 'job').id), new RegExp(`branch=main tag= sha=${after}`));

    const replay = await deliver(tandem.url, provider, name, signed);
    assert.equal(replay.status, 200, JSON.stringify(replay.body));
    assert.equal(replay.body.duplicate, true);
    assert.equal(replay.body.pipelineId, p.id);
    assert.equal((await pipelines(name)).length, 1, 'a replayed delivery creates no second pipeline');
  });
}

test('unsigned deliveries, repositories without a secret, malformed and oversized bodies are refused', async () => {
  const { name, sha } = await tandem.repo(CI_FILE, { webhookSecret: SECRET });
  const { name: open } = await tandem.repo(CI_FILE);
  const push = { ref: 'refs/heads/main', before: '0'.repeat(40), after: sha, deliveryId: 'bad-1' };

  const signed = pushDelivery('github', SECRET, push);
  const { 'x-hub-signature-256': _dropped, ...unsignedHeaders } = signed.headers;
  const unsigned = await deliver(tandem.url, 'github', name, { headers: unsignedHeaders, body: signed.body });
  assert.equal(unsigned.status, 401);
  assert.match(String(unsigned.body.message), /X-Hub-Signature-256/);

  const noSecret = await deliver(tandem.url, 'github', open, pushDelivery('github', SECRET, push));
  assert.equal(noSecret.status, 401, 'a repository without a webhook secret accepts no webhooks');

  const gitlabNoToken = pushDelivery('gitlab', SECRET, push);
  delete gitlabNoToken.headers['x-gitlab-token'];
  assert.equal((await deliver(tandem.url, 'gitlab', name, gitlabNoToken)).status, 401);

  // A valid signature over a broken body: only the JSON is wrong.
  const brokenBody = '{"ref": "refs/heads/main", "after": ';
  const resigned = pushDelivery('gitea', SECRET, push);
  resigned.headers['x-gitea-signature'] = createHmac('sha256', SECRET).update(brokenBody).digest('hex');
  const bad = await deliver(tandem.url, 'gitea', name, { headers: resigned.headers, body: brokenBody });
  assert.equal(bad.status, 400, JSON.stringify(bad.body));
  assert.match(String(bad.body.message), /malformed JSON/);

  const huge = JSON.stringify({ ref: 'refs/heads/main', before: push.before, after: sha, padding: 'x'.repeat(MAX_BODY + 1) });
  const big = await fetch(`${tandem.url}/api/v1/hooks/github/${name}`, { method: 'POST', headers: { ...unsignedHeaders }, body: huge });
  assert.equal(big.status, 413);
  await big.text();

  assert.equal((await pipelines(name)).length, 0);
  assert.equal((await pipelines(open)).length, 0);
});

for (const provider of ['github', 'gitlab'] as const) {
  test(`${provider}: a tag push builds the tag with CI_COMMIT_TAG`, async () => {
    const { name, remote, sha } = await tandem.repo(CI_FILE, { webhookSecret: SECRET });
    await remote.push('main:refs/tags/v1.2.3');
    const res = await deliver(
      tandem.url,
      provider,
      name,
      pushDelivery(provider, SECRET, { ref: 'refs/tags/v1.2.3', before: '0'.repeat(40), after: sha, deliveryId: `tag-${provider}` }),
    );
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const p = await tandem.waitForPipeline(res.body.pipelineId as number);
    assert.equal(p.status, 'success');
    assert.equal(p.ref, 'v1.2.3');
    assert.equal((p as PipelineView & { tag: boolean }).tag, true);
    assert.match(await tandem.log(jobNamed(p, 'job').id), new RegExp(`branch= tag=v1.2.3 sha=${sha}`));
  });
}

test('polling picks up a new push within a few seconds', async () => {
  const { name, remote } = await tandem.repo(CI_FILE, { pollInterval: 1 });
  // The first poll only learns the refs; a push before it completes would become its baseline.
  const lastPolled = async () => (await tandem.api<{ lastPolledAt: string | null }>('GET', `/api/v1/repos/${name}`)).body.lastPolledAt;
  const firstPoll = await until('the first poll', async () => (await lastPolled()) ?? undefined, 5000);
  await until('a second poll', async () => ((await lastPolled()) !== firstPoll ? true : undefined), 5000);
  assert.equal((await pipelines(name)).length, 0, 'learning the refs builds nothing');

  const sha = await remote.commit({ 'new.txt': 'polled\n' }, 'polled commit');
  await remote.push('main');
  const found = await until('a pipeline for the pushed commit', async () => (await pipelines(name)).find((p) => p.sha === sha), 6000);
  assert.equal(found.source, 'push');
  assert.equal((await tandem.waitForPipeline(found.id)).status, 'success');
});
