// Issue 14, item 11: slow requests held a replica's sockets forever (requestTimeout 0), so 1,000
// unauthenticated slowloris connections could exhaust its file descriptors. Headers and buffered
// bodies now have deadlines, connections are capped per address and in total, and responses that
// rightly last long (SSE, long-polls) are not cut.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { startAttack } from '../support/attacks.js';
import { jobNamed, TestTandem } from '../support/tandem.js';
import { readSse, until } from '../e2e/helpers.js';

const ATTACKER = '127.0.0.2';
const PER_ADDRESS = 100;

describe('slow requests (slowloris)', { timeout: 60_000 }, () => {
  let tandem: TestTandem;
  before(async () => {
    tandem = await TestTandem.start({
      agents: 1,
      settings: { headersTimeoutSeconds: 1, bodyTimeoutSeconds: 2, keepAliveTimeoutSeconds: 1, maxConnectionsPerAddress: PER_ADDRESS },
    });
  });
  after(() => tandem.close());

  test('1,000 connections trickling a body from one address: those over the per-address cap get 429 at once, the rest 408 at the body deadline', async () => {
    const attack = await startAttack({ kind: 'slow-body', url: tandem.url, connections: 1000, sourceAddress: ATTACKER, trickleMs: 200 });
    try {
      assert.equal(attack.ready.opened, 1000);
      const held = attack.ready.opened - attack.ready.closedByServer;
      assert.equal(held, PER_ADDRESS, `the server holds ${held} connections of one address`);
      assert.ok(attack.ready.statuses['429'] > 0, `the others are told why: ${JSON.stringify(attack.ready.statuses)}`);
      // The slow ones still trickle; each is cut about 2 s after its headers, checked every second.
      const report = await until(
        'every slow body cut',
        async () => {
          const so = await attack.current();
          return so.closedByServer === 1000 ? so : undefined;
        },
        8_000,
        100,
      );
      assert.equal(report.statuses['408'], PER_ADDRESS, JSON.stringify(report.statuses));
      const slowest = Math.max(...report.closedAfterMs);
      assert.ok(slowest < 5_000, `the last slow body was cut after ${slowest} ms`);
    } finally {
      await attack.stop();
    }
  });

  test('slow headers and connections that never send a byte are cut at the header deadline', async () => {
    for (const kind of ['slow-headers', 'idle'] as const) {
      const attack = await startAttack({ kind, url: tandem.url, connections: 50, sourceAddress: ATTACKER, trickleMs: 200 });
      try {
        const report = await until(
          `every ${kind} connection closed`,
          async () => {
            const so = await attack.current();
            return so.closedByServer === 50 ? so : undefined;
          },
          6_000,
          100,
        );
        assert.ok(Math.max(...report.closedAfterMs) < 3_500, `${kind}: closed after ${Math.max(...report.closedAfterMs)} ms`);
      } finally {
        await attack.stop();
      }
    }
  });

  test('a streamed upload may take longer than the body deadline while bytes keep coming; one that stalls gets 408', async () => {
    const agent = await tandem.api<{ token: string }>('POST', '/api/v1/agents', { name: 'uploader' });
    assert.equal(agent.status, 201, agent.text);
    const upload = async (pauses: number[]) => {
      const chunks = pauses.map((_, i) => `chunk ${i};`);
      const digest = createHash('sha256').update(chunks.join('')).digest('hex');
      async function* body() {
        for (const [i, pause] of pauses.entries()) {
          await sleep(pause);
          yield Buffer.from(chunks[i]);
        }
      }
      const res = await fetch(`${tandem.url}/api/v1/agent/blobs/${digest}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${agent.body.token}`, 'content-type': 'application/octet-stream' },
        body: Readable.from(body()),
        duplex: 'half',
      } as RequestInit);
      return { status: res.status, text: await res.text() };
    };
    // Five chunks 800 ms apart: 4 s in all, twice the body deadline, never 2 s without a byte.
    const steady = await upload([0, 800, 800, 800, 800]);
    assert.equal(steady.status, 200, steady.text);
    const stalled = await upload([0, 3000]);
    assert.equal(stalled.status, 408, stalled.text);
    assert.match(stalled.text, /request body: no data for 2 s/);
  });

  test('responses that last long are not cut: a job log stream outlives the header, body and keep-alive deadlines', async () => {
    const { name } = await tandem.repo({ '.gitlab-ci.yml': 'job:\n  script:\n    - echo started\n    - sleep 4\n    - echo finished\n' });
    const id = await tandem.trigger(name);
    const job = await until('the job running', async () => {
      const p = await tandem.pipeline(id);
      return jobNamed(p, 'job').status === 'running' ? jobNamed(p, 'job') : undefined;
    });
    const started = Date.now();
    const events = await readSse(`${tandem.url}/api/v1/jobs/${job.id}/log/stream`, tandem.token, { timeoutMs: 20_000 }).events;
    const end = events.find((e) => e.event === 'end');
    assert.deepEqual(end?.data, { status: 'success' });
    assert.ok(Date.now() - started > 2_500, 'the stream stayed open past every deadline');
  });
});
