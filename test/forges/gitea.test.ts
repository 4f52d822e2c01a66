// The Gitea/Forgejo commit status client against a contract server standing in for Gitea (which
// cannot run here): requests are validated against Gitea's published Swagger description
// (test/forges/specs/gitea.json, its source in x-source).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createForgeStatusClient, ForgeRequestError, type CommitState, type ForgeStatusClient } from '../../src/source/forges/index.js';
import { clientErrorCases, NOW, status, type ForgeUnderTest } from './client-errors.js';
import { startGiteaContract, type GiteaContract } from './gitea-contract.js';

const TOKEN = 'gitea-contract-secret-5678';

function connect(contract: GiteaContract, opts: { token?: string; project?: string; timeoutMs?: number } = {}): ForgeStatusClient {
  return createForgeStatusClient(
    { type: 'gitea', apiUrl: contract.apiUrl, project: opts.project ?? 'team/site', token: opts.token ?? TOKEN },
    { timeoutMs: opts.timeoutMs ?? 5000, now: () => NOW },
  );
}

describe('Gitea commit statuses against a contract server standing in for Gitea', () => {
  let contract: GiteaContract;
  before(async () => {
    contract = await startGiteaContract({ token: TOKEN, owner: 'team', repo: 'site' });
  });
  after(async () => {
    assert.deepEqual(contract.server.violations, []);
    await contract.server.close();
  });

  it('maps each Tandem state to a Gitea state, with context, target URL and description', async () => {
    const expected: Record<CommitState, string> = {
      pending: 'pending',
      running: 'pending',
      manual: 'pending',
      success: 'success',
      failed: 'failure',
      canceled: 'error',
      skipped: 'success',
    };
    const client = connect(contract);
    for (const [state, gitea] of Object.entries(expected)) {
      await client.setStatus(status({ state: state as CommitState, description: `now ${state}` }));
      const call = contract.server.calls('repoCreateStatus').at(-1)!;
      assert.equal(call.headers.authorization, `token ${TOKEN}`);
      assert.deepEqual(call.body, {
        state: gitea,
        context: 'tandem/pipeline',
        description: `now ${state}`,
        target_url: 'https://tandem.example/repos/web/pipelines/7',
      });
    }
  });

  it('tells whether the newest status of a context has the state and description', async () => {
    const sha = 'b'.repeat(40);
    const client = connect(contract);
    const running = status({ sha, state: 'running' });
    assert.equal(await client.alreadySet(running), false, 'nothing yet');
    await client.setStatus(running);
    await client.setStatus(status({ sha, context: 'tandem/pipeline/test', state: 'failed', description: 'job failed' }));
    assert.equal(await client.alreadySet(running), true, 'found behind a newer status of another context');
    // Running and pending are both Gitea's pending: the description tells them apart.
    assert.equal(await client.alreadySet({ ...running, state: 'pending', description: 'Pipeline #7 is pending' }), false);
    await client.setStatus({ ...running, state: 'success', description: 'passed' });
    assert.equal(await client.alreadySet(running), false, 'an older status of the context is no longer the one shown');
    assert.equal(await client.alreadySet({ ...running, state: 'success', description: 'passed' }), true);
    assert.deepEqual(contract.server.calls('repoListStatusesByRef').at(-1)!.query, { sort: 'recentupdate', page: '1', limit: '50' });
  });

  it('refuses a project that is not owner/name before asking the forge', async () => {
    assert.throws(
      () => connect(contract, { project: 'site' }),
      (err: unknown) => {
        assert.ok(err instanceof ForgeRequestError && !err.retryable);
        assert.match(err.message, /forge\.project must be `owner\/name`/);
        return true;
      },
    );
  });
});

describe('Gitea client errors against a contract server standing in for Gitea', () => {
  clientErrorCases(async (): Promise<ForgeUnderTest> => {
    const contract = await startGiteaContract({ token: TOKEN, owner: 'team', repo: 'site' });
    return {
      forge: 'Gitea',
      server: contract.server,
      token: TOKEN,
      client: (opts) => connect(contract, opts),
      missingProject: 'team/absent',
      rateLimits: [
        // Gitea has no limits of its own; the proxy in front of it answers 429, with Retry-After as a date or in seconds.
        {
          name: '429 with Retry-After as an HTTP date',
          answer: { status: 429, headers: { 'retry-after': new Date(NOW + 120_000).toUTCString() } },
          retryAt: NOW + 120_000,
        },
        { name: '429 with Retry-After in seconds', answer: { status: 429, headers: { 'retry-after': '5' } }, retryAt: NOW + 5_000 },
        {
          name: '403 with an exhausted X-RateLimit-Remaining',
          answer: { status: 403, headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(NOW / 1000 + 600) } },
          retryAt: NOW + 600_000,
        },
      ],
    };
  });

  it('follows no redirect, so the token never goes to another address', async () => {
    const contract = await startGiteaContract({ token: TOKEN, owner: 'team', repo: 'site' });
    try {
      contract.server.fail({ status: 301, headers: { location: 'https://elsewhere.example/api/v1/repos/team/site/statuses/x?token=1' } });
      await assert.rejects(connect(contract).setStatus(status()), (err: unknown) => {
        assert.ok(err instanceof ForgeRequestError);
        assert.equal(err.status, 301);
        assert.equal(err.retryable, false);
        assert.match(
          err.message,
          /answered 301, a redirect to https:\/\/elsewhere\.example\/api\/v1\/repos\/team\/site\/statuses\/x: forge\.apiUrl/,
        );
        return true;
      });
      assert.equal(contract.server.requests.length, 1);
    } finally {
      await contract.server.close();
    }
  });

  it('reads a plain 403 as a refusal, not a rate limit', async () => {
    const contract = await startGiteaContract({ token: TOKEN, owner: 'team', repo: 'site' });
    try {
      contract.server.fail({ status: 403, body: { message: 'user does not have write access' } });
      await assert.rejects(connect(contract).setStatus(status()), (err: unknown) => {
        assert.ok(err instanceof ForgeRequestError);
        assert.equal(err.status, 403);
        assert.equal(err.retryable, false);
        assert.match(err.message, /^Gitea POST \/api\/v1\/repos\/team\/site\/statuses\/a+ answered 403: user does not have write access$/);
        return true;
      });
    } finally {
      await contract.server.close();
    }
  });
});
