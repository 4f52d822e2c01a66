// Reads a job's log wherever it is: its job_logs rows while the job runs (and until its log moves),
// its blob once jobs.log_blob is set (src/scheduler/sql/move-log.ts). A set digest is the truth.
// A read may overlap a move: the move sets the digest before it deletes rows, and deletes the
// newest rows first, so rows read in sequence order are always a gapless start of the log; after
// the last row, the digest is looked at again and, if it was set meanwhile, the rest comes from
// the blob after the last chunk read. Nothing is read twice, nothing is skipped.
import { decodeLogBlob, type BlobStore } from '../../artifacts/index.js';
import type { Kysely } from 'kysely';
import type { Database, Store } from '../../store/index.js';
import { logPagesIn, type LogChunk } from './append-log.js';

export async function logBlobOf(db: Kysely<Database>, jobId: number): Promise<string | null> {
  const row = await db.selectFrom('jobs').select('log_blob').where('id', '=', jobId).executeTakeFirst();
  return row?.log_blob ?? null;
}

/**
 * The job's log chunks after `afterSeq` (all of them by default) in order, a page at a time: a log
 * of any size is read without holding it all.
 */
export async function* readLogPages(
  store: Store,
  blobs: BlobStore,
  jobId: number,
  options: { afterSeq?: number; pageSize?: number } = {},
): AsyncGenerator<LogChunk[]> {
  let afterSeq = options.afterSeq ?? -1;
  let digest = await logBlobOf(store.db, jobId);
  if (digest === null) {
    for await (const page of logPagesIn(store.db, jobId, options.pageSize, afterSeq)) {
      yield page;
      afterSeq = page[page.length - 1].seq;
    }
    digest = await logBlobOf(store.db, jobId);
    if (digest === null) return;
  }
  yield* decodeLogBlob(await blobs.get(digest), afterSeq);
}
