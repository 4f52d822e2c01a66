// Item 1 of issue 14, at the parser: whether a pull request comes from a fork is read from each
// forge's payload, and anything short of "both repositories named, and the same" counts as a fork.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import type { WebhookProvider } from '../../src/api/index.js';
import { parseWebhook } from '../../src/source/webhooks.js';
import { fixture } from '../support/git.js';

const SECRET = 'fork-secret-0123';

function headers(provider: WebhookProvider, event: string, body: Buffer): Record<string, string> {
  const hex = createHmac('sha256', SECRET).update(body).digest('hex');
  if (provider === 'github') return { 'x-github-event': event, 'x-hub-signature-256': `sha256=${hex}` };
  if (provider === 'gitea') return { 'x-gitea-event': event, 'x-gitea-signature': hex };
  if (provider === 'gitlab') return { 'x-gitlab-event': event, 'x-gitlab-token': SECRET };
  return { 'x-event-key': event, 'x-hub-signature': `sha256=${hex}` };
}

type Edit = (payload: Record<string, any>) => void; // eslint-disable-line @typescript-eslint/no-explicit-any -- test payloads are edited freely

async function fromFork(
  provider: WebhookProvider,
  file: string,
  event: string,
  edit: Edit,
): Promise<{ fork: boolean; ref: string; branch: string }> {
  const payload = JSON.parse((await fixture(file)).toString('utf8')) as Record<string, unknown>;
  edit(payload);
  const body = Buffer.from(JSON.stringify(payload));
  const parsed = parseWebhook(provider, headers(provider, event, body), body, SECRET).event!;
  return { fork: parsed.mergeRequest!.fromFork, ref: parsed.ref, branch: parsed.mergeRequest!.sourceBranch };
}

test('a fork pull request whose branch is called main is a fork on refs/pull/N/head, whatever it claims', async () => {
  const gh = await fromFork('github', 'github-pull-request.json', 'pull_request', (p) => (p.pull_request.head.ref = 'main'));
  assert.deepEqual(gh, { fork: true, ref: 'refs/pull/42/head', branch: 'main' });
  const deleted = await fromFork('github', 'github-pull-request.json', 'pull_request', (p) => (p.pull_request.head.repo = null));
  assert.equal(deleted.fork, true, 'a deleted fork (head.repo null) is still a fork');
  const same = await fromFork(
    'github',
    'github-pull-request.json',
    'pull_request',
    (p) => (p.pull_request.head.repo.id = p.pull_request.base.repo.id),
  );
  assert.equal(same.fork, false);
});

test('GitLab, Gitea and Bitbucket: differing or missing project ids are forks; equal ones are not', async () => {
  assert.equal((await fromFork('gitlab', 'gitlab-merge-request.json', 'Merge Request Hook', () => {})).fork, false);
  assert.equal(
    (await fromFork('gitlab', 'gitlab-merge-request.json', 'Merge Request Hook', (p) => (p.object_attributes.source_project_id = 99))).fork,
    true,
  );
  assert.equal(
    (await fromFork('gitlab', 'gitlab-merge-request.json', 'Merge Request Hook', (p) => delete p.object_attributes.source_project_id)).fork,
    true,
  );
  assert.equal((await fromFork('gitea', 'gitea-pull-request.json', 'pull_request', () => {})).fork, false);
  assert.equal((await fromFork('gitea', 'gitea-pull-request.json', 'pull_request', (p) => (p.pull_request.head.repo.id = 141))).fork, true);
  assert.equal((await fromFork('bitbucket', 'bitbucket-pr-from-ref-updated.json', 'pr:from_ref_updated', () => {})).fork, false);
  const bb = await fromFork(
    'bitbucket',
    'bitbucket-pr-from-ref-updated.json',
    'pr:from_ref_updated',
    (p) => (p.pullRequest.fromRef.repository.id = 2),
  );
  assert.deepEqual(bb, { fork: true, ref: 'refs/pull-requests/2/from', branch: 'pr-branch' });
});
