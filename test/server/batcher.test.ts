// Batches per key: the first item alone and at once, the items that came meanwhile together next,
// a refusal only for its item, a thrown batch for all of its items; keys apart run side by side.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Batcher } from '../../src/server/batcher.js';

test('items of one key wait for the batch under way and go together; other keys do not wait', async () => {
  const batches: string[][] = [];
  const batcher = new Batcher<string, string, string>(async (key, items) => {
    batches.push(items);
    await sleep(20);
    if (items.includes('boom')) throw new Error('the database went away');
    return items.map((item) => (item.startsWith('bad') ? { ok: false, error: new Error(item) } : { ok: true, result: `${key}:${item}` }));
  }, 3);
  const first = batcher.submit('p1', 'a');
  const rest = ['b', 'bad-c', 'd', 'e'].map((item) => batcher.submit('p1', item));
  const other = batcher.submit('p2', 'x');
  assert.equal(batcher.size, 2);
  const settled = await Promise.allSettled([first, ...rest, other]);
  assert.deepEqual(batches, [['a'], ['x'], ['b', 'bad-c', 'd'], ['e']], 'at most 3 a batch, p2 not behind p1');
  assert.deepEqual(
    settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message)),
    ['p1:a', 'p1:b', 'bad-c', 'p1:d', 'p1:e', 'p2:x'],
  );
  const failed = await Promise.allSettled([batcher.submit('p3', 'ok'), batcher.submit('p3', 'boom'), batcher.submit('p3', 'also')]);
  assert.deepEqual(
    failed.map((s) => s.status),
    ['fulfilled', 'rejected', 'rejected'],
    'a thrown batch fails its items only',
  );
  assert.equal(batcher.size, 0, 'idle keys are dropped');
});
