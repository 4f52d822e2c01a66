// The hub relays a replica's events to the others through database notifications (LISTEN/NOTIFY on
// PostgreSQL; the multi-replica suites cover the real relay). Here an in-memory channel stands in
// for it, to count the notifications a burst of events costs.
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { Hub, type HubEvent } from '../../src/server/hub.js';
import { MAX_NOTIFY_PAYLOAD, type Notifications } from '../../src/store/index.js';

/** One channel shared by every hub that relays through it, delivering each payload to all. */
function channel() {
  const listeners: ((payload: string) => void)[] = [];
  const sent: string[] = [];
  const notifications: Notifications = {
    async publish(payload) {
      assert.ok(payload.length <= MAX_NOTIFY_PAYLOAD, `a notification of ${payload.length} bytes`);
      sent.push(payload);
      for (const l of listeners) l(payload);
    },
    async subscribe(onMessage) {
      listeners.push(onMessage);
      return { close: async () => void listeners.splice(listeners.indexOf(onMessage), 1) };
    },
  };
  return { notifications, sent };
}

describe('Hub relay', () => {
  test('the events of one turn go out in one notification, in order, and reach the other replica once', async () => {
    const { notifications, sent } = channel();
    const [a, b] = [new Hub('replica-a'), new Hub('replica-b')];
    const stops = [await a.relayThrough(notifications), await b.relayThrough(notifications)];
    const seenByB: HubEvent[] = [];
    const seenByA: HubEvent[] = [];
    b.subscribe('*', (e) => seenByB.push(e));
    a.subscribe('*', (e) => seenByA.push(e));
    const events: HubEvent[] = Array.from({ length: 50 }, (_, i) => ({ type: 'job', jobId: i, pipelineId: 1, status: 'running' }));
    for (const e of events) a.publish(e);
    assert.equal(seenByA.length, 50, 'the publishing replica delivers at once');
    assert.equal(seenByB.length, 0, 'the relay waits for the end of the turn');
    await nextTurn();
    assert.equal(sent.length, 1, 'one notification for the turn');
    assert.deepEqual(seenByB, events);
    assert.equal(seenByA.length, 50, 'a replica ignores its own notifications');
    for (const stop of stops) await stop();
  });

  test("events beyond one notification's room are split over several; an oversized log chunk goes as a hint", async () => {
    const { notifications, sent } = channel();
    const [a, b] = [new Hub('replica-a'), new Hub('replica-b')];
    const stops = [await a.relayThrough(notifications), await b.relayThrough(notifications)];
    const seenByB: HubEvent[] = [];
    b.subscribe('log:7', (e) => seenByB.push(e));
    for (let seq = 0; seq < 20; seq++) a.publish({ type: 'log', jobId: 7, seq, data: 'x'.repeat(1000) });
    a.publish({ type: 'log', jobId: 7, seq: 20, data: 'y'.repeat(MAX_NOTIFY_PAYLOAD) });
    await nextTurn();
    assert.ok(sent.length >= 3 && sent.length <= 4, `${sent.length} notifications for 20 KB of chunks`);
    assert.deepEqual(
      seenByB.map((e) => (e.type === 'log' ? [e.seq, e.data?.length] : null)),
      [...Array.from({ length: 20 }, (_, seq) => [seq, 1000]), [20, undefined]],
    );
    for (const stop of stops) await stop();
  });

  test('events published while a notification is on its way go out together in the next one', async () => {
    const { notifications, sent } = channel();
    // The database answers a notification only when the test says so.
    const answers: (() => void)[] = [];
    const slow: Notifications = {
      publish: (payload) => new Promise((resolve) => answers.push(() => void notifications.publish(payload).then(resolve))),
      subscribe: notifications.subscribe,
    };
    const [a, b] = [new Hub('replica-a'), new Hub('replica-b')];
    const stops = [await a.relayThrough(slow), await b.relayThrough(notifications)];
    const seenByB: HubEvent[] = [];
    b.subscribe('*', (e) => seenByB.push(e));
    const event = (jobId: number): HubEvent => ({ type: 'job', jobId, pipelineId: 1, status: 'running' });
    a.publish(event(0));
    await nextTurn();
    assert.equal(answers.length, 1, 'the first turn sends at once');
    for (let turn = 1; turn <= 5; turn++) {
      a.publish(event(turn));
      await nextTurn();
    }
    assert.equal(answers.length, 1, 'nothing more leaves while the first is on its way');
    answers.shift()!();
    await nextTurn();
    assert.equal(answers.length, 1, "the five turns' events leave in one notification");
    answers.shift()!();
    await nextTurn();
    assert.equal(sent.length, 2);
    assert.deepEqual(
      seenByB.map((e) => (e.type === 'job' ? e.jobId : null)),
      [0, 1, 2, 3, 4, 5],
    );
    a.publish(event(6));
    await nextTurn();
    assert.equal(answers.length, 1, 'an idle relay sends the next event at once');
    answers.shift()!();
    for (const stop of stops) await stop();
  });

  test('a notification of an earlier version, one event, is still understood', async () => {
    const { notifications } = channel();
    const b = new Hub('replica-b');
    const stop = await b.relayThrough(notifications);
    const seen: HubEvent[] = [];
    b.subscribe('queue', (e) => seen.push(e));
    await notifications.publish(JSON.stringify({ from: 'replica-old', event: { type: 'queue' } }));
    assert.deepEqual(seen, [{ type: 'queue' }]);
    await stop();
  });
});
