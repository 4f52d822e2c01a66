import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { LogChunker, type LogChunk } from '../../src/executor/index.js';

describe('LogChunker', () => {
  it('numbers chunks from 0 and sends pending text after the interval', async () => {
    const chunks: LogChunk[] = [];
    const chunker = new LogChunker({ onChunk: (chunk) => chunks.push(chunk), intervalMs: 30 });
    chunker.push('a');
    chunker.push('b');
    assert.deepEqual(chunks, [], 'nothing is sent before the interval');
    await sleep(80);
    assert.deepEqual(chunks, [{ seq: 0, data: 'ab' }]);
    chunker.push('c');
    await sleep(80);
    chunker.push('d');
    chunker.close();
    assert.deepEqual(chunks, [
      { seq: 0, data: 'ab' },
      { seq: 1, data: 'c' },
      { seq: 2, data: 'd' },
    ]);
    assert.equal(chunker.nextSeq, 3);
    assert.throws(() => chunker.push('late'), /after close/);
  });

  it('sends at once when the size limit is reached, splitting without breaking characters', () => {
    const chunks: LogChunk[] = [];
    const chunker = new LogChunker({ onChunk: (chunk) => chunks.push(chunk), intervalMs: 60_000, maxBytes: 8 });
    chunker.push('1234567');
    assert.equal(chunks.length, 0);
    chunker.push('8');
    assert.deepEqual(chunks, [{ seq: 0, data: '12345678' }]);
    // 'é' is 2 bytes and '€' 3: no chunk may exceed 8 bytes or cut one in half.
    const text = 'éé€€€x'.repeat(3);
    chunker.push(text);
    chunker.close();
    const rest = chunks.slice(1);
    assert.equal(rest.map((chunk) => chunk.data).join(''), text);
    for (const chunk of rest) {
      assert.ok(Buffer.byteLength(chunk.data) <= 8, JSON.stringify(chunk));
      assert.ok(!chunk.data.includes('\ufffd'), JSON.stringify(chunk));
    }
    assert.deepEqual(
      chunks.map((chunk) => chunk.seq),
      chunks.map((_, index) => index),
    );
  });

  it('close sends nothing when nothing is pending', () => {
    const chunks: LogChunk[] = [];
    const chunker = new LogChunker({ onChunk: (chunk) => chunks.push(chunk) });
    chunker.push('');
    chunker.close();
    assert.deepEqual(chunks, []);
  });
});
