// The artifact store named by configuration: a directory or `s3://bucket/prefix`, optionally
// replicated to a second store for disaster recovery.
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import {
  BlobNotFoundError,
  FsBlobStore,
  type BlobInfo,
  type BlobStore,
  type PutExpectations,
  InvalidDigestError,
  BlobTooLargeError,
} from './blob-store.js';
import { isS3Url, parseS3Url } from './s3.js';
import { S3BlobStore } from './s3-blob-store.js';

/** `url` is a directory or `s3://…`; `what` names the setting in errors. */
export function openBlobStore(url: string, what = 'artifactsUrl'): BlobStore {
  return isS3Url(url) ? new S3BlobStore(parseS3Url(url, what)) : new FsBlobStore(resolve(url));
}

export type BlobOperation = 'has' | 'stat' | 'put' | 'get' | 'read' | 'delete' | 'list';

/**
 * Reports failures of `store` (a missing blob is an answer, not a failure; `read` is a stream that
 * failed after `get`, such as corrupt content), for the artifact store's error metric.
 */
export function observeBlobStore(store: BlobStore, onError: (operation: BlobOperation, err: unknown) => void): BlobStore {
  const watch = async <T>(operation: BlobOperation, op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (err) {
      // A missing blob, a bad digest or an upload over the limit is the request's fault, not the store's.
      if (!(err instanceof BlobNotFoundError || err instanceof InvalidDigestError || err instanceof BlobTooLargeError))
        onError(operation, err);
      throw err;
    }
  };
  return {
    has: (digest) => watch('has', () => store.has(digest)),
    stat: (digest) => watch('stat', () => store.stat(digest)),
    put: (source, expected) => watch('put', () => store.put(source, expected)),
    get: (digest) =>
      watch('get', async () => {
        const stream = await store.get(digest);
        stream.once('error', (err) => onError('read', err));
        return stream;
      }),
    delete: (digest) => watch('delete', () => store.delete(digest)),
    list: store.list ? () => store.list!() : undefined,
    close: () => store.close?.(),
  };
}

/**
 * Every blob written to both stores before `put` returns (a blob is acknowledged only once it exists
 * twice, so losing the primary store loses no artifact). Reads come from the primary, and from the
 * replica when the primary cannot give the blob. While the replica is down, uploads fail: the
 * artifact-store-errors alert says so (docs/disaster-recovery.md).
 */
export class ReplicatedBlobStore implements BlobStore {
  constructor(
    readonly primary: BlobStore,
    readonly replica: BlobStore,
  ) {}

  has(digest: string): Promise<boolean> {
    return this.primary.has(digest);
  }

  stat(digest: string): Promise<{ size: number } | null> {
    return this.primary.stat(digest);
  }

  async put(source: Readable, expected?: PutExpectations): Promise<BlobInfo> {
    const info = await this.primary.put(source, expected);
    await this.replicate(info);
    return info;
  }

  /** Copies a blob the primary has to the replica, unless it is there already. */
  async replicate(info: BlobInfo): Promise<void> {
    if (await this.replica.has(info.digest)) return;
    await this.replica.put(await this.primary.get(info.digest), { digest: info.digest, size: info.size });
  }

  async get(digest: string): Promise<Readable> {
    try {
      return await this.primary.get(digest);
    } catch (err) {
      try {
        return await this.replica.get(digest);
      } catch {
        throw err;
      }
    }
  }

  async delete(digest: string): Promise<void> {
    await Promise.all([this.primary.delete(digest), this.replica.delete(digest)]);
  }

  list(): AsyncIterable<string> {
    if (!this.primary.list) throw new Error('the primary artifact store cannot list its blobs');
    return this.primary.list();
  }

  close(): void {
    this.primary.close?.();
    this.replica.close?.();
  }
}

/**
 * The server's artifact store: `url`, replicated to `replicaUrl` when given; failures of either
 * are reported with the store's role ('primary' or 'replica').
 */
export function openArtifactStore(
  url: string,
  replicaUrl: string | undefined,
  onError: (store: 'primary' | 'replica', operation: BlobOperation, err: unknown) => void,
): BlobStore {
  const primary = observeBlobStore(openBlobStore(url, 'artifactsUrl'), (op, err) => onError('primary', op, err));
  if (replicaUrl === undefined) return primary;
  const replica = observeBlobStore(openBlobStore(replicaUrl, 'artifactsReplicaUrl'), (op, err) => onError('replica', op, err));
  return new ReplicatedBlobStore(primary, replica);
}
