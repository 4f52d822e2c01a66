// One task at a time per key, in arrival order, a failure not stopping the next; keys apart run together.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KeyedQueue } from '../../src/server/keyed-queue.js';

test('tasks of one key run one at a time in order; other keys do not wait; idle keys are dropped', async () => {
  const queue = new KeyedQueue<number>();
  const events: string[] = [];
  const task =
    (name: string, ms: number, fail = false) =>
    async () => {
      events.push(`${name} start`);
      await sleep(ms);
      events.push(`${name} end`);
      if (fail) throw new Error(name);
      return name;
    };
  const results = Promise.allSettled([queue.run(1, task('a1', 30, true)), queue.run(1, task('a2', 10)), queue.run(2, task('b1', 5))]);
  assert.equal(queue.size, 2);
  const [a1, a2, b1] = await results;
  assert.equal(a1.status, 'rejected');
  assert.deepEqual(
    [a2, b1].map((r) => (r.status === 'fulfilled' ? r.value : r.reason)),
    ['a2', 'b1'],
  );
  assert.deepEqual(events, ['a1 start', 'b1 start', 'b1 end', 'a1 end', 'a2 start', 'a2 end']);
  await sleep(0);
  assert.equal(queue.size, 0);
});
