// The Bitbucket build status client against contract servers standing in for Bitbucket Cloud and
// Bitbucket Data Center (neither can run here): requests are validated against their published
// descriptions (test/forges/specs/bitbucket-cloud.json and bitbucket-data-center.json, sources in x-source).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bitbucketKey, isBitbucketCloud } from '../../src/source/forges/bitbucket.js';
import { createForgeStatusClient, type CommitState, type ForgeStatusClient } from '../../src/source/forges/index.js';
import { startBitbucketCloudContract, startBitbucketDataCenterContract, type BitbucketContract } from './bitbucket-contract.js';
import { clientErrorCases, NOW, status, type ForgeUnderTest } from './client-errors.js';

const TOKEN = 'ATCTT3xFfGN0-contract-secret';

function connect(
  contract: BitbucketContract,
  project: string,
  opts: { token?: string; project?: string; timeoutMs?: number } = {},
): ForgeStatusClient {
  return createForgeStatusClient(
    { type: 'bitbucket', apiUrl: contract.apiUrl, project: opts.project ?? project, token: opts.token ?? TOKEN },
    { timeoutMs: opts.timeoutMs ?? 5000, now: () => NOW },
  );
}

describe('Bitbucket status keys', () => {
  it('keeps a context of up to 40 characters as its key and hashes longer ones into 40, deterministically', () => {
    assert.equal(bitbucketKey('tandem/pipeline'), 'tandem/pipeline');
    const long = 'tandem/release-pipeline/integration-tests-on-postgres';
    const other = 'tandem/release-pipeline/integration-tests-on-sqlite';
    assert.equal(bitbucketKey(long).length, 40);
    assert.equal(bitbucketKey(long), bitbucketKey(long));
    assert.notEqual(bitbucketKey(long), bitbucketKey(other), 'same first characters, different keys');
    assert.ok(bitbucketKey(long).startsWith('tandem/release-pipeline/in'));
  });

  it('tells Cloud from Data Center by the API root', () => {
    assert.equal(isBitbucketCloud('https://api.bitbucket.org/2.0'), true);
    assert.equal(isBitbucketCloud('https://api.bitbucket.org/2.0/'), true);
    assert.equal(isBitbucketCloud('https://bitbucket.example.com/rest'), false);
  });
});

describe('Bitbucket Cloud build statuses against a contract server standing in for Bitbucket Cloud', () => {
  let contract: BitbucketContract;
  before(async () => {
    contract = await startBitbucketCloudContract({ token: TOKEN, workspace: 'acme', repo: 'site' });
  });
  after(async () => {
    assert.deepEqual(contract.server.violations, []);
    await contract.server.close();
  });

  it('maps each Tandem state to a Bitbucket Cloud state, with key, name, url, description and refname', async () => {
    const expected: Record<CommitState, string> = {
      pending: 'INPROGRESS',
      running: 'INPROGRESS',
      manual: 'INPROGRESS',
      success: 'SUCCESSFUL',
      failed: 'FAILED',
      canceled: 'STOPPED',
      skipped: 'SUCCESSFUL',
    };
    const client = connect(contract, 'acme/site');
    for (const [state, bitbucket] of Object.entries(expected)) {
      await client.setStatus(status({ state: state as CommitState, description: `now ${state}` }));
      const call = contract.server.calls('createCommitBuildStatus').at(-1)!;
      assert.equal(call.headers.authorization, `Bearer ${TOKEN}`);
      assert.deepEqual(call.body, {
        key: 'tandem/pipeline',
        state: bitbucket,
        name: 'tandem/pipeline',
        url: 'https://tandem.example/repos/web/pipelines/7',
        description: `now ${state}`,
        refname: 'main',
      });
    }
    assert.equal(contract.statuses.size, 1, 'one status per commit and key, replaced each time');
  });

  it('sends a long context under its 40-character key and finds it again', async () => {
    const client = connect(contract, 'acme/site');
    const long = status({ sha: '2'.repeat(40), context: 'tandem/release-pipeline/integration-tests-on-postgres', state: 'failed' });
    assert.equal(await client.alreadySet(long), false, 'a 404 is "not set"');
    await client.setStatus(long);
    assert.equal(await client.alreadySet(long), true);
    assert.equal(await client.alreadySet({ ...long, state: 'success' }), false);
    assert.equal(await client.alreadySet({ ...long, description: 'other words' }), false);
    assert.equal(contract.server.calls('getCommitBuildStatus').at(-1)!.params.key, bitbucketKey(long.context));
  });

  it('sends username:password as HTTP Basic (an app password)', async () => {
    const basic = await startBitbucketCloudContract({ token: 'jdoe:app-password-1234', workspace: 'acme', repo: 'site' });
    try {
      await connect(basic, 'acme/site', { token: 'jdoe:app-password-1234' }).setStatus(status());
      assert.equal(basic.server.requests[0].headers.authorization, `Basic ${Buffer.from('jdoe:app-password-1234').toString('base64')}`);
      assert.deepEqual(basic.server.violations, []);
    } finally {
      await basic.server.close();
    }
  });
});

