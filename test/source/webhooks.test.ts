import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import type { ErrorKind } from '../../src/errors.js';
import { parseWebhook, refMatchesFilters, WebhookError, ZERO_SHA } from '../../src/source/index.js';
import type { WebhookHeaders } from '../../src/source/index.js';
import { fixture } from '../support/git.js';

const SECRET = 'It’s a Secret to Everybody';

const hmac = (body: Buffer, secret = SECRET) => createHmac('sha256', secret).update(body).digest('hex');

function rejectsWith(fn: () => unknown, kind: ErrorKind, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof WebhookError, `expected WebhookError, got ${String(err)}`);
    assert.equal(err.kind, kind);
    assert.match(err.message, message);
    return true;
  });
}

function githubHeaders(body: Buffer, event: string): WebhookHeaders {
  // Node lower-cases incoming header names; mixed case here checks the lookup does not care.
  return {
    'X-GitHub-Event': event,
    'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958',
    'x-hub-signature-256': `sha256=${hmac(body)}`,
    'content-type': 'application/json',
  };
}

describe('parseWebhook: GitHub', () => {
  it('accepts a signed branch push', async () => {
    const body = await fixture('github-push.json');
    const result = parseWebhook('github', githubHeaders(body, 'push'), body, SECRET);
    assert.equal(result.deliveryId, '72d3162e-cc78-11e3-81ab-4c9367dc0958');
    assert.deepEqual(result.event, {
      kind: 'push',
      ref: 'refs/heads/main',
      sha: '59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5',
      beforeSha: '6113728f27ae82c7b1a177c8d03f9e96e0adf246',
      deleted: false,
      branch: 'main',
    });
    assert.deepEqual(result.events, [result.event]);
  });

  it('takes the commit, not the tag object, for a new annotated tag', async () => {
    const body = await fixture('github-push-tag.json');
    const { event } = parseWebhook('github', githubHeaders(body, 'push'), body, SECRET);
    assert.deepEqual(event, {
      kind: 'tag',
      ref: 'refs/tags/v1.2.0',
      sha: '59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5',
      beforeSha: null,
      deleted: false,
      tag: 'v1.2.0',
    });
  });

  it('parses a deleted branch', async () => {
    const body = await fixture('github-push-delete.json');
    const { event } = parseWebhook('github', githubHeaders(body, 'push'), body, SECRET);
    assert.deepEqual(event, {
      kind: 'push',
      ref: 'refs/heads/feature/login',
      sha: ZERO_SHA,
      beforeSha: '3d5e2a9c1b7f4e8d6a0c2b4f6e8a0c2d4f6b8a0e',
      deleted: true,
      branch: 'feature/login',
    });
  });

  it('turns a synchronized pull request into a merge request event on refs/pull/N/head', async () => {
    const body = await fixture('github-pull-request.json');
    const { event } = parseWebhook('github', githubHeaders(body, 'pull_request'), body, SECRET);
    assert.deepEqual(event, {
      kind: 'merge_request',
      ref: 'refs/pull/42/head',
      sha: 'e4d3c2b1a09f8e7d6c5b4a3928170f6e5d4c3b2a',
      beforeSha: 'c1f9a8e7d6b5a4938271605f4e3d2c1b0a998877',
      deleted: false,
      branch: 'feature/login',
      mergeRequest: {
        iid: 42,
        sourceBranch: 'feature/login',
        targetBranch: 'main',
        title: 'Add login form',
        action: 'updated',
        // A fork: its repository is not the target's.
        sourceProject: { id: '286853002', path: 'contributor/hello-world', url: 'https://github.com/contributor/hello-world.git' },
        targetProject: { id: '186853002', path: 'octo-org/hello-world', url: 'https://github.com/octo-org/hello-world.git' },
        fromFork: true,
      },
    });
  });

  it('ignores a closed pull request, a ping and other event types', async () => {
    const pr = JSON.parse((await fixture('github-pull-request.json')).toString('utf8')) as Record<string, unknown>;
    const closed = Buffer.from(JSON.stringify({ ...pr, action: 'closed' }));
    const r1 = parseWebhook('github', githubHeaders(closed, 'pull_request'), closed, SECRET);
    assert.equal(r1.event, null);
    assert.match(r1.ignoredReason ?? '', /action "closed"/);

    const ping = await fixture('github-ping.json');
    const r2 = parseWebhook('github', githubHeaders(ping, 'ping'), ping, SECRET);
    assert.deepEqual([r2.ok, r2.event, r2.ignoredReason], [true, null, 'ping']);

    const r3 = parseWebhook('github', githubHeaders(ping, 'issues'), ping, SECRET);
    assert.equal(r3.event, null);
    assert.match(r3.ignoredReason ?? '', /"issues" does not trigger/);
  });

  it('accepts a form-encoded delivery, signed over the raw form body', async () => {
    const json = (await fixture('github-push.json')).toString('utf8');
    const body = Buffer.from(new URLSearchParams({ payload: json }).toString());
    const headers = { ...githubHeaders(body, 'push'), 'content-type': 'application/x-www-form-urlencoded' };
    assert.equal(parseWebhook('github', headers, body, SECRET).event?.branch, 'main');
  });

  it('rejects forged, malformed, missing and duplicated signatures with 401/400', async () => {
    const body = await fixture('github-push.json');
    const headers = githubHeaders(body, 'push');
    rejectsWith(() => parseWebhook('github', headers, body, 'another secret'), 'unauthenticated', /X-Hub-Signature-256 does not match/);
    const tampered = Buffer.from(body.toString('utf8').replace('refs/heads/main', 'refs/heads/prod'));
    rejectsWith(() => parseWebhook('github', headers, tampered, SECRET), 'unauthenticated', /does not match/);
    const short = { ...headers, 'x-hub-signature-256': `sha256=${hmac(body).slice(0, 40)}` };
    rejectsWith(() => parseWebhook('github', short, body, SECRET), 'unauthenticated', /not a 64-digit hex/);
    const sha1 = { ...headers, 'x-hub-signature-256': `sha1=${hmac(body)}` };
    rejectsWith(() => parseWebhook('github', sha1, body, SECRET), 'unauthenticated', /must start with "sha256="/);
    const { 'x-hub-signature-256': _sig, ...unsigned } = headers;
    rejectsWith(() => parseWebhook('github', unsigned, body, SECRET), 'unauthenticated', /missing header X-Hub-Signature-256/);
    const doubled = { ...headers, 'x-hub-signature-256': [`sha256=${hmac(body)}`, `sha256=${hmac(body)}`] };
    rejectsWith(() => parseWebhook('github', doubled, body, SECRET), 'malformed', /appears more than once/);
    const { 'X-GitHub-Event': _event, ...noEvent } = headers;
    rejectsWith(() => parseWebhook('github', noEvent, body, SECRET), 'malformed', /missing header X-GitHub-Event/);
  });

  it('refuses every delivery when the repository has no secret', async () => {
    const body = await fixture('github-push.json');
    rejectsWith(
      () => parseWebhook('github', githubHeaders(body, 'push'), body, null),
      'unauthenticated',
      /no webhook secret.*set a webhook secret/,
    );
    rejectsWith(() => parseWebhook('github', githubHeaders(body, 'push'), body, ''), 'unauthenticated', /no webhook secret/);
  });

  it('gives 400 for malformed JSON and 422 naming a missing field', () => {
    const broken = Buffer.from('{"ref": "refs/heads/main", "after": ');
    rejectsWith(
      () => parseWebhook('github', githubHeaders(broken, 'push'), broken, SECRET),
      'malformed',
      /GitHub push payload: malformed JSON body: /,
    );
    const noAfter = Buffer.from(JSON.stringify({ ref: 'refs/heads/main', before: ZERO_SHA }));
    rejectsWith(() => parseWebhook('github', githubHeaders(noAfter, 'push'), noAfter, SECRET), 'invalid', /field "after" is missing/);
    const badHead = Buffer.from(JSON.stringify({ action: 'opened', number: 3, pull_request: { head: { ref: 'x', sha: 'not-a-sha' } } }));
    rejectsWith(
      () => parseWebhook('github', githubHeaders(badHead, 'pull_request'), badHead, SECRET),
      'invalid',
      /field "pull_request\.head\.sha" is not a commit sha/,
    );
    const list = Buffer.from('[]');
    rejectsWith(() => parseWebhook('github', githubHeaders(list, 'push'), list, SECRET), 'invalid', /must be a JSON object/);
  });

  it('rejects an unknown provider name coming from a URL', async () => {
    const body = await fixture('github-push.json');
    const provider = 'sourcehut' as unknown as 'github';
    rejectsWith(
      () => parseWebhook(provider, githubHeaders(body, 'push'), body, SECRET),
      'malformed',
      /unknown webhook provider "sourcehut"/,
    );
  });
});

