// The metrics the SLOs are computed from, on a real server: database statements and failures,
// agents online and busy, refused webhooks and webhook-to-pipeline latency, and failed pipelines
// split by whose fault they were.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CompiledQuery, sql } from 'kysely';
import { failureCause } from '../../src/monitor/failure-cause.js';
import { Metrics } from '../../src/monitor/metrics.js';
import { openStore } from '../../src/store/index.js';
import { TestTandem } from '../support/tandem.js';
import { deliver, pushDelivery, until } from '../e2e/helpers.js';
import { sampleSum } from './scrape.js';

test('database statements are timed by operation and failures counted by kind', async () => {
  const metrics = new Metrics();
  const store = await openStore(':memory:', { observer: metrics.storeObserver });
  try {
    const migrations = await metrics.registry.metrics();
    assert.ok(sampleSum(migrations, 'tandem_db_query_duration_seconds_count', { operation: 'ddl' }) > 0, 'migrations are statements too');
    const before = sampleSum(migrations, 'tandem_db_query_duration_seconds_count', { operation: 'select' });
    await store.db.selectFrom('repos').selectAll().execute();
    const inserts = sampleSum(migrations, 'tandem_db_query_duration_seconds_count', { operation: 'insert' });
    await store.db.insertInto('counters').values({ name: 'x', value: 1 }).execute();
    await assert.rejects(store.db.insertInto('counters').values({ name: 'x', value: 2 }).execute());
    await assert.rejects(sql`select * from no_such_table`.execute(store.db));
    await store.transaction(async (trx) => trx.selectFrom('repos').select('id').execute());
    const text = await metrics.registry.metrics();
    assert.equal(sampleSum(text, 'tandem_db_query_duration_seconds_count', { operation: 'select' }), before + 3);
    assert.equal(sampleSum(text, 'tandem_db_query_duration_seconds_count', { operation: 'insert' }), inserts + 2);
    assert.equal(sampleSum(text, 'tandem_db_query_duration_seconds_count', { operation: 'begin' }), 1);
    assert.equal(sampleSum(text, 'tandem_db_query_duration_seconds_count', { operation: 'commit' }), 1);
    assert.equal(sampleSum(text, 'tandem_db_errors_total', { operation: 'insert', kind: 'constraint' }), 1);
    assert.equal(sampleSum(text, 'tandem_db_errors_total', { operation: 'select', kind: 'other' }), 1);
    assert.doesNotMatch(text, /no_such_table/, 'never the SQL text as a label');
    // How the PostgreSQL store opens a transaction.
    metrics.storeObserver.log({
      level: 'query',
      query: CompiledQuery.raw('start transaction isolation level read committed; select txid_current()'),
      queryDurationMillis: 1,
    });
    assert.equal(sampleSum(await metrics.registry.metrics(), 'tandem_db_query_duration_seconds_count', { operation: 'begin' }), 2);
  } finally {
    await store.close();
  }
});

test('failure reasons split into the system and user causes', () => {
  assert.deepEqual(failureCause('script_failure'), { cause: 'user', reason: 'script_failure' });
  assert.deepEqual(failureCause('job_execution_timeout'), { cause: 'user', reason: 'job_execution_timeout' });
  assert.deepEqual(failureCause('runner_system_failure'), { cause: 'system', reason: 'runner_system_failure' });
  assert.deepEqual(failureCause('archived_failure'), { cause: 'system', reason: 'archived_failure' });
  assert.deepEqual(failureCause(null), { cause: 'system', reason: 'unknown_failure' });
  assert.deepEqual(failureCause('whatever an agent made up'), { cause: 'system', reason: 'other' });
});

