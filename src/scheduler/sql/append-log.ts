// Log chunks are numbered by the agent; (job_id, seq) is the primary key, so a chunk re-sent after
// a timeout is ignored instead of duplicated.
import type { Store } from '../../store/index.js';
import { SchedulerError } from '../errors.js';
import { claimRefused, completedBy, holds, loadJob, type Claim } from './load-job.js';

export interface LogChunk {
  seq: number;
  data: string;
}

export interface AppendLogInput extends Claim {
  chunks: LogChunk[];
  now: number;
}

export async function appendLogChunks(store: Store, input: AppendLogInput): Promise<{ inserted: number }> {
  input.chunks.forEach((c, i) => {
    if (!Number.isSafeInteger(c.seq) || c.seq < 0) throw new SchedulerError(422, `log chunks[${i}].seq: expected an integer >= 0, got ${c.seq}`);
    if (typeof c.data !== 'string') throw new SchedulerError(422, `log chunks[${i}].data: expected a string`);
  });
  return store.transaction(async (trx) => {
    const job = await loadJob(trx, input.jobId);
    // The agent that completed the job may still flush or re-send its last chunks.
    if (!holds(job, input) && !completedBy(job, input)) throw claimRefused(job);
    if (input.chunks.length === 0) return { inserted: 0 };
    const res = await trx
      .insertInto('job_logs')
      .values(input.chunks.map((c) => ({ job_id: job.id, seq: c.seq, data: c.data, created_at: input.now })))
      .onConflict((oc) => oc.columns(['job_id', 'seq']).doNothing())
      .executeTakeFirst();
    return { inserted: Number(res.numInsertedOrUpdatedRows ?? 0) };
  });
}

export async function readLog(store: Store, jobId: number, options: { afterSeq?: number; limit?: number } = {}): Promise<{ chunks: LogChunk[]; lastSeq: number | null }> {
  let q = store.db.selectFrom('job_logs').select(['seq', 'data']).where('job_id', '=', jobId).orderBy('seq');
  if (options.afterSeq !== undefined) q = q.where('seq', '>', options.afterSeq);
  if (options.limit !== undefined) q = q.limit(options.limit);
  const chunks = await q.execute();
  return { chunks, lastSeq: chunks.length > 0 ? chunks[chunks.length - 1].seq : (options.afterSeq ?? null) };
}