describe('parseWebhook: GitLab', () => {
  const headers = (event: string, token = SECRET): WebhookHeaders => ({
    'x-gitlab-event': event,
    'x-gitlab-token': token,
    'x-gitlab-event-uuid': '13792a34-cac6-4fda-95a8-c58e00a3954e',
  });

  it('accepts a push with the right token', async () => {
    const body = await fixture('gitlab-push.json');
    const result = parseWebhook('gitlab', headers('Push Hook'), body, SECRET);
    assert.equal(result.deliveryId, '13792a34-cac6-4fda-95a8-c58e00a3954e');
    assert.deepEqual(result.event, {
      kind: 'push',
      ref: 'refs/heads/main',
      sha: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
      beforeSha: '95790bf891e76fee5e1747ab589903a6a1f80f22',
      deleted: false,
      branch: 'main',
    });
  });

  it('uses checkout_sha for a tag push and hashes the body when there is no event UUID', async () => {
    const body = await fixture('gitlab-tag-push.json');
    const { 'x-gitlab-event-uuid': _uuid, ...noUuid } = headers('Tag Push Hook');
    const result = parseWebhook('gitlab', noUuid, body, SECRET);
    assert.equal(result.deliveryId, `body-sha256:${createHash('sha256').update(body).digest('hex')}`);
    assert.deepEqual(result.event, {
      kind: 'tag',
      ref: 'refs/tags/v1.0.0',
      sha: '5937ac0a7beb003549fc5fd26fc247adbce4a52e',
      beforeSha: null,
      deleted: false,
      tag: 'v1.0.0',
    });
  });

  it('parses a deleted branch (after is all zeros, checkout_sha null)', async () => {
    const push = JSON.parse((await fixture('gitlab-push.json')).toString('utf8')) as Record<string, unknown>;
    const body = Buffer.from(JSON.stringify({ ...push, after: ZERO_SHA, checkout_sha: null, commits: [], total_commits_count: 0 }));
    const { event } = parseWebhook('gitlab', headers('Push Hook'), body, SECRET);
    assert.equal(event?.deleted, true);
    assert.equal(event?.sha, ZERO_SHA);
    assert.equal(event?.beforeSha, '95790bf891e76fee5e1747ab589903a6a1f80f22');
  });

  it('turns an opened merge request into an event; an update without commits is ignored', async () => {
    const body = await fixture('gitlab-merge-request.json');
    const { event } = parseWebhook('gitlab', headers('Merge Request Hook'), body, SECRET);
    assert.deepEqual(event, {
      kind: 'merge_request',
      ref: 'refs/merge-requests/1/head',
      sha: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
      beforeSha: null,
      deleted: false,
      branch: 'ms-viewport',
      mergeRequest: {
        iid: 1,
        sourceBranch: 'ms-viewport',
        targetBranch: 'master',
        title: 'MS-Viewport',
        action: 'opened',
        // This sample names the projects by id only.
        sourceProject: { id: '14', path: null, url: null },
        targetProject: { id: '14', path: null, url: null },
        fromFork: false,
      },
    });

    const mr = JSON.parse(body.toString('utf8')) as { object_attributes: Record<string, unknown> };
    const edit = Buffer.from(JSON.stringify({ ...mr, object_attributes: { ...mr.object_attributes, action: 'update' } }));
    const ignored = parseWebhook('gitlab', headers('Merge Request Hook'), edit, SECRET);
    assert.equal(ignored.event, null);
    assert.match(ignored.ignoredReason ?? '', /without new commits/);

    const oldrev = '95790bf891e76fee5e1747ab589903a6a1f80f22';
    const pushed = Buffer.from(JSON.stringify({ ...mr, object_attributes: { ...mr.object_attributes, action: 'update', oldrev } }));
    const updated = parseWebhook('gitlab', headers('Merge Request Hook'), pushed, SECRET).event;
    assert.equal(updated?.mergeRequest?.action, 'updated');
    assert.equal(updated?.beforeSha, oldrev);
  });

  it('rejects a wrong or missing token with 401', async () => {
    const body = await fixture('gitlab-push.json');
    rejectsWith(
      () => parseWebhook('gitlab', headers('Push Hook', 'guess'), body, SECRET),
      'unauthenticated',
      /X-Gitlab-Token does not match/,
    );
    rejectsWith(() => parseWebhook('gitlab', headers('Push Hook', `${SECRET}x`), body, SECRET), 'unauthenticated', /does not match/);
    const { 'x-gitlab-token': _t, ...noToken } = headers('Push Hook');
    rejectsWith(() => parseWebhook('gitlab', noToken, body, SECRET), 'unauthenticated', /missing header X-Gitlab-Token/);
  });

  it('gives 422 naming a missing nested field', async () => {
    const mr = JSON.parse((await fixture('gitlab-merge-request.json')).toString('utf8')) as { object_attributes: Record<string, unknown> };
    const body = Buffer.from(JSON.stringify({ ...mr, object_attributes: { ...mr.object_attributes, last_commit: {} } }));
    rejectsWith(
      () => parseWebhook('gitlab', headers('Merge Request Hook'), body, SECRET),
      'invalid',
      /GitLab Merge Request Hook payload: field "object_attributes\.last_commit\.id" is missing/,
    );
  });
});

