// The error handling every forge client shares, run against each forge's contract server: rate
// limits become ForgeRateLimitedError with the time the forge named, 5xx and silence are worth
// retrying, a wrong credential or project is not, and no message carries the credential.
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { ForgeRateLimitedError, ForgeRequestError, type CommitStatus, type ForgeStatusClient } from '../../src/source/forges/index.js';
import type { ContractAnswer, ContractServer } from './contract-server.js';

/** The clock the clients are given: Retry-After arithmetic is checked against it. */
export const NOW = Date.parse('2026-12-06T15:00:00Z');

export function status(over: Partial<CommitStatus> = {}): CommitStatus {
  return {
    sha: 'a'.repeat(40),
    context: 'tandem/pipeline',
    state: 'running',
    description: 'Pipeline #7 is running',
    targetUrl: 'https://tandem.example/repos/web/pipelines/7',
    ref: 'refs/heads/main',
    pipelineId: 7,
    ...over,
  };
}

export interface ForgeUnderTest {
  /** The forge's name as messages give it. */
  forge: string;
  server: ContractServer;
  token: string;
  client(opts?: { token?: string; project?: string; timeoutMs?: number }): ForgeStatusClient;
  /** A project the forge does not have. */
  missingProject: string;
  /** The forge's own rate-limit answers and the retryAt each must give. */
  rateLimits: { name: string; answer: ContractAnswer; retryAt: number }[];
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  assert.fail('expected the call to fail');
}

/** Registers the shared cases; `start` is awaited once and its server closed after the suite. */
export function clientErrorCases(start: () => Promise<ForgeUnderTest>): void {
  let forge: ForgeUnderTest | undefined;
  const get = async () => (forge ??= await start());
  after(async () => {
    if (forge) {
      assert.deepEqual(forge.server.violations, [], 'every request matched the published description');
      await forge.server.close();
    }
  });

  it('turns the forge rate limit answers into ForgeRateLimitedError with the time the forge named', async () => {
    const f = await get();
    for (const limit of f.rateLimits) {
      f.server.fail(limit.answer);
      const err = await rejection(f.client().setStatus(status()));
      assert.ok(err instanceof ForgeRateLimitedError, `${limit.name}: ${err.message}`);
      assert.equal(err.retryAt, limit.retryAt, limit.name);
      assert.match(err.message, new RegExp(`^${f.forge} POST /`));
    }
  });

  it('reports a 5xx as retryable, naming the forge, the method and the path', async () => {
    const f = await get();
    f.server.fail({ status: 503, body: { message: 'upstream unavailable' } });
    const err = await rejection(f.client().setStatus(status()));
    assert.ok(err instanceof ForgeRequestError);
    assert.equal(err.status, 503);
    assert.equal(err.retryable, true);
    assert.match(err.message, new RegExp(`^${f.forge} POST /\\S+ answered 503: upstream unavailable$`));
    // alreadySet fails the same way: the outbox retries rather than sending blind.
    f.server.fail({ status: 502 });
    const read = await rejection(f.client().alreadySet(status()));
    assert.ok(read instanceof ForgeRequestError && read.retryable && read.status === 502);
  });

  it('refuses for good on a wrong credential, without the credential in the message', async () => {
    const f = await get();
    const wrong = `wrong-${f.token}`;
    const err = await rejection(f.client({ token: wrong }).setStatus(status()));
    assert.ok(err instanceof ForgeRequestError);
    assert.equal(err.status, 401);
    assert.equal(err.retryable, false);
    assert.ok(!err.message.includes(wrong) && !err.message.includes(f.token), err.message);
    assert.ok(!err.message.includes(Buffer.from(wrong).toString('base64')), err.message);
  });

  it('refuses for good when the project does not exist', async () => {
    const f = await get();
    const err = await rejection(f.client({ project: f.missingProject }).setStatus(status()));
    assert.ok(err instanceof ForgeRequestError);
    assert.equal(err.status, 404);
    assert.equal(err.retryable, false);
    assert.match(err.message, new RegExp(`^${f.forge} POST /`));
  });

  it('gives up on a forge that does not answer within the time limit, as retryable', async () => {
    const f = await get();
    f.server.fail('hang');
    const started = Date.now();
    const err = await rejection(f.client({ timeoutMs: 300 }).setStatus(status()));
    assert.ok(err instanceof ForgeRequestError);
    assert.equal(err.status, 0);
    assert.equal(err.retryable, true);
    assert.match(err.message, /no answer within 0\.3 s/);
    assert.ok(Date.now() - started < 5000, 'the time limit held');
  });
}
