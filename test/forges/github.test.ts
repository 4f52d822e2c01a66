// The GitHub client against a contract server standing in for GitHub (every request checked against
// GitHub's OpenAPI description): commit statuses with a token, Checks runs with a GitHub App, and
// one attempt per call, with rate limits, 5xx and hangs turned into the errors the outbox reads.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import {
  createForgeStatusClient,
  ForgeRateLimitedError,
  ForgeRequestError,
  type CommitStatus,
  type ForgeStatusClient,
} from '../../src/source/index.js';
import { GitHubContractServer } from './github-contract.js';

const SHA = 'c0ffee'.padEnd(40, '0');
const status = (over: Partial<CommitStatus> = {}): CommitStatus => ({
  sha: SHA,
  context: 'tandem/pipeline',
  state: 'pending',
  description: 'pipeline #1 pending',
  targetUrl: 'http://tandem.test/pipelines/1',
  ref: 'main',
  pipelineId: 1,
  ...over,
});

let gh: GitHubContractServer;
let client: ForgeStatusClient;
before(async () => {
  gh = await GitHubContractServer.start();
  client = createForgeStatusClient(
    { type: 'github', apiUrl: gh.url, project: 'octo/app', token: gh.token },
    { timeoutMs: 1000, now: Date.now },
  );
});
after(() => gh.close());

test('commit statuses for GitHub: states mapped, description capped, alreadySet reads the latest', async () => {
  await client.setStatus(status());
  await client.setStatus(status({ state: 'running', description: 'pipeline #1 running' }));
  await client.setStatus(status({ state: 'failed', description: 'x'.repeat(300) }));
  await client.setStatus(status({ context: 'tandem/pipeline/build', state: 'canceled', description: 'build canceled' }));
  assert.deepEqual(gh.statesOf(SHA, 'tandem/pipeline'), [
    'pending:pipeline #1 pending',
    'pending:pipeline #1 running',
    `failure:${'x'.repeat(139)}…`,
  ]);
  assert.deepEqual(gh.statesOf(SHA, 'tandem/pipeline/build'), ['error:build canceled']);
  assert.equal(gh.received[0].targetUrl, 'http://tandem.test/pipelines/1');
  assert.equal(await client.alreadySet(status({ state: 'failed', description: 'x'.repeat(300) })), true);
  assert.equal(await client.alreadySet(status({ state: 'running', description: 'pipeline #1 running' })), false, 'not the latest');
  assert.equal(await client.alreadySet(status({ sha: 'f'.repeat(40) })), false);
  assert.deepEqual(gh.violations, []);
});

test('a primary rate limit becomes ForgeRateLimitedError at x-ratelimit-reset, a secondary one at Retry-After', async () => {
  gh.fault({ kind: 'primary', count: 1, seconds: 30 });
  const before = Date.now();
  const primary = await client.setStatus(status({ sha: 'a'.repeat(40) })).then(
    () => null,
    (err: unknown) => err,
  );
  assert.ok(primary instanceof ForgeRateLimitedError, String(primary));
  assert.ok(primary.retryAt >= before + 29_000 && primary.retryAt <= Date.now() + 32_000, `retryAt ${primary.retryAt - before} ms ahead`);
  gh.fault({ kind: 'secondary', count: 1, seconds: 7 });
  const secondary = await client.setStatus(status({ sha: 'a'.repeat(40) })).then(
    () => null,
    (err: unknown) => err,
  );
  assert.ok(secondary instanceof ForgeRateLimitedError, String(secondary));
  assert.ok(Math.abs(secondary.retryAt - (Date.now() + 7000)) < 1500);
  assert.deepEqual(gh.statesOf('a'.repeat(40), 'tandem/pipeline'), [], 'octokit did not wait out the limit in memory');
});

test('a 5xx is tried once more within the attempt, then left to the outbox; a hang times out', async () => {
  gh.fault({ kind: 'error', count: 1, status: 502 });
  await client.setStatus(status({ sha: 'b'.repeat(40) }));
  assert.deepEqual(gh.statesOf('b'.repeat(40), 'tandem/pipeline'), ['pending:pipeline #1 pending'], 'the one retry got through');
  gh.fault({ kind: 'error', count: 2, status: 503 });
  await assert.rejects(client.setStatus(status({ sha: 'b'.repeat(40), state: 'success' })), (err: unknown) => {
    return err instanceof ForgeRequestError && err.status === 503 && err.retryable;
  });
  gh.fault({ kind: 'hang', count: 1 });
  const started = Date.now();
  await assert.rejects(client.setStatus(status({ sha: 'b'.repeat(40), state: 'success' })), (err: unknown) => {
    return err instanceof ForgeRequestError && err.status === 0 && err.retryable;
  });
  assert.ok(Date.now() - started < 3000, 'bounded by timeoutMs');
  gh.releaseHanging();
});

