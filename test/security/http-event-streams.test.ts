// Issue 14, item 13: one token held 9,300 event streams, each polling the database every few
// seconds. Streams are now capped per principal and per replica (429 with Retry-After beyond),
// and pushed by the hub: an open stream reads the database on an event or a slow repair timer.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { startAttack, type RunningAttack } from '../support/attacks.js';
import { TestTandem } from '../support/tandem.js';

/** A pipeline that stays pending (no agent takes it), so its streams stay open. */
async function pendingPipeline(tandem: TestTandem): Promise<{ pipelineId: number; jobId: number }> {
  const { name } = await tandem.repo({ '.gitlab-ci.yml': 'job:\n  script: [echo never runs]\n' });
  const pipelineId = await tandem.trigger(name);
  return { pipelineId, jobId: (await tandem.pipeline(pipelineId)).jobs[0].id };
}

/** A token of a new user who may read every pipeline (an instance administrator). */
async function adminToken(tandem: TestTandem, username: string): Promise<string> {
  const made = await tandem.api('POST', '/api/v1/users', { username, admin: true });
  assert.equal(made.status, 201, made.text);
  const token = await tandem.api<{ token: string }>('POST', '/api/v1/tokens', { name: 'streams', username });
  assert.equal(token.status, 201, token.text);
  return token.body.token;
}

describe('event streams: capped per principal and per replica', { timeout: 60_000 }, () => {
  let tandem: TestTandem;
  let streamPath: string;
  const attacks: RunningAttack[] = [];
  before(async () => {
    tandem = await TestTandem.start({ agents: 0, settings: { maxEventStreamsPerPrincipal: 5, maxEventStreams: 8 } });
    streamPath = `/api/v1/pipelines/${(await pendingPipeline(tandem)).pipelineId}/events`;
  });
  after(async () => {
    for (const attack of attacks) await attack.stop();
    await tandem.close();
  });

  test('one token opening 40 streams gets 5; the rest are refused 429 with Retry-After; a closed stream frees its place', async () => {
    const flood = await startAttack({
      kind: 'event-streams',
      url: tandem.url,
      connections: 40,
      path: streamPath,
      token: tandem.token,
      settleMs: 1_500,
    });
    attacks.push(flood);
    assert.deepEqual(flood.ready.statuses, { 200: 5, 429: 35 });
    const refused = await fetch(tandem.url + streamPath, { headers: { authorization: `Bearer ${tandem.token}` } });
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get('retry-after'), '10');
    assert.match(
      ((await refused.json()) as { message: string }).message,
      /has 5 event streams open, the most allowed \(maxEventStreamsPerPrincipal\)/,
    );
    await flood.stop();
    await sleep(200);
    const again = await startAttack({
      kind: 'event-streams',
      url: tandem.url,
      connections: 1,
      path: streamPath,
      token: tandem.token,
      settleMs: 1_000,
    });
    attacks.push(again);
    assert.deepEqual(again.ready.statuses, { 200: 1 }, 'the closed streams gave their places back');
    await again.stop();
  });

  test('many principals together are held to the replica cap', async () => {
    const statuses: Record<string, number> = {};
    for (const username of ['streamer1', 'streamer2']) {
      const flood = await startAttack({
        kind: 'event-streams',
        url: tandem.url,
        connections: 5,
        path: streamPath,
        token: await adminToken(tandem, username),
        settleMs: 1_000,
      });
      attacks.push(flood);
      for (const [status, count] of Object.entries(flood.ready.statuses)) statuses[status] = (statuses[status] ?? 0) + count;
    }
    assert.deepEqual(statuses, { 200: 8, 429: 2 }, 'the first user got 5, the second the 3 left of the replica');
  });
});

describe('event streams are pushed, not polled', { timeout: 60_000 }, () => {
  let tandem: TestTandem;
  before(async () => {
    tandem = await TestTandem.start({ agents: 0 });
  });
  after(() => tandem.close());

  /** Statements the server ran, from its own latency histogram. */
  async function statements(): Promise<number> {
    const metric = await tandem.server.ctx.metrics.dbQueryDuration.get();
    return metric.values.filter((v) => v.metricName?.endsWith('_count')).reduce((sum, v) => sum + v.value, 0);
  }

  test('30 open log streams of a waiting job cost the database nothing while nothing happens', async () => {
    const { jobId } = await pendingPipeline(tandem);
    const quiet = async () => {
      const start = await statements();
      await sleep(4_000);
      return (await statements()) - start;
    };
    const idle = await quiet();
    const flood = await startAttack({
      kind: 'event-streams',
      url: tandem.url,
      connections: 30,
      path: `/api/v1/jobs/${jobId}/log/stream`,
      token: tandem.token,
      settleMs: 1_000,
    });
    try {
      assert.deepEqual(flood.ready.statuses, { 200: 30 });
      const streaming = await quiet();
      // Polling every 2 s, 30 streams made about 120 statements in 4 s (a log read and a job read each).
      assert.ok(streaming - idle < 15, `statements in 4 s: ${idle} without streams, ${streaming} with 30`);
    } finally {
      await flood.stop();
    }
  });
});