describe('parseWebhook: Gitea and Forgejo', () => {
  const headers = (body: Buffer, event: string): WebhookHeaders => ({
    'x-gitea-event': event,
    'x-gitea-delivery': 'f6266f16-1bf3-46a5-9ea4-602e06ead473',
    'x-gitea-signature': hmac(body),
  });

  it('accepts a push signed with X-Gitea-Signature', async () => {
    const body = await fixture('gitea-push.json');
    const result = parseWebhook('gitea', headers(body, 'push'), body, SECRET);
    assert.equal(result.deliveryId, 'f6266f16-1bf3-46a5-9ea4-602e06ead473');
    assert.deepEqual(result.event, {
      kind: 'push',
      ref: 'refs/heads/develop',
      sha: 'bffeb74224043ba2feb48d137756c8a9331c449a',
      beforeSha: '28e1879d029cb852e4844d9c718537df08844e03',
      deleted: false,
      branch: 'develop',
    });
  });

  it('accepts Forgejo headers', async () => {
    const body = await fixture('gitea-push.json');
    const forgejo = { 'x-forgejo-event': 'push', 'x-forgejo-delivery': 'abc-1', 'x-forgejo-signature': hmac(body) };
    const result = parseWebhook('gitea', forgejo, body, SECRET);
    assert.equal(result.deliveryId, 'abc-1');
    assert.equal(result.event?.branch, 'develop');
    rejectsWith(
      () => parseWebhook('gitea', { ...forgejo, 'x-forgejo-signature': hmac(body, 'x') }, body, SECRET),
      'unauthenticated',
      /X-Forgejo-Signature does not match/,
    );
  });

  it('parses an opened pull request and a deleted branch', async () => {
    const prBody = await fixture('gitea-pull-request.json');
    assert.deepEqual(parseWebhook('gitea', headers(prBody, 'pull_request'), prBody, SECRET).event, {
      kind: 'merge_request',
      ref: 'refs/pull/7/head',
      sha: '4b825dc642cb6eb9a060e54bf8d69288fbee4904',
      beforeSha: null,
      deleted: false,
      branch: 'fix/deploy',
      mergeRequest: {
        iid: 7,
        sourceBranch: 'fix/deploy',
        targetBranch: 'master',
        title: 'Fix the flaky deploy step',
        action: 'opened',
        sourceProject: { id: '140', path: 'gitea/webhooks', url: null },
        targetProject: { id: '140', path: 'gitea/webhooks', url: null },
        fromFork: false,
      },
    });
    const delBody = await fixture('gitea-delete.json');
    assert.deepEqual(parseWebhook('gitea', headers(delBody, 'delete'), delBody, SECRET).event, {
      kind: 'push',
      ref: 'refs/heads/fix/deploy',
      sha: ZERO_SHA,
      beforeSha: null,
      deleted: true,
      branch: 'fix/deploy',
    });
  });

  it('rejects a signature of the wrong length and a missing signature', async () => {
    const body = await fixture('gitea-push.json');
    rejectsWith(
      () => parseWebhook('gitea', { ...headers(body, 'push'), 'x-gitea-signature': 'abcd' }, body, SECRET),
      'unauthenticated',
      /not a 64-digit hex/,
    );
    const { 'x-gitea-signature': _s, ...unsigned } = headers(body, 'push');
    rejectsWith(
      () => parseWebhook('gitea', unsigned, body, SECRET),
      'unauthenticated',
      /missing header X-Gitea-Signature or X-Forgejo-Signature/,
    );
  });
});

