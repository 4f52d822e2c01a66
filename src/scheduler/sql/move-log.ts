// Moves a finished job's log out of the database: its job_logs rows become one gzipped blob in the
// artifact store (src/artifacts/log-blob.ts), its digest goes on the job's row, the rows are
// deleted. A finished job then costs the database the same bytes whatever it printed.
//
// It runs after the job's end committed, never inside that transaction: writing a blob of up to
// maxJobLogBytes must not hold SQLite's write lock. Three steps, each safe to run again, so any
// replica may move any log at any time and a crash between two steps loses nothing:
//   1. write the blob (no transaction; the same log gives the same bytes, so the same digest),
//      from exactly the rows counted before, else none: rows deleted or added meanwhile fail it;
//   2. record its digest, in a short transaction, only if the rows are still the ones written
//      (count and last sequence number) and no other replica recorded one first;
//   3. delete the rows in batches, newest first (see read-log.ts for why readers need that order).
// Readers take a set digest as the truth, so between steps 2 and 3 they already read the blob.
import type { Kysely } from 'kysely';
import { encodeLogBlob, type BlobInfo, type BlobStore } from '../../artifacts/index.js';
import { FINISHED_STATUSES } from '../../api/index.js';
import { forUpdate, type Database, type JobStatus, type Store } from '../../store/index.js';
import { SchedulerError } from '../errors.js';
import { logPagesIn, type LogChunk } from './append-log.js';

/** moved: the log is in its blob (now or before); running: not finished yet; empty: no log to move. */
export type MoveLogResult = 'moved' | 'running' | 'empty';

/** Rows deleted per statement: a log of 100k chunks never holds the write lock for one long delete. */
const DELETE_BATCH = 1000;
/** Chunks arriving while the blob was written (a completing agent's last flush) make it write again. */
const ATTEMPTS = 3;

const FINISHED = [...FINISHED_STATUSES] as JobStatus[];

/** How many chunks a job's log has in the database, and the last one's sequence number. */
interface Extent {
  count: number;
  lastSeq: number | null;
}

const sameExtent = (a: Extent, b: Extent): boolean => a.count === b.count && a.lastSeq === b.lastSeq;

async function extent(db: Kysely<Database>, jobId: number): Promise<Extent> {
  const row = await db
    .selectFrom('job_logs')
    .select((eb) => [eb.fn.countAll().as('n'), eb.fn.max('seq').as('last')])
    .where('job_id', '=', jobId)
    .executeTakeFirst();
  return { count: Number(row?.n ?? 0), lastSeq: row?.last === null || row?.last === undefined ? null : Number(row.last) };
}

/** Step 3: the rows go newest first, a batch per statement. */
async function deleteLogRows(db: Kysely<Database>, jobId: number): Promise<void> {
  for (;;) {
    const edge = await db
      .selectFrom('job_logs')
      .select('seq')
      .where('job_id', '=', jobId)
      .orderBy('seq', 'desc')
      .limit(1)
      .offset(DELETE_BATCH - 1)
      .executeTakeFirst();
    let q = db.deleteFrom('job_logs').where('job_id', '=', jobId);
    if (edge) q = q.where('seq', '>=', edge.seq);
    await q.execute();
    if (!edge) return;
  }
}

class RowsChanged extends Error {}

/** The pages as read, failing at the end unless they were exactly the rows counted before. */
async function* exactly(pages: AsyncIterable<LogChunk[]>, written: Extent): AsyncGenerator<LogChunk[]> {
  const read: Extent = { count: 0, lastSeq: null };
  for await (const page of pages) {
    read.count += page.length;
    if (page.length > 0) read.lastSeq = page[page.length - 1].seq;
    yield page;
  }
  if (!sameExtent(read, written)) throw new RowsChanged('the log rows changed while they were read');
}

/**
 * Step 1: the blob of the rows counted, or null when they changed while read (another replica
 * deleting them after its own move, or a late chunk): such a blob would differ, and nothing would
 * name it. A failed read stores nothing (the store writes a temporary file first).
 */
async function writeLogBlob(store: Store, blobs: BlobStore, jobId: number, written: Extent): Promise<BlobInfo | null> {
  try {
    return await blobs.put(encodeLogBlob(exactly(logPagesIn(store.db, jobId), written)));
  } catch (err) {
    if (err instanceof RowsChanged) return null;
    throw err;
  }
}

export async function moveFinishedLog(store: Store, blobs: BlobStore, jobId: number): Promise<MoveLogResult> {
  for (let attempt = 1; ; attempt++) {
    const job = await store.db.selectFrom('jobs').select(['status', 'log_blob']).where('id', '=', jobId).executeTakeFirst();
    if (!job) throw new SchedulerError('not_found', `job ${jobId} not found`);
    if (!FINISHED_STATUSES.has(job.status)) return 'running';
    // Moved already (perhaps by a replica that died before step 3): only the rows may be left.
    if (job.log_blob !== null) break;
    const written = await extent(store.db, jobId);
    if (written.count === 0) {
      // No rows: never any, or another replica moved the log between the two reads above.
      const again = await store.db.selectFrom('jobs').select('log_blob').where('id', '=', jobId).executeTakeFirstOrThrow();
      return again.log_blob === null ? 'empty' : 'moved';
    }
    const blob = await writeLogBlob(store, blobs, jobId, written);
    const recorded =
      blob !== null &&
      (await store.transaction(async (trx) => {
        const row = await forUpdate(trx, trx.selectFrom('jobs').select('log_blob').where('id', '=', jobId)).executeTakeFirstOrThrow();
        if (row.log_blob !== null) return true;
        if (!sameExtent(await extent(trx, jobId), written)) return false;
        await trx.updateTable('jobs').set({ log_blob: blob.digest, log_blob_size: blob.size }).where('id', '=', jobId).execute();
        return true;
      }));
    if (recorded) break;
    if (attempt === ATTEMPTS) throw new SchedulerError('conflict', `job ${jobId}: its log kept changing while it was moved`);
  }
  await deleteLogRows(store.db, jobId);
  return 'moved';
}

/**
 * Finished jobs that still have log rows, lowest id first. The rows' primary key (job_id, seq) is
 * walked one job at a time (the smallest job id after the last), so the cost follows the number of
 * jobs with rows (running ones, and finished ones not yet moved), never the rows or the jobs table.
 */
export async function jobsWithLogsToMove(store: Store, limit = 100): Promise<number[]> {
  const found: number[] = [];
  let after = 0;
  for (;;) {
    const ids: number[] = [];
    while (ids.length < limit) {
      const next = await store.db
        .selectFrom('job_logs')
        .select((eb) => eb.fn.min('job_id').as('id'))
        .where('job_id', '>', after)
        .executeTakeFirst();
      if (next?.id === null || next?.id === undefined) break;
      after = Number(next.id);
      ids.push(after);
    }
    if (ids.length === 0) return found;
    const finished = await store.db
      .selectFrom('jobs')
      .select('id')
      .where('id', 'in', ids)
      .where('status', 'in', FINISHED)
      .orderBy('id')
      .execute();
    found.push(...finished.map((j) => Number(j.id)));
    if (found.length >= limit || ids.length < limit) return found.slice(0, limit);
  }
}
