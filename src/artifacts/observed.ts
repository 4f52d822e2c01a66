// A blob store that reports its own failures (for tandem_artifact_store_errors_total and the
// TandemArtifactStoreErrors alert) and nobody else's: a missing blob, a bad digest, an upload that
// is too large, does not match what it declared or breaks off is the request's problem, not the
// store's. Corrupt stored bytes found while reading are the store's.
import type { Readable } from 'node:stream';
import { BlobIntegrityError, BlobNotFoundError, BlobTooLargeError, InvalidDigestError, type BlobInfo, type BlobStore, type PutExpectations } from './blob-store.js';

export type BlobOperation = 'has' | 'stat' | 'put' | 'get' | 'delete' | 'list';

function requestFault(err: unknown): boolean {
  return err instanceof BlobNotFoundError || err instanceof InvalidDigestError || err instanceof BlobTooLargeError;
}

export function observedBlobStore(inner: BlobStore, onError: (operation: BlobOperation, err: unknown) => void): BlobStore {
  async function observe<T>(operation: BlobOperation, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (!requestFault(err)) onError(operation, err);
      throw err;
    }
  }
  const store: BlobStore = {
    has: (digest) => observe('has', () => inner.has(digest)),
    stat: (digest) => observe('stat', () => inner.stat(digest)),
    async put(source: Readable, expected?: PutExpectations): Promise<BlobInfo> {
      let sourceFailed = false;
      source.once('error', () => (sourceFailed = true));
      try {
        return await inner.put(source, expected);
      } catch (err) {
        // An upload that does not match its declaration, or that the client broke off, is the client's.
        if (!requestFault(err) && !(err instanceof BlobIntegrityError) && !sourceFailed) onError('put', err);
        throw err;
      }
    },
    async get(digest: string): Promise<Readable> {
      const stream = await observe('get', () => inner.get(digest));
      stream.once('error', (err) => onError('get', err));
      return stream;
    },
    delete: (digest) => observe('delete', () => inner.delete(digest)),
  };
  const list = inner.list?.bind(inner);
  if (list) {
    store.list = async function* () {
      try {
        yield* list();
      } catch (err) {
        onError('list', err);
        throw err;
      }
    };
  }
  return store;
}
