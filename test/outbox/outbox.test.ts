// The outbox's guarantees, on both databases: messages of a key go out in order, a coalescing key
// sends only its newest state, a claim that expires (its replica died) is taken over and marked
// uncertain, rate limits defer without growing the backoff, and nothing is lost to failures.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import {
  claimDueMessages,
  DeliveryDeferred,
  DeliveryRefused,
  enqueueMessages,
  GIVE_UP_AFTER_MS,
  markAttemptFailed,
  markSent,
  OutboxSender,
  outboxSummary,
  pruneOutbox,
  type OutboxDelivery,
  type OutboxMessage,
} from '../../src/outbox/index.js';
import { backends } from '../store/helpers.js';
import { freshTestDb, T0 } from '../scheduler/helpers.js';

const log = pino({ level: 'silent' });
const msg = (key: string, payload: unknown, coalesce = true, topic = 't'): OutboxMessage => ({ topic, key, repoId: 1, payload, coalesce });
const claim = (db: Parameters<typeof claimDueMessages>[0], now: number, replica = 'r1', claimMs = 30_000) =>
  claimDueMessages(db, { now, replica, claimMs, limit: 100 });

for (const backend of backends()) {
  describe(backend.name, { skip: backend.skip }, () => {
    const db = freshTestDb(backend);

    it('coalesces a key to its newest pending state and keeps keys apart', async () => {
      const d = db.store.db;
      await enqueueMessages(d, [msg('a', 'pending'), msg('a', 'running'), msg('b', 'pending'), msg('a', 'success')], T0);
      const claimed = await claim(d, T0);
      assert.deepEqual(
        claimed.map((c) => [c.key, c.payload]),
        [
          ['b', 'pending'],
          ['a', 'success'],
        ],
      );
      const rows = await d.selectFrom('outbox').select(['payload', 'status']).where('key', '=', 'a').orderBy('id').execute();
      assert.deepEqual(
        rows.map((r) => r.status),
        ['superseded', 'superseded', 'pending'],
      );
    });

    it('sends the messages of a non-coalescing key one after another, in order', async () => {
      const d = db.store.db;
      await enqueueMessages(d, [msg('n', 1, false), msg('n', 2, false)], T0);
      const first = await claim(d, T0);
      assert.deepEqual(
        first.map((c) => c.payload),
        [1],
      );
      // The second waits while the first is out, and while it waits for a retry.
      assert.deepEqual(await claim(d, T0 + 1, 'r2'), []);
      await markAttemptFailed(d, { id: first[0]!.id, now: T0 + 2, error: 'receiver answered 500' });
      assert.deepEqual(await claim(d, T0 + 3), [], 'the retry is not due yet, and the second may not overtake it');
      const retried = await claim(d, T0 + 2 + 1000);
      assert.deepEqual(
        retried.map((c) => [c.payload, c.attempts]),
        [[1, 2]],
      );
      await markSent(d, { id: retried[0]!.id, now: T0 + 1001, result: 'sent' });
      const second = await claim(d, T0 + 1002);
      assert.deepEqual(
        second.map((c) => [c.payload, c.lastSentPayload]),
        [[2, 1]],
      );
    });

    it('never supersedes a state being sent: the newer one waits for it', async () => {
      const d = db.store.db;
      await enqueueMessages(d, [msg('c', 'running')], T0);
      const [out] = await claim(d, T0, 'r1');
      await enqueueMessages(d, [msg('c', 'success')], T0 + 1);
      assert.deepEqual(await claim(d, T0 + 2, 'r2'), [], 'r1 is still sending "running"');
      await markSent(d, { id: out!.id, now: T0 + 3, result: 'sent' });
      const next = await claim(d, T0 + 4, 'r2');
      assert.deepEqual(
        next.map((c) => [c.payload, c.lastSentPayload, c.uncertain]),
        [['success', 'running', false]],
      );
    });

    it('takes over a claim that expired, marked uncertain', async () => {
      const d = db.store.db;
      await enqueueMessages(d, [msg('k', 'success')], T0);
      assert.equal((await claim(d, T0, 'dead', 5_000)).length, 1);
      assert.deepEqual(await claim(d, T0 + 4_999, 'r2'), [], 'the claim still holds');
      const taken = await claim(d, T0 + 5_001, 'r2');
      assert.deepEqual(
        taken.map((c) => [c.payload, c.attempts, c.uncertain]),
        [['success', 2, true]],
      );
      const row = await d.selectFrom('outbox').select('claimed_by').where('id', '=', taken[0]!.id).executeTakeFirstOrThrow();
      assert.equal(row.claimed_by, 'r2');
    });

    it('defers without growing the backoff, and gives up only after a day', async () => {
      const d = db.store.db;
      await enqueueMessages(d, [msg('r', 'x')], T0);
      const [first] = await claim(d, T0);
      await markAttemptFailed(d, { id: first!.id, now: T0, error: 'rate limited', retryAt: T0 + 60_000 });
      assert.deepEqual(await claim(d, T0 + 59_999), []);
      const [again] = await claim(d, T0 + 60_000);
      assert.equal(again!.attempts, 1, 'a deferral is not a failed attempt');
      assert.equal(await markAttemptFailed(d, { id: again!.id, now: T0 + GIVE_UP_AFTER_MS - 1, error: 'down' }), 'pending');
      const [late] = await claim(d, T0 + GIVE_UP_AFTER_MS + 10_000);
      assert.equal(await markAttemptFailed(d, { id: late!.id, now: T0 + GIVE_UP_AFTER_MS + 10_000, error: 'still down' }), 'failed');
      const summary = await outboxSummary(d, { repoId: 1, topic: 't' });
      assert.deepEqual(summary, { lastSentAt: null, lastError: 'still down', lastErrorAt: T0 + GIVE_UP_AFTER_MS + 10_000, pending: 0 });
    });

    it('sender: delivers through handlers, retries failures, refuses for good, counts results', async () => {
      const d = db.store.db;
      let now = T0;
      const seen: OutboxDelivery[] = [];
      let failOnce = true;
      const results: string[] = [];
      const sender = new OutboxSender({
        store: db.store,
        replica: 'r1',
        now: () => now,
        log,
        observe: (topic, result) => results.push(`${topic}:${result}`),
        handlers: [
          {
            topic: 'flaky',
            async deliver(m) {
              seen.push(m);
              if (failOnce) {
                failOnce = false;
                throw new Error('receiver answered 502');
              }
              return 'sent';
            },
          },
          {
            topic: 'limited',
            deliver: () => Promise.reject(new DeliveryDeferred(now + 30_000, 'secondary rate limit')),
          },
          { topic: 'refused', deliver: () => Promise.reject(new DeliveryRefused('bad credentials')) },
        ],
      });
      await enqueueMessages(
        d,
        [msg('f', 1, false, 'flaky'), msg('l', 1, false, 'limited'), msg('x', 1, false, 'refused'), msg('u', 1, false, 'unknown')],
        now,
      );
      assert.equal(await sender.runOnce(), 4);
      now += 1000;
      assert.equal(await sender.runOnce(), 1, 'only the failed one is due again after 1 s');
      assert.deepEqual(results.sort(), ['flaky:retry', 'flaky:sent', 'limited:deferred', 'refused:failed', 'unknown:deferred']);
      const statuses = await d.selectFrom('outbox').select(['topic', 'status', 'last_error']).orderBy('id').execute();
      assert.deepEqual(
        statuses.map((s) => [s.topic, s.status]),
        [
          ['flaky', 'sent'],
          ['limited', 'pending'],
          ['refused', 'failed'],
          ['unknown', 'pending'],
        ],
      );
      assert.match(statuses[3]!.last_error ?? '', /no handler for topic "unknown"/);
      assert.equal(seen.length, 2);
      assert.equal(await pruneOutbox(d, now + 1), 2, 'sent and failed messages are pruned, pending ones kept');
    });
  });
}
