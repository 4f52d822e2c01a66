// Log chunks are numbered by the agent; (job_id, seq) is the primary key, so a chunk re-sent after
// a timeout is ignored instead of duplicated.
import type { Kysely } from 'kysely';
import type { Database, Store } from '../../store/index.js';
import { SchedulerError } from '../errors.js';
import { claimRefused, completedBy, holds, loadJob, type Claim } from './load-job.js';

export interface LogChunk {
  seq: number;
  data: string;
}

export interface AppendLogInput extends Claim {
  chunks: LogChunk[];
  /** UTF-8 bytes the job's log may hold; later chunks are dropped, the first of them replaced by a notice. */
  maxLogBytes?: number;
  now: number;
}

export interface AppendLogResult {
  inserted: number;
  /** The chunks stored now, in order (a re-sent chunk is not among them). */
  accepted: LogChunk[];
  /** The log is full: nothing more will be stored, so the agent may stop sending. */
  truncated: boolean;
}

export function truncationNotice(maxLogBytes: number): string {
  return `\n[tandem: job log truncated: it reached the server's limit of ${maxLogBytes} bytes (maxJobLogBytes); the job goes on, its further output is not kept]\n`;
}

/** The longest start of `text` of at most `maxBytes` UTF-8 bytes, never cutting a character apart. */
function utf8Prefix(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text);
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  // A continuation byte (10xxxxxx) at the cut belongs to a character that started before it.
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}

export async function appendLogChunks(store: Store, input: AppendLogInput): Promise<AppendLogResult> {
  input.chunks.forEach((c, i) => {
    if (!Number.isSafeInteger(c.seq) || c.seq < 0)
      throw new SchedulerError('invalid', `log chunks[${i}].seq: expected an integer >= 0, got ${c.seq}`);
    if (typeof c.data !== 'string') throw new SchedulerError('invalid', `log chunks[${i}].data: expected a string`);
  });
  return store.transaction(async (trx) => {
    // Locked: appends to one job run one at a time, so the byte count below stays exact.
    const job = await loadJob(trx, input.jobId);
    // The agent that completed the job may still flush or re-send its last chunks.
    if (!holds(job, input) && !completedBy(job, input)) throw claimRefused(job);
    if (job.log_truncated === 1 || input.chunks.length === 0) return { inserted: 0, accepted: [], truncated: job.log_truncated === 1 };
    // The log moved to its blob (src/scheduler/sql/move-log.ts): the completing agent's late re-send
    // of chunks it had delivered before completing is stored there already.
    if (job.log_blob !== null) return { inserted: 0, accepted: [], truncated: false };
    // A chunk re-sent after a lost response is stored already: it is neither stored nor counted twice.
    const seqs = [...new Set(input.chunks.map((c) => c.seq))];
    const stored = await trx.selectFrom('job_logs').select('seq').where('job_id', '=', job.id).where('seq', 'in', seqs).execute();
    const seen = new Set(stored.map((r) => Number(r.seq)));
    let bytes = Number(job.log_bytes);
    let truncated = false;
    const accepted: LogChunk[] = [];
    for (const c of [...input.chunks].sort((a, b) => a.seq - b.seq)) {
      if (seen.has(c.seq)) continue;
      seen.add(c.seq);
      const size = Buffer.byteLength(c.data);
      if (input.maxLogBytes !== undefined && bytes + size > input.maxLogBytes) {
        // The chunk that crosses the cap keeps what fits, then the notice (which is not counted).
        accepted.push({ seq: c.seq, data: utf8Prefix(c.data, input.maxLogBytes - bytes) + truncationNotice(input.maxLogBytes) });
        bytes = input.maxLogBytes;
        truncated = true;
        break;
      }
      bytes += size;
      accepted.push(c);
    }
    if (accepted.length === 0) return { inserted: 0, accepted, truncated: false };
    await trx
      .insertInto('job_logs')
      .values(accepted.map((c) => ({ job_id: job.id, seq: c.seq, data: c.data, created_at: input.now })))
      .onConflict((oc) => oc.columns(['job_id', 'seq']).doNothing())
      .execute();
    await trx
      .updateTable('jobs')
      .set({ log_bytes: bytes, log_truncated: truncated ? 1 : 0 })
      .where('id', '=', job.id)
      .execute();
    return { inserted: accepted.length, accepted, truncated };
  });
}

/** The job's log rows in order, a page at a time, inside a transaction (the one that ends the job, or a move's). */
export async function* logPagesIn(db: Kysely<Database>, jobId: number, pageSize = 100, afterSeq = -1): AsyncGenerator<LogChunk[]> {
  for (;;) {
    const page = await db
      .selectFrom('job_logs')
      .select(['seq', 'data'])
      .where('job_id', '=', jobId)
      .where('seq', '>', afterSeq)
      .orderBy('seq')
      .limit(pageSize)
      .execute();
    if (page.length === 0) return;
    yield page;
    if (page.length < pageSize) return;
    afterSeq = page[page.length - 1].seq;
  }
}
