import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback, pipeline } from 'node:stream';
import { DomainError } from '../errors.js';

const DIGEST_RE = /^[0-9a-f]{64}$/;

export class InvalidDigestError extends DomainError {
  constructor(readonly digest: string) {
    super('invalid', `invalid blob digest ${JSON.stringify(digest)}: expected 64 lowercase hex characters (sha256)`);
    this.name = 'InvalidDigestError';
  }
}

export class BlobNotFoundError extends DomainError {
  constructor(readonly digest: string) {
    super('not_found', `blob sha256:${digest} not found`);
    this.name = 'BlobNotFoundError';
  }
}

export class BlobIntegrityError extends DomainError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'BlobIntegrityError';
  }
}

export class BlobTooLargeError extends DomainError {
  constructor(readonly maxBytes: number) {
    super('too_large', `blob exceeds the limit of ${maxBytes} bytes`);
    this.name = 'BlobTooLargeError';
  }
}

export interface PutExpectations {
  /** Refuse the blob unless its sha256 is exactly this. */
  digest?: string;
  /** Refuse the blob unless it has exactly this many bytes. */
  size?: number;
  /** Abort while streaming as soon as more bytes than this arrive. */
  maxBytes?: number;
}

export interface BlobInfo {
  digest: string;
  size: number;
}

/**
 * Content-addressed storage. Backend-neutral on purpose: the filesystem store below and a later S3 store
 * must both satisfy it, so nothing here exposes paths or keys.
 */
export interface BlobStore {
  has(digest: string): Promise<boolean>;
  stat(digest: string): Promise<{ size: number } | null>;
  put(source: Readable, expected?: PutExpectations): Promise<BlobInfo>;
  /** Throws BlobNotFoundError; the stream errors with BlobIntegrityError if the stored bytes are corrupt. */
  get(digest: string): Promise<Readable>;
  /** Deleting a missing blob is not an error (retention may race with another replica). */
  delete(digest: string): Promise<void>;
  list?(): AsyncIterable<string>;
  /** Releases connections (an S3 client's sockets); the store is not used afterwards. */
  close?(): void;
}

/**
 * Checks a blob's bytes as they stream in against the caller's expectations, and gives its digest
 * at the end. Every store's `put` runs its bytes through one, so they refuse the same things.
 */
export class BlobMeter {
  private readonly hash = createHash('sha256');
  private size = 0;

  constructor(private readonly expected: PutExpectations = {}) {
    if (expected.digest !== undefined) assertDigest(expected.digest);
  }

  /** Throws as soon as the bytes so far break a limit. */
  update(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.expected.maxBytes !== undefined && this.size > this.expected.maxBytes) throw new BlobTooLargeError(this.expected.maxBytes);
    if (this.expected.size !== undefined && this.size > this.expected.size) {
      throw new BlobIntegrityError(`blob is larger than the declared ${this.expected.size} bytes`);
    }
    this.hash.update(chunk);
  }

  /** The blob's digest and size once every byte went through; throws when they are not the declared ones. */
  finish(): BlobInfo {
    const digest = this.hash.digest('hex');
    if (this.expected.size !== undefined && this.size !== this.expected.size) {
      throw new BlobIntegrityError(`blob has ${this.size} bytes, declared ${this.expected.size}`);
    }
    if (this.expected.digest !== undefined && digest !== this.expected.digest) {
      throw new BlobIntegrityError(`blob has sha256 ${digest}, declared ${this.expected.digest}`);
    }
    return { digest, size: this.size };
  }
}

export function isValidDigest(digest: unknown): digest is string {
  return typeof digest === 'string' && DIGEST_RE.test(digest);
}

export function assertDigest(digest: string): void {
  if (!isValidDigest(digest)) throw new InvalidDigestError(String(digest));
}

/**
 * A pass-through that hashes what flows by and fails the stream at the end when the content is not
 * `digest` (and `size`, when given). Consumers must treat data as untrusted until the stream ends cleanly.
 */
