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
//   3. delete the rows: in one statement, or in batches newest first when there are many (see
//      read-log.ts for why readers need that order).
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

/** A job's status, its blob's digest, and the extent of its rows. */
interface LogState {
  status: JobStatus;
  log_blob: string | null;
  written: Extent;
}

/** LogState's query: one statement, so the three come from one snapshot and one round trip. */
function logState(db: Kysely<Database>, jobId: number) {
  return db
    .selectFrom('jobs')
    .select((eb) => [
      'jobs.status',
      'jobs.log_blob',
      eb
        .selectFrom('job_logs')
        .select((l) => l.fn.countAll<number | string>().as('n'))
        .where('job_logs.job_id', '=', jobId)
        .as('n'),
      eb
        .selectFrom('job_logs')
        .select((l) => l.fn.max('job_logs.seq').as('last'))
        .where('job_logs.job_id', '=', jobId)
        .as('last'),
    ])
    .where('jobs.id', '=', jobId);
}

function readLogState(row: {
  status: JobStatus;
  log_blob: string | null;
  n: number | string | null;
  last: number | string | null;
}): LogState {
  return {
    status: row.status,
    log_blob: row.log_blob,
    written: { count: Number(row.n ?? 0), lastSeq: row.last === null ? null : Number(row.last) },
  };
}

/** Step 3: the rows go newest first, a batch per statement (`count` of them: one when they fit). */
async function deleteLogRows(db: Kysely<Database>, jobId: number, count: number): Promise<void> {
  if (count <= DELETE_BATCH) {
    await db.deleteFrom('job_logs').where('job_id', '=', jobId).execute();
    return;
  }
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
    const found = await logState(store.db, jobId).executeTakeFirst();
    if (!found) throw new SchedulerError('not_found', `job ${jobId} not found`);
    const { status, log_blob, written } = readLogState(found);
    if (!FINISHED_STATUSES.has(status)) return 'running';
    // Moved already (perhaps by a replica that died before step 3): only the rows may be left.
    if (log_blob !== null) {
      if (written.count > 0) await deleteLogRows(store.db, jobId, written.count);
      return 'moved';
    }
    if (written.count === 0) return 'empty';
    const blob = await writeLogBlob(store, blobs, jobId, written);
    const recorded =
      blob !== null &&
      (await store.transaction(async (trx) => {
        await forUpdate(trx, trx.selectFrom('jobs').select('id').where('id', '=', jobId)).executeTakeFirstOrThrow();
        // Read after the lock, by a statement of its own: under READ COMMITTED only a new statement
        // sees what the lock's last holder committed (a late chunk's append).
        const now = readLogState(await logState(trx, jobId).executeTakeFirstOrThrow());
        if (now.log_blob !== null) return true;
        if (!sameExtent(now.written, written)) return false;
        await trx.updateTable('jobs').set({ log_blob: blob.digest, log_blob_size: blob.size }).where('id', '=', jobId).execute();
        return true;
      }));
    if (recorded) {
      await deleteLogRows(store.db, jobId, written.count);
      return 'moved';
    }
    if (attempt === ATTEMPTS) throw new SchedulerError('conflict', `job ${jobId}: its log kept changing while it was moved`);
  }
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
