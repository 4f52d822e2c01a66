// Blobs in S3 under `<prefix>sha256/ab/<digest>`, the filesystem store's layout. A blob is uploaded
// (multipart when large) to a temporary key while it is hashed, and copied to its digest's key only
// once the digest and size are known good, so a digest's key never holds other bytes, even briefly.
import { Transform, type TransformCallback, pipeline, type Readable } from 'node:stream';
import { BlobMeter, BlobNotFoundError, assertDigest, isValidDigest, verifyingStream, type BlobInfo, type BlobStore, type PutExpectations } from './blob-store.js';
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
    });
    const tmp = this.objects.tempKey();
    // A broken source or a broken limit fails `metered`, which fails the upload reading from it.
    pipeline(source, metered, () => undefined);
    try {
      await this.objects.put(tmp, metered);
      const info = meter.finish();
      if (!(await this.has(info.digest))) await this.objects.copy(tmp, this.keyOf(info.digest));
      return info;
    } catch (err) {
      source.destroy();
      throw err;
    } finally {
      await this.objects.delete(tmp).catch(() => undefined);
    }
  }

  async get(digest: string): Promise<Readable> {
    const found = await this.objects.get(this.keyOf(digest));
    if (!found) throw new BlobNotFoundError(digest);
    const verifier = verifyingStream(digest, `stored blob sha256:${digest} (${this.objects.describe(this.keyOf(digest))}) is corrupt`, found.size);
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