describe('a running server', () => {
  let tandem: TestTandem;
  const scrape = async () => (await tandem.api('GET', '/metrics')).text;

  before(async () => {
    tandem = await TestTandem.start({ agents: 1, concurrency: 1 });
  });
  after(() => tandem.close());

  test('tandem_agents follows agents coming online and taking jobs', async () => {
    await until('the agent online', async () => (sampleSum(await scrape(), 'tandem_agents', { state: 'online' }) === 1 ? true : undefined));
    assert.equal(sampleSum(await scrape(), 'tandem_agents', { state: 'busy' }), 0);
    const { name } = await tandem.repo({ '.gitlab-ci.yml': 'slow:\n  script: [sleep 1.5]\n' });
    const id = await tandem.trigger(name);
    await until('the agent busy', async () => (sampleSum(await scrape(), 'tandem_agents', { state: 'busy' }) === 1 ? true : undefined));
    await tandem.addAgent({ name: 'second' });
    await until('two agents online', async () =>
      sampleSum(await scrape(), 'tandem_agents', { state: 'online' }) === 2 ? true : undefined,
    );
    await tandem.waitForPipeline(id);
    await until('no agent busy', async () => (sampleSum(await scrape(), 'tandem_agents', { state: 'busy' }) === 0 ? true : undefined));
  });

  test('refused webhooks are counted by reason; accepted ones time the way to their pipeline', async () => {
    const secret = 'metrics-secret';
    const { name, sha } = await tandem.repo({ '.gitlab-ci.yml': 'job:\n  script: [echo ok]\n' }, { webhookSecret: secret });
    const push = { ref: 'refs/heads/main', before: '0'.repeat(40), after: sha, deliveryId: 'm-1' };
    assert.equal((await deliver(tandem.url, 'github', 'no-such-repo', pushDelivery('github', secret, push))).status, 404);
    assert.equal((await deliver(tandem.url, 'github', name, pushDelivery('github', 'wrong', push))).status, 401);
    assert.equal(
      (
        await deliver(tandem.url, 'gitea', name, {
          headers: { 'content-type': 'application/json', 'x-gitea-event': 'push', 'x-gitea-delivery': 'm-2', 'x-gitea-signature': 'x' },
          body: '{',
        })
      ).status,
      401,
    );
    assert.equal(
      (
        await deliver(tandem.url, 'gitlab', name, {
          headers: { 'content-type': 'application/json', 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': secret },
          body: '{not json',
        })
      ).status,
      400,
    );
    const accepted = await deliver(tandem.url, 'github', name, pushDelivery('github', secret, push));
    assert.equal(accepted.status, 201, JSON.stringify(accepted.body));
    assert.equal((await deliver(tandem.url, 'github', name, pushDelivery('github', secret, push))).body.duplicate, true);

    const text = await scrape();
    assert.equal(sampleSum(text, 'tandem_webhook_rejects_total', { provider: 'github', reason: 'unknown_repo' }), 1);
    assert.equal(sampleSum(text, 'tandem_webhook_rejects_total', { provider: 'github', reason: 'signature' }), 1);
    assert.equal(sampleSum(text, 'tandem_webhook_rejects_total', { provider: 'gitea', reason: 'signature' }), 1);
    assert.equal(sampleSum(text, 'tandem_webhook_rejects_total', { provider: 'gitlab', reason: 'payload' }), 1);
    assert.equal(sampleSum(text, 'tandem_webhooks_total', { result: 'rejected' }), 4);
    assert.equal(sampleSum(text, 'tandem_webhook_to_pipeline_seconds_count', { provider: 'github' }), 1, 'a duplicate is not timed again');
    assert.equal(sampleSum(text, 'tandem_webhook_to_pipeline_seconds_bucket', { provider: 'github', le: '10' }), 1);
    await tandem.waitForPipeline(accepted.body.pipelineId as number);
  });

  test("failed pipelines are counted by cause: a script or a bad file is the user's, an agent's failure is Tandem's", async () => {
    const failures = async (cause: string, reason: string) =>
      sampleSum(await scrape(), 'tandem_pipeline_failures_total', { cause, reason });
    const { name } = await tandem.repo({ '.gitlab-ci.yml': 'job:\n  script: [exit 3]\nother:\n  tags: [by-hand]\n  script: [echo ok]\n' });
    const { name: broken } = await tandem.repo({ '.gitlab-ci.yml': 'job:\n  scrip: [true]\n' });

    // An agent of our own, speaking the agent protocol, takes the job only it can run and reports a system failure.
    const registered = await tandem.api<{ token: string }>('POST', '/api/v1/agents', { name: 'by-hand', tags: ['by-hand'] });
    assert.equal(registered.status, 201);
    const agentToken = registered.body.token;
    const asAgent = (path: string, body: unknown) =>
      fetch(tandem.url + path, {
        method: 'POST',
        headers: { authorization: `Bearer ${agentToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });

    const id = await tandem.trigger(name);
    const claim = await asAgent('/api/v1/agent/jobs/request', { waitMs: 10_000 });
    assert.equal(claim.status, 200, JSON.stringify(await tandem.pipeline(id)));
    const job = (await claim.json()) as { jobId: number; fencingToken: number };
    const completed = await asAgent(`/api/v1/agent/jobs/${job.jobId}/complete`, {
      fencingToken: job.fencingToken,
      status: 'failed',
      exitCode: null,
      failureReason: 'archived_failure',
    });
    assert.equal(completed.status, 200, await completed.text());
    assert.equal((await tandem.waitForPipeline(id)).status, 'failed');
    assert.equal(await failures('system', 'archived_failure'), 1, 'one system failure wins over the script failure next to it');
    assert.equal(await failures('user', 'script_failure'), 0);

    const { name: failing } = await tandem.repo({ '.gitlab-ci.yml': 'job:\n  script: [exit 3]\n' });
    assert.equal((await tandem.waitForPipeline(await tandem.trigger(failing))).status, 'failed');
    assert.equal(await failures('user', 'script_failure'), 1);

    assert.equal((await tandem.pipeline(await tandem.trigger(broken))).status, 'failed');
    assert.equal(await failures('user', 'config_error'), 1);
    assert.equal(sampleSum(await scrape(), 'tandem_pipelines_total', { status: 'failed' }), 3);
  });
});
