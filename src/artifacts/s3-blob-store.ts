// Blobs in S3 under `<prefix>sha256/ab/<digest>`, the filesystem store's layout. A digest's key
// never holds other bytes, even briefly: a blob whose digest is declared (uploads from agents,
// backups, replication) streams (multipart when large) straight to its key, and the stream fails
// at its end, before the upload completes, unless the bytes hash to that digest; a blob of unknown
// digest goes to a temporary key while it is hashed, then is copied to its digest's key.
import { Transform, type TransformCallback, pipeline, type Readable } from 'node:stream';
import {
  BlobMeter,
  BlobNotFoundError,
  assertDigest,
  isValidDigest,
  verifyingStream,
  type BlobInfo,
  type BlobStore,
  type PutExpectations,
} from './blob-store.js';
import { S3Objects, type S3Location } from './s3.js';

const BLOBS = 'sha256/';

export class S3BlobStore implements BlobStore {
  readonly objects: S3Objects;

  constructor(location: S3Location | S3Objects, options: ConstructorParameters<typeof S3Objects>[1] = {}) {
    this.objects = location instanceof S3Objects ? location : new S3Objects(location, options);
  }

  private keyOf(digest: string): string {
    assertDigest(digest);
    return `${BLOBS}${digest.slice(0, 2)}/${digest}`;
  }

  async has(digest: string): Promise<boolean> {
    return (await this.stat(digest)) !== null;
  }

  async stat(digest: string): Promise<{ size: number } | null> {
    return this.objects.head(this.keyOf(digest));
  }

  async put(source: Readable, expected: PutExpectations = {}): Promise<BlobInfo> {
    const meter = new BlobMeter(expected);
    let info: BlobInfo | null = null;
    const metered = new Transform({
      transform(chunk: Buffer | string, _enc: BufferEncoding, cb: TransformCallback) {
        const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        try {
          meter.update(buf);
        } catch (err) {
          cb(err as Error);
          return;
        }
        cb(null, buf);
      },
      // Failing here fails the upload before S3 completes it: wrong bytes never land under a digest.
      flush(cb: TransformCallback) {
        try {
          info = meter.finish();
          cb();
        } catch (err) {
          cb(err as Error);
        }
      },
    });
    const key = expected.digest === undefined ? this.objects.tempKey() : this.keyOf(expected.digest);
    // A broken source or a broken limit fails `metered`, which fails the upload reading from it.
    pipeline(source, metered, () => undefined);
    try {
      await this.objects.put(key, metered);
      const stored = info as BlobInfo | null;
      if (!stored) throw new Error(`upload to ${this.objects.describe(key)} ended before its content did`);
      if (expected.digest === undefined && !(await this.has(stored.digest))) await this.objects.copy(key, this.keyOf(stored.digest));
      return stored;
    } catch (err) {
      source.destroy();
      throw err;
    } finally {
      if (expected.digest === undefined) await this.objects.delete(key).catch(() => undefined);
    }
  }

  async get(digest: string): Promise<Readable> {
    const found = await this.objects.get(this.keyOf(digest));
    if (!found) throw new BlobNotFoundError(digest);
    const verifier = verifyingStream(
      digest,
      `stored blob sha256:${digest} (${this.objects.describe(this.keyOf(digest))}) is corrupt`,
      found.size,
    );
    return pipeline(found.body, verifier, () => {
      // Errors reach the consumer through `verifier`; the callback only keeps pipeline from throwing.
    });
  }

  async delete(digest: string): Promise<void> {
    await this.objects.delete(this.keyOf(digest));
  }

  async *list(): AsyncIterable<string> {
    for await (const { key } of this.objects.list(BLOBS)) {
      const [shard, name] = key.slice(BLOBS.length).split('/');
      if (name !== undefined && isValidDigest(name) && name.startsWith(shard)) yield name;
    }
  }

  close(): void {
    this.objects.close();
  }
}