export function verifyingStream(digest: string, label: string, size?: number): Transform {
  assertDigest(digest);
  const hash = createHash('sha256');
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      seen += chunk.length;
      if (size !== undefined && seen > size) {
        cb(new BlobIntegrityError(`${label}: more than the expected ${size} bytes`));
        return;
      }
      hash.update(chunk);
      cb(null, chunk);
    },
    flush(cb: TransformCallback) {
      if (size !== undefined && seen !== size) {
        cb(new BlobIntegrityError(`${label}: got ${seen} bytes, expected ${size}`));
        return;
      }
      const actual = hash.digest('hex');
      if (actual !== digest) {
        cb(new BlobIntegrityError(`${label}: content has sha256 ${actual}, expected ${digest}`));
        return;
      }
      cb();
    },
  });
}

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}

/** Blobs as files under `dir/sha256/ab/<digest>`; temp files live in `dir/tmp` so renames stay on one filesystem. */
export class FsBlobStore implements BlobStore {
  private readonly blobRoot: string;
  private readonly tmpDir: string;

  constructor(readonly dir: string) {
    this.blobRoot = join(dir, 'sha256');
    this.tmpDir = join(dir, 'tmp');
  }

  private pathOf(digest: string): string {
    assertDigest(digest);
    return join(this.blobRoot, digest.slice(0, 2), digest);
  }

  async has(digest: string): Promise<boolean> {
    return (await this.stat(digest)) !== null;
  }

  async stat(digest: string): Promise<{ size: number } | null> {
    try {
      const st = await stat(this.pathOf(digest));
      return { size: st.size };
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return null;
      throw err;
    }
  }

  async put(source: Readable, expected: PutExpectations = {}): Promise<BlobInfo> {
    const meter = new BlobMeter(expected);
    await mkdir(this.tmpDir, { recursive: true });
    const tmp = join(this.tmpDir, `${Date.now()}-${randomBytes(8).toString('hex')}.part`);
    const fh = await open(tmp, 'wx', 0o644);
    let closed = false;
    try {
      for await (const raw of source as AsyncIterable<Buffer | string>) {
        const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
        meter.update(chunk);
        await fh.write(chunk);
      }
      const { digest, size } = meter.finish();
      await fh.sync();
      await fh.close();
      closed = true;
      const finalPath = this.pathOf(digest);
      if (await this.has(digest)) {
        await unlink(tmp);
      } else {
        const shard = join(this.blobRoot, digest.slice(0, 2));
        await mkdir(shard, { recursive: true });
        await rename(tmp, finalPath);
        await fsyncDir(shard);
      }
      return { digest, size };
    } catch (err) {
      if (!closed) await fh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      source.destroy();
      throw err;
    }
  }

  async get(digest: string): Promise<Readable> {
    const path = this.pathOf(digest);
    let fh;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new BlobNotFoundError(digest);
      throw err;
    }
    const verifier = verifyingStream(digest, `stored blob sha256:${digest} is corrupt`);
    // Larger reads than the 64 KiB default: half the per-chunk cost when backups and restores copy gigabytes.
    return pipeline(fh.createReadStream({ highWaterMark: 256 * 1024 }), verifier, () => {
      // Errors already reach the consumer through `verifier`; the callback only keeps pipeline from throwing.
    });
  }

  async delete(digest: string): Promise<void> {
    try {
      await unlink(this.pathOf(digest));
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
  }

  async *list(): AsyncIterable<string> {
    let shards: string[];
    try {
      shards = await readdir(this.blobRoot);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    for (const shard of shards.sort()) {
      const names = await readdir(join(this.blobRoot, shard)).catch(() => [] as string[]);
      for (const name of names.sort()) {
        if (isValidDigest(name) && name.startsWith(shard)) yield name;
      }
    }
  }
}

/** Makes the rename itself durable: without it a crash can lose the directory entry of a fsynced file. */
async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