describe('Bitbucket Data Center build statuses against a contract server standing in for Bitbucket Data Center', () => {
  let contract: BitbucketContract;
  before(async () => {
    contract = await startBitbucketDataCenterContract({ token: TOKEN, projectKey: 'WEB', repo: 'site' });
  });
  after(async () => {
    assert.deepEqual(contract.server.violations, []);
    await contract.server.close();
  });

  it('maps each Tandem state to a Data Center state, with the build number and the full ref', async () => {
    const expected: Record<CommitState, string> = {
      pending: 'INPROGRESS',
      running: 'INPROGRESS',
      manual: 'INPROGRESS',
      success: 'SUCCESSFUL',
      failed: 'FAILED',
      canceled: 'CANCELLED',
      skipped: 'SUCCESSFUL',
    };
    const client = connect(contract, 'WEB/site');
    for (const [state, bitbucket] of Object.entries(expected)) {
      await client.setStatus(status({ state: state as CommitState, description: `now ${state}` }));
      assert.deepEqual(contract.server.calls('addBuildStatus').at(-1)!.body, {
        key: 'tandem/pipeline',
        state: bitbucket,
        url: 'https://tandem.example/repos/web/pipelines/7',
        name: 'tandem/pipeline',
        description: `now ${state}`,
        buildNumber: '7',
        ref: 'refs/heads/main',
      });
    }
  });

  it('leaves out a ref that is not fully qualified (a branch or a tag?)', async () => {
    await connect(contract, 'WEB/site').setStatus(status({ ref: 'v1.2' }));
    assert.equal((contract.server.calls('addBuildStatus').at(-1)!.body as { ref?: string }).ref, undefined);
  });

  it('tells whether Data Center shows the state and description of a key', async () => {
    const client = connect(contract, 'WEB/site');
    const canceled = status({ sha: '3'.repeat(40), state: 'canceled', description: 'canceled by jane' });
    assert.equal(await client.alreadySet(canceled), false, 'a 404 is "not set"');
    await client.setStatus(canceled);
    assert.equal(await client.alreadySet(canceled), true);
    assert.equal(await client.alreadySet({ ...canceled, state: 'failed' }), false);
    assert.deepEqual(contract.server.calls('getBuildStatus').at(-1)!.query, { key: 'tandem/pipeline' });
  });

  it('fits a long description and job context into the 255 characters Data Center takes, and finds it again', async () => {
    const client = connect(contract, 'WEB/site');
    const long = status({
      sha: '5'.repeat(40),
      context: `tandem/pipeline/${'matrix-job-'.repeat(30)}`,
      state: 'failed',
      description: `Failed: ${'integration-test-'.repeat(30)}`,
    });
    await client.setStatus(long);
    const body = contract.server.calls('addBuildStatus').at(-1)!.body as { name: string; description: string };
    assert.equal(body.name.length, 255);
    assert.equal(body.description.length, 255);
    assert.ok(body.description.endsWith('…'));
    assert.equal(await client.alreadySet(long), true);
  });

  it('takes an API root given as /rest/api/latest or as the server root too', async () => {
    for (const root of [contract.server.url('/rest/api/latest'), contract.server.url('')]) {
      const client = createForgeStatusClient(
        { type: 'bitbucket', apiUrl: root, project: 'WEB/site', token: TOKEN },
        { timeoutMs: 5000, now: () => NOW },
      );
      await client.setStatus(status({ sha: '4'.repeat(40) }));
    }
    assert.equal(contract.server.calls('addBuildStatus').filter((c) => c.params.commitId === '4'.repeat(40)).length, 2);
  });
});

describe('Bitbucket Cloud client errors against a contract server standing in for Bitbucket Cloud', () => {
  clientErrorCases(async (): Promise<ForgeUnderTest> => {
    const contract = await startBitbucketCloudContract({ token: TOKEN, workspace: 'acme', repo: 'site' });
    return {
      forge: 'Bitbucket Cloud',
      server: contract.server,
      token: TOKEN,
      client: (opts) => connect(contract, 'acme/site', opts),
      missingProject: 'acme/absent',
      rateLimits: [
        // Bitbucket Cloud answers 429 without saying how long: a minute later.
        {
          name: 'Cloud 429 without headers',
          answer: { status: 429, body: { type: 'error', error: { message: 'Rate limit exceeded' } } },
          retryAt: NOW + 60_000,
        },
        { name: 'Cloud 429 with Retry-After', answer: { status: 429, headers: { 'retry-after': '12' } }, retryAt: NOW + 12_000 },
      ],
    };
  });
});

describe('Bitbucket Data Center client errors against a contract server standing in for Bitbucket Data Center', () => {
  clientErrorCases(async (): Promise<ForgeUnderTest> => {
    const contract = await startBitbucketDataCenterContract({ token: TOKEN, projectKey: 'WEB', repo: 'site' });
    return {
      forge: 'Bitbucket Data Center',
      server: contract.server,
      token: TOKEN,
      client: (opts) => connect(contract, 'WEB/site', opts),
      missingProject: 'WEB/absent',
      rateLimits: [
        // Data Center's token-bucket limiter: 429 with Retry-After in seconds.
        { name: 'Data Center 429 with Retry-After', answer: { status: 429, headers: { 'retry-after': '3' } }, retryAt: NOW + 3_000 },
      ],
    };
  });
});
