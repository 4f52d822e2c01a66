// A job's log as a gzipped blob of JSON lines: the same log gives the same bytes, a reader resumes
// after a sequence number, and a read of the rows that fails before anyone reads the blob fails that
// reader (the store's write), never the process.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { decodeLogBlob, encodeLogBlob, type LogBlobChunk } from '../../src/artifacts/index.js';

const chunks: LogBlobChunk[] = Array.from({ length: 250 }, (_, seq) => ({ seq, data: `line ${seq} "quoted" \u00e9\n` }));

async function* pagesOf(list: LogBlobChunk[], size = 100): AsyncGenerator<LogBlobChunk[]> {
  for (let i = 0; i < list.length; i += size) yield list.slice(i, i + size);
}

async function bytesOf(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

async function decoded(blob: Buffer, afterSeq?: number): Promise<LogBlobChunk[]> {
  const out: LogBlobChunk[] = [];
  for await (const page of decodeLogBlob(Readable.from([blob]), afterSeq)) out.push(...page);
  return out;
}

test('a log gives the same bytes however it is paged, and reads back whole or after a sequence number', async () => {
  const blob = await bytesOf(encodeLogBlob(pagesOf(chunks)));
  assert.deepEqual(await bytesOf(encodeLogBlob(pagesOf(chunks, 7))), blob);
  assert.deepEqual(await decoded(blob), chunks);
  assert.deepEqual(await decoded(blob, 199), chunks.slice(200));
});

test('a read of the rows that fails before the blob is read fails the blob’s reader, not the process', async () => {
  async function* changedMeanwhile(): AsyncGenerator<LogBlobChunk[]> {
    yield chunks.slice(0, 10);
    throw new Error('the log rows changed while they were read');
  }
  const blob = encodeLogBlob(changedMeanwhile());
  // As a blob store that first makes its temporary file: the read has failed by the time it starts.
  await new Promise((resolve) => setTimeout(resolve, 50));
  await assert.rejects(bytesOf(blob), { message: 'the log rows changed while they were read' });
});
