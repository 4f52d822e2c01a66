// A finished job's log as one blob: its chunks as JSON lines (`{"seq":N,"data":"..."}`), gzipped.
// The chunks keep their sequence numbers, so a live tail that resumes after chunk N (an SSE
// Last-Event-ID) goes on from the blob exactly where it left the database's rows. Gzip with fixed
// settings gives the same bytes for the same log, so moving a log twice (a crash between the blob
// write and the database's note of it) stores one blob.
import { createInterface } from 'node:readline';
import { pipeline, Readable } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';

export interface LogBlobChunk {
  seq: number;
  data: string;
}

/** Read in pages like the database's rows, so callers handle both the same way. */
const PAGE = 100;

/** The blob's bytes for a log given as pages of chunks in sequence order. */
export function encodeLogBlob(pages: AsyncIterable<LogBlobChunk[]>): Readable {
  async function* lines(): AsyncGenerator<string> {
    for await (const page of pages) {
      if (page.length > 0) yield page.map((c) => JSON.stringify({ seq: c.seq, data: c.data }) + '\n').join('');
    }
  }
  // pipeline(), not pipe(): a failed read must fail the blob's write, not leave it waiting, and it
  // may fail before the store starts reading (pipe() would leave its error to nobody, and end the
  // process). The store's read of the returned stream then fails with it.
  return pipeline(Readable.from(lines()), createGzip({ level: 6 }), () => undefined);
}

/** The chunks of a log blob after `afterSeq`, in pages, streamed: a log of any size is never held whole. */
export async function* decodeLogBlob(blob: Readable, afterSeq = -1): AsyncGenerator<LogBlobChunk[]> {
  const gunzip = createGunzip();
  blob.on('error', (err) => gunzip.destroy(err));
  const lines = createInterface({ input: blob.pipe(gunzip), crlfDelay: Infinity });
  let page: LogBlobChunk[] = [];
  try {
    for await (const line of lines) {
      if (line === '') continue;
      const chunk = JSON.parse(line) as LogBlobChunk;
      if (chunk.seq <= afterSeq) continue;
      page.push(chunk);
      if (page.length === PAGE) {
        yield page;
        page = [];
      }
    }
    if (page.length > 0) yield page;
  } finally {
    lines.close();
    blob.destroy();
  }
}