test('a redirect is not followed: the token stays with the API root it was given for', async (t) => {
  const redirect = createServer((req, res) => res.writeHead(301, { location: gh.url + (req.url ?? '/') }).end());
  await new Promise<void>((resolve) => redirect.listen(0, '127.0.0.1', resolve));
  t.after(() => redirect.close());
  const moved = createForgeStatusClient(
    { type: 'github', apiUrl: `http://127.0.0.1:${(redirect.address() as AddressInfo).port}`, project: 'octo/app', token: gh.token },
    { timeoutMs: 1000, now: Date.now },
  );
  const before = gh.requests.length;
  await assert.rejects(moved.setStatus(status({ sha: 'd'.repeat(40) })), (err: unknown) => {
    return err instanceof ForgeRequestError && err.status === 301 && !err.retryable && /redirect/.test(err.message);
  });
  assert.equal(gh.requests.length, before, 'nothing reached the place it redirected to');
});

test('a refusal (bad credentials) is not retryable', async () => {
  const wrong = createForgeStatusClient(
    { type: 'github', apiUrl: gh.url, project: 'octo/app', token: 'nope' },
    { timeoutMs: 1000, now: Date.now },
  );
  await assert.rejects(
    wrong.setStatus(status()),
    (err: unknown) => err instanceof ForgeRequestError && err.status === 401 && !err.retryable,
  );
});

test('a GitHub App credential: Checks runs created once per (commit, name), then updated', async (t) => {
  const app = await GitHubContractServer.start({ app: { appId: '4242', installationId: 77 } });
  t.after(() => app.close());
  const checks = createForgeStatusClient(
    { type: 'github', apiUrl: app.url, project: 'octo/app', app: { appId: '4242', privateKey: app.app!.privateKeyPem } },
    { timeoutMs: 2000, now: Date.now },
  );
  await checks.setStatus(status());
  await checks.setStatus(status({ state: 'running', description: 'pipeline #1 running' }));
  assert.equal(await checks.alreadySet(status({ state: 'running', description: 'pipeline #1 running' })), true);
  await checks.setStatus(status({ state: 'success', description: 'pipeline #1 passed' }));
  await checks.setStatus(status({ context: 'tandem/pipeline/test', state: 'failed', description: 'test failed' }));
  assert.equal(app.checkRuns.length, 2);
  const [run, job] = app.checkRuns;
  assert.deepEqual(run.history, [
    { status: 'queued', conclusion: null, title: 'pipeline #1 pending' },
    { status: 'in_progress', conclusion: null, title: 'pipeline #1 running' },
    { status: 'completed', conclusion: 'success', title: 'pipeline #1 passed' },
  ]);
  assert.equal(run.detailsUrl, 'http://tandem.test/pipelines/1');
  assert.deepEqual(job.history, [{ status: 'completed', conclusion: 'failure', title: 'test failed' }]);
  assert.equal(await checks.alreadySet(status({ state: 'success', description: 'pipeline #1 passed' })), true);
  assert.equal(await checks.alreadySet(status({ state: 'failed', description: 'pipeline #1 failed' })), false);
  const ops = app.requests.map((r) => r.operationId);
  assert.equal(ops.filter((o) => o === 'apps/get-repo-installation').length, 1, 'the installation was looked up once');
  assert.equal(ops.filter((o) => o === 'apps/create-installation-access-token').length, 1, 'the installation token is cached');
  assert.equal(app.received.length, 0, 'no commit statuses with an App');

  // A revoked installation token fails the attempt as retryable; the next attempt takes a new one.
  app.revokeInstallationTokens();
  await assert.rejects(checks.setStatus(status({ state: 'failed', description: 'pipeline #1 failed' })), (err: unknown) => {
    return err instanceof ForgeRequestError && err.status === 401 && err.retryable;
  });
  await checks.setStatus(status({ state: 'failed', description: 'pipeline #1 failed' }));
  assert.equal(run.history.at(-1)?.conclusion, 'failure');
  assert.deepEqual(app.violations, []);
});

test('the contract server refuses what GitHub would (so the tests above could fail)', async () => {
  const res = await fetch(`${gh.url}/repos/octo/app/statuses/${SHA}`, {
    method: 'POST',
    headers: { authorization: `token ${gh.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ state: 'running', context: 'tandem/pipeline' }),
  });
  assert.equal(res.status, 422);
  assert.match(gh.violations.pop() ?? '', /body\.state: "running" is not one of/);
});
