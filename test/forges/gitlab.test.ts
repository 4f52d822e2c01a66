// The GitLab commit status client against a contract server standing in for GitLab (which cannot
// run here): requests are validated against GitLab's published OpenAPI description
// (test/forges/specs/gitlab.json, its source in x-source).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createForgeStatusClient, ForgeRequestError, type CommitState, type ForgeStatusClient } from '../../src/source/forges/index.js';
import { clientErrorCases, NOW, status, type ForgeUnderTest } from './client-errors.js';
import { startGitLabContract, type GitLabContract } from './gitlab-contract.js';

const TOKEN = 'glpat-contract-secret-1234';
const PROJECT = 'platform/web/site';

function connect(contract: GitLabContract, opts: { token?: string; project?: string; timeoutMs?: number } = {}): ForgeStatusClient {
  return createForgeStatusClient(
    { type: 'gitlab', apiUrl: contract.apiUrl, project: opts.project ?? PROJECT, token: opts.token ?? TOKEN },
    { timeoutMs: opts.timeoutMs ?? 5000, now: () => NOW },
  );
}

describe('GitLab commit statuses against a contract server standing in for GitLab', () => {
  let contract: GitLabContract;
  before(async () => {
    contract = await startGitLabContract({ token: TOKEN, projectId: 42, projectPath: PROJECT });
  });
  after(async () => {
    assert.deepEqual(contract.server.violations, []);
    await contract.server.close();
  });

  it('maps each Tandem state to GitLab state, with name, ref, target URL and description', async () => {
    const expected: Record<CommitState, string> = {
      pending: 'pending',
      running: 'running',
      manual: 'running',
      success: 'success',
      failed: 'failed',
      canceled: 'canceled',
      skipped: 'skipped',
    };
    const client = connect(contract);
    for (const [i, [state, gitlab]] of Object.entries(expected).entries()) {
      const sha = String(i).padStart(40, 'c');
      await client.setStatus(status({ sha, state: state as CommitState, description: `now ${state}` }));
      const body = contract.server.calls('postApiV4ProjectsIdStatusesSha').at(-1)!.body as Record<string, unknown>;
      assert.deepEqual(body, {
        state: gitlab,
        name: 'tandem/pipeline',
        target_url: 'https://tandem.example/repos/web/pipelines/7',
        description: `now ${state}`,
        ref: 'main',
      });
      assert.equal(contract.statuses.find((s) => s.sha === sha)?.status, gitlab, state);
    }
  });

  it('sends a group/name project URL-encoded and a numeric project as its id', async () => {
    const before = contract.server.requests.length;
    await connect(contract, { project: '42' }).setStatus(status({ sha: 'd'.repeat(40), state: 'pending' }));
    await connect(contract).setStatus(status({ sha: 'd'.repeat(40), state: 'running' }));
    const ids = contract.server.requests.slice(before).map((r) => r.params.id);
    assert.deepEqual(ids, ['42', PROJECT]);
    assert.equal(contract.statuses.filter((s) => s.sha === 'd'.repeat(40)).length, 1, 'one status moved from pending to running');
  });

  it('takes GitLab refusal to enter the state a status already has as set', async () => {
    const sha = 'e'.repeat(40);
    const client = connect(contract);
    await client.setStatus(status({ sha, state: 'running' }));
    // Sent again (the outbox is at least once): GitLab answers 400 "Cannot transition status via :run from :running".
    await client.setStatus(status({ sha, state: 'running' }));
    // A manual action waiting keeps a running status running.
    await client.setStatus(status({ sha, state: 'manual', description: 'waiting for a manual action' }));
    await client.setStatus(status({ sha, state: 'success', description: 'passed' }));
    const rows = contract.statuses.filter((s) => s.sha === sha);
    assert.deepEqual(
      rows.map((s) => s.status),
      ['success'],
    );
  });

  it('reports a transition GitLab has no edge for as a refusal naming it', async () => {
    const sha = 'f'.repeat(40);
    const client = connect(contract);
    await client.setStatus(status({ sha, state: 'running' }));
    await assert.rejects(client.setStatus(status({ sha, state: 'skipped' })), (err: unknown) => {
      assert.ok(err instanceof ForgeRequestError);
      assert.equal(err.status, 400);
      assert.equal(err.retryable, false);
      assert.match(
        err.message,
        /^GitLab POST \/api\/v4\/projects\/platform%2Fweb%2Fsite\/statuses\/f+ answered 400: Cannot transition status via :skip from :running/,
      );
      return true;
    });
  });

  it('tells whether GitLab already shows the state and description of a context', async () => {
    const sha = '1'.repeat(40);
    const client = connect(contract);
    const running = status({ sha, state: 'running', description: 'Pipeline #7 is running' });
    assert.equal(await client.alreadySet(running), false, 'nothing yet');
    await client.setStatus(running);
    assert.equal(await client.alreadySet(running), true);
    assert.equal(await client.alreadySet({ ...running, description: 'other words' }), false);
    assert.equal(await client.alreadySet({ ...running, state: 'success' }), false);
    assert.equal(await client.alreadySet({ ...running, context: 'tandem/pipeline/test' }), false, 'another context');
    assert.equal(await client.alreadySet({ ...running, ref: 'refs/heads/other' }), false, 'another ref');
    const query = contract.server.calls('getApiV4ProjectsIdRepositoryCommitsShaStatuses').at(-1)!.query;
    assert.deepEqual(query, { ref: 'other', name: 'tandem/pipeline' });
  });
});

describe('GitLab client errors against a contract server standing in for GitLab', () => {
  clientErrorCases(async (): Promise<ForgeUnderTest> => {
    const contract = await startGitLabContract({ token: TOKEN, projectId: 42, projectPath: PROJECT });
    const reset = Math.floor(NOW / 1000) + 90;
    return {
      forge: 'GitLab',
      server: contract.server,
      token: TOKEN,
      client: (opts) => connect(contract, opts),
      missingProject: 'platform/absent',
      rateLimits: [
        {
          name: 'GitLab 429 with Retry-After and RateLimit-Reset',
          answer: {
            status: 429,
            body: { message: 'Retry later' },
            headers: { 'retry-after': '30', 'ratelimit-limit': '600', 'ratelimit-remaining': '0', 'ratelimit-reset': String(reset) },
          },
          retryAt: NOW + 30_000,
        },
        {
          name: 'GitLab 429 with RateLimit-Reset only',
          answer: {
            status: 429,
            body: { message: 'Retry later' },
            headers: { 'ratelimit-remaining': '0', 'ratelimit-reset': String(reset) },
          },
          retryAt: reset * 1000,
        },
      ],
    };
  });
});
