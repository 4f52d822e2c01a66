import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { Readable } from 'node:stream';
import type { TestContext } from 'node:test';
import { FsBlobStore, S3BlobStore, parseS3Url, type BlobStore } from '../../src/artifacts/index.js';
import { s3ForFile, s3SkipReason } from '../support/s3.js';

/** A fresh temp dir removed when the test ends. */
export async function tempDir(t: TestContext, prefix = 'tandem-artifacts-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** A blob store under test, with ways to look behind its back. */
export interface OpenedBackend {
  store: BlobStore;
  /** Everything the backing storage holds, as keys relative to the store's root (paths or object keys). */
  keys(): Promise<string[]>;
  /** Replaces a stored blob's bytes without going through the store. */
  corrupt(digest: string, data: string | Buffer): Promise<void>;
  /** Bytes the backing storage holds right now, finished or not (a temp file, uploaded parts). */
  storedBytes(): Promise<number>;
  /** Bytes a streaming put may hold in memory before the storage has them. */
  bufferedAtMost: number;
}

export interface BlobBackend {
  name: string;
  /** The suite's `skip` option: a reason, or false. */
  skip(): string | false;
  open(t: TestContext): Promise<OpenedBackend>;
}

const MiB = 1024 * 1024;

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []))
    .filter((d) => d.isFile())
    .map((d) => relative(dir, join(d.parentPath, d.name)))
    .sort();
}

/**
 * The artifact stores every artifact suite runs against: the filesystem and S3 (s3rver). Call at
 * the top level of a test file: the S3 server is the file's, stopped after its tests.
 */
export function blobBackends(after: (fn: () => Promise<void>) => void): BlobBackend[] {
  const s3 = s3ForFile(after);
  return [
    {
      name: 'filesystem',
      skip: () => false,
      async open(t) {
        const dir = await tempDir(t);
        return {
          store: new FsBlobStore(dir),
          keys: () => filesUnder(dir),
          corrupt: (digest, data) => writeFile(join(dir, 'sha256', digest.slice(0, 2), digest), data),
          async storedBytes() {
            let total = 0;
            for (const f of await filesUnder(dir)) total += (await stat(join(dir, f)).catch(() => ({ size: 0 }))).size;
            return total;
          },
          bufferedAtMost: MiB,
        };
      },
    },
    {
      name: 's3',
      skip: s3SkipReason,
      async open(t) {
        const server = await s3();
        // Small parts, one at a time: the upload holds at most about two parts in memory.
        const store = new S3BlobStore(parseS3Url(server.url()), { partSize: 5 * MiB, queueSize: 1 });
        t.after(() => store.close());
        return {
          store,
          async keys() {
            const keys: string[] = [];
            for await (const o of store.objects.list()) keys.push(o.key);
            return keys.sort();
          },
          corrupt: (digest, data) => store.objects.put(`sha256/${digest.slice(0, 2)}/${digest}`, Buffer.from(data)),
          storedBytes: () => server.storedBytes(),
          bufferedAtMost: 15 * MiB,
        };
      },
    },
  ];
}