describe('parseWebhook: Bitbucket', () => {
  const headers = (body: Buffer, event: string): WebhookHeaders => ({
    'x-event-key': event,
    'x-request-id': 'd3a1c6b0-5a5e-4a8f-9f0e-3b2c1d0e9f8a',
    'x-hub-signature': `sha256=${hmac(body)}`,
  });

  it('turns every change of a Server repo:refs_changed into an event', async () => {
    const body = await fixture('bitbucket-refs-changed.json');
    const result = parseWebhook('bitbucket', headers(body, 'repo:refs_changed'), body, SECRET);
    assert.equal(result.deliveryId, 'd3a1c6b0-5a5e-4a8f-9f0e-3b2c1d0e9f8a');
    assert.deepEqual(result.events, [
      {
        kind: 'push',
        ref: 'refs/heads/master',
        sha: '178864a7d521b6f5e720b386b2c2b0ef8563e0dc',
        beforeSha: 'ecddabb624f6f5ba43816f5926e580a5f680a932',
        deleted: false,
        branch: 'master',
      },
      {
        kind: 'tag',
        ref: 'refs/tags/release-2.1',
        sha: '178864a7d521b6f5e720b386b2c2b0ef8563e0dc',
        beforeSha: null,
        deleted: false,
        tag: 'release-2.1',
      },
      {
        kind: 'push',
        ref: 'refs/heads/old-feature',
        sha: ZERO_SHA,
        beforeSha: 'a00945762949b7787ecabc388c0e20b1b85f0b96',
        deleted: true,
        branch: 'old-feature',
      },
    ]);
    assert.equal(result.event, result.events[0]);
  });

  it('parses a pull request whose source branch moved', async () => {
    const body = await fixture('bitbucket-pr-from-ref-updated.json');
    assert.deepEqual(parseWebhook('bitbucket', headers(body, 'pr:from_ref_updated'), body, SECRET).event, {
      kind: 'merge_request',
      ref: 'refs/pull-requests/2/from',
      sha: 'aab847db97d5c4e12a0e85a4e2d4db7c0b4fcbf4',
      beforeSha: '99f3ea32043ba3ecaa28de6046b420de70257d80',
      deleted: false,
      branch: 'pr-branch',
      mergeRequest: {
        iid: 2,
        sourceBranch: 'pr-branch',
        targetBranch: 'master',
        title: 'Webhook',
        action: 'updated',
        sourceProject: { id: '1', path: 'PRJ/repo', url: null },
        targetProject: { id: '1', path: 'PRJ/repo', url: null },
        fromFork: false,
      },
    });
  });

  it('accepts the Bitbucket Cloud repo:push shape', async () => {
    const body = await fixture('bitbucket-cloud-push.json');
    const cloud = {
      'x-event-key': 'repo:push',
      'x-request-uuid': 'c0ffee00-1111-2222-3333-444455556666',
      'x-hub-signature': `sha256=${hmac(body)}`,
    };
    const result = parseWebhook('bitbucket', cloud, body, SECRET);
    assert.equal(result.deliveryId, 'c0ffee00-1111-2222-3333-444455556666');
    assert.deepEqual(result.events, [
      {
        kind: 'push',
        ref: 'refs/heads/main',
        sha: '709d658dc5b6d6afcd46049c2f332ee3f515a67d',
        beforeSha: '1e65c05c1d5171631d92438a13901ca7dae9618c',
        deleted: false,
        branch: 'main',
      },
    ]);
  });

  it('ignores the diagnostics ping and rejects a forged signature', async () => {
    const body = Buffer.from('{"test": true}');
    const ping = parseWebhook('bitbucket', headers(body, 'diagnostics:ping'), body, SECRET);
    assert.deepEqual([ping.event, ping.ignoredReason], [null, 'ping']);
    const forged = { ...headers(body, 'repo:refs_changed'), 'x-hub-signature': `sha256=${hmac(body, 'wrong')}` };
    rejectsWith(() => parseWebhook('bitbucket', forged, body, SECRET), 'unauthenticated', /X-Hub-Signature does not match/);
  });

  it('gives 422 naming the field of a change', async () => {
    const payload = JSON.parse((await fixture('bitbucket-refs-changed.json')).toString('utf8')) as { changes: Record<string, unknown>[] };
    payload.changes[1] = { ...payload.changes[1], toHash: undefined };
    const body = Buffer.from(JSON.stringify(payload));
    rejectsWith(
      () => parseWebhook('bitbucket', headers(body, 'repo:refs_changed'), body, SECRET),
      'invalid',
      /field "changes\[1\]\.toHash" is missing/,
    );
  });
});

describe('refMatchesFilters', () => {
  it('lets everything through when a list is absent and nothing when it is empty', () => {
    assert.equal(refMatchesFilters('refs/heads/anything', {}), true);
    assert.equal(refMatchesFilters('refs/tags/v1', { branches: ['main'] }), true);
    assert.equal(refMatchesFilters('refs/tags/v1', { tags: [] }), false);
    assert.equal(refMatchesFilters('refs/pull/1/head', {}), false);
  });

  it('matches branch and tag globs, with ! exclusions', () => {
    const filters = { branches: ['main', 'release/**', '!release/old-*'], tags: ['v*.*.*'] };
    assert.equal(refMatchesFilters('refs/heads/main', filters), true);
    assert.equal(refMatchesFilters('refs/heads/release/2024/q1', filters), true);
    assert.equal(refMatchesFilters('refs/heads/release/old-1', filters), false);
    assert.equal(refMatchesFilters('refs/heads/feature/main', filters), false);
    assert.equal(refMatchesFilters('refs/tags/v1.2.3', filters), true);
    assert.equal(refMatchesFilters('refs/tags/latest', filters), false);
    assert.equal(refMatchesFilters('refs/heads/wip/x', { branches: ['!wip/**'] }), false);
    assert.equal(refMatchesFilters('refs/heads/feature/y', { branches: ['!wip/**'] }), true);
    assert.equal(refMatchesFilters('refs/heads/feature/y', { branches: ['feature/*'] }), true);
    assert.equal(refMatchesFilters('refs/heads/feature/y/z', { branches: ['feature/*'] }), false);
  });
});
