// An agent's outbox for one claimed job: log chunks and the final result are written to disk first
// and delivered to the server by a background loop, so a job keeps running through an outage of
// every server and its log and result arrive when one answers again. The outbox is bounded; its
// directory is named by job and fencing token, so an agent restarted after a crash still delivers
// what a previous run left behind, and hands back the jobs that run died with. The server's fencing
// decides what is still accepted (409: drop). The log's chunks come coalesced by time and size
// (LogChunker: 200 ms, 64 KiB); a chunk then waits up to half a second for the ones after it, so a
// running job sends at most two log requests a second, and the last ones wait for the result and
// ride with it and the artifact manifest in one request: a job that ends within that half second
// of its first output costs the server one request to end, not three or four.
import { appendFile, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LogChunk } from '../executor/index.js';
import type { ManifestEntry } from '../artifacts/index.js';
import type { CompleteRequest, JobImageJson } from '../api/index.js';

/** Where an outbox's contents go; each call must be idempotent (the server dedupes by seq and token). */
export interface OutboxTarget {
  /** `logFull`: the server keeps no more of this job's log (its maxJobLogBytes): stop sending it. */
  sendLog(jobId: number, fencingToken: number, chunks: LogChunk[]): Promise<{ logFull: boolean }>;
  complete(jobId: number, body: CompleteRequest): Promise<void>;
  /** The job died with a previous process of this agent: the server ends the attempt and queues it again. */
  abandon(jobId: number, fencingToken: number): Promise<void>;
}

export interface OutboxOptions {
  /**
   * Undelivered log bytes kept before later output is dropped (with one marker line): what an
   * outage may hold back. Delivered chunks do not count (the server's maxJobLogBytes caps a log).
   */
  maxLogBytes?: number;
  /** Delivery retry backoff cap. */
  maxBackoffMs?: number;
  /** How long the log's last chunks wait for the job's result, which takes them along. */
  resultWaitMs?: number;
  /** How long a chunk of a running job waits for more output (or the result) to go with it. */
  logHoldMs?: number;
  /** Stops delivery (agent shutdown); what is left stays on disk for the next start. */
  signal?: AbortSignal;
  onStale?: () => void;
  onError?: (err: Error) => void;
}

const BATCH_CHUNKS = 200;
const BATCH_BYTES = 512 * 1024;
const RESULT_WAIT_MS = 1000;
/** A log file holding more than this (or than maxLogBytes) is rewritten without its delivered chunks. */
const COMPACT_BYTES = 8 * 1024 * 1024;
/**
 * Live tails see output at most this much later (after the chunker's 200 ms); GitLab's runner sends
 * every 3 s. In exchange the short jobs most pipelines are made of send their log once, with the result.
 */
const LOG_HOLD_MS = 500;

function statusOf(err: unknown): number | undefined {
  return (err as { status?: number }).status;
}

/** Gone or refused for good: a newer claim owns the job (409), or the job or agent is gone (404, 401, 403). */
function isFinal(err: unknown): boolean {
  const status = statusOf(err);
  return status === 409 || status === 404 || status === 401 || status === 403;
}

/** delivered: all sent; stale: the server refused the claim (nothing more will be accepted); stopped: the agent stopped first. */
export type DeliveryResult = 'delivered' | 'stale' | 'stopped';

export class JobOutbox {
  private readonly logFile: string;
  private readonly resultFile: string;
  /** Log bytes written but not yet delivered, against maxLogBytes. */
  private undelivered = 0;
  /** Bytes in the log file; delivered chunks are compacted out of it now and then. */
  private fileBytes = 0;
  /** Appends and compactions of the log file, one at a time. */
  private fileWork: Promise<void> = Promise.resolve();
  private truncated = false;
  /** Chunks written but not yet delivered, in order (also on disk, for a restart). */
  private pending: LogChunk[] = [];
  /** When the runner wrote the log's last chunk (null: not yet). */
  private logEndedAt: number | null = null;
  /** Since when the oldest pending chunk waits (null: none pending). */
  private heldSince: number | null = null;
  /** The job's artifact manifest, sent with its result. */
  private artifacts: CompleteRequest['artifacts'] = undefined;
  private images: JobImageJson[] | undefined = undefined;
  private result: CompleteRequest | null = null;
  private wake: (() => void) | null = null;
  private stale = false;
  /** The server's log of the job is full: later output is neither kept nor sent. */
  private logFull = false;
  private closed = false;
  private readonly delivered: Promise<DeliveryResult>;
  private readonly maxLogBytes: number;
  private readonly maxBackoffMs: number;
  private readonly resultWaitMs: number;
  private readonly logHoldMs: number;

  private constructor(
    readonly dir: string,
    readonly jobId: number,
    readonly fencingToken: number,
    private readonly target: OutboxTarget,
    private readonly opts: OutboxOptions,
    restored: { chunks: LogChunk[]; result: CompleteRequest | null },
    /** Found without a result after a restart: the job died with the previous process. */
    private readonly orphaned = false,
  ) {
    this.logFile = join(dir, 'log.jsonl');
    this.resultFile = join(dir, 'result.json');
    this.maxLogBytes = opts.maxLogBytes ?? 64 * 1024 * 1024;
    this.maxBackoffMs = opts.maxBackoffMs ?? 5000;
    this.resultWaitMs = opts.resultWaitMs ?? RESULT_WAIT_MS;
    this.logHoldMs = opts.logHoldMs ?? LOG_HOLD_MS;
    this.pending = restored.chunks;
    this.undelivered = restored.chunks.reduce((sum, c) => sum + Buffer.byteLength(c.data), 0);
    this.result = restored.result;
    this.delivered = this.deliverLoop();
  }

  static async create(
    root: string,
    jobId: number,
    fencingToken: number,
    target: OutboxTarget,
    opts: OutboxOptions = {},
  ): Promise<JobOutbox> {
    const dir = join(root, `${jobId}.${fencingToken}`);
    await mkdir(dir, { recursive: true });
    return new JobOutbox(dir, jobId, fencingToken, target, opts, { chunks: [], result: null });
  }

  /** Outboxes a previous run of the agent left behind, delivering what they hold. */
  static async recover(root: string, target: OutboxTarget, opts: OutboxOptions = {}): Promise<JobOutbox[]> {
    const out: JobOutbox[] = [];
    for (const name of await readdir(root).catch(() => [] as string[])) {
      const m = /^(\d+)\.(\d+)$/.exec(name);
      if (!m) continue;
      const dir = join(root, name);
      const lines = (await readFile(join(dir, 'log.jsonl'), 'utf8').catch(() => '')).split('\n');
      // A torn last line (a crash mid-write) is dropped; every complete line is a whole chunk.
      const chunks = lines.flatMap((line) => {
        try {
          return line ? [JSON.parse(line) as LogChunk] : [];
        } catch {
          return [];
        }
      });
      const result = await readFile(join(dir, 'result.json'), 'utf8').then(
        (t) => JSON.parse(t) as CompleteRequest,
        () => null,
      );
      // Nothing more will be written to it. A job without a result died with the previous agent
      // process: its log is delivered, then the job is handed back (the server queues it again at
      // once; waiting for its lease would cost a whole lease per restart).
      const outbox = new JobOutbox(dir, Number(m[1]), Number(m[2]), target, opts, { chunks, result }, result === null);
      void outbox.close();
      out.push(outbox);
    }
    return out;
  }

  /**
   * Durable once it resolves; delivery follows in the background. `last`: the log ends with this
   * chunk, which waits for the job's result (or the close) to go along with it.
   */
  async appendLog(chunk: LogChunk, last = false): Promise<void> {
    if (this.stale || this.logFull) return;
    // Once output was dropped the log has a hole: nothing after it is kept either.
    if (this.truncated) return;
    let entry = chunk;
    if (this.undelivered + Buffer.byteLength(chunk.data) > this.maxLogBytes) {
      this.truncated = true;
      entry = { seq: chunk.seq, data: '\n[tandem: log truncated: the agent could not deliver it and its buffer is full]\n' };
    }
    this.undelivered += Buffer.byteLength(entry.data);
    const line = JSON.stringify(entry) + '\n';
    await this.onLogFile(async () => {
      await appendFile(this.logFile, line);
      this.fileBytes += Buffer.byteLength(line);
      this.pending.push(entry);
    });
    this.heldSince ??= Date.now();
    if (last) this.logEndedAt ??= Date.now();
    this.wake?.();
  }

  /** The job's artifact manifest (its blobs uploaded): it goes with the result, in the same request. */
  holdArtifacts(files: ManifestEntry[], expireInSeconds: number | null): void {
    this.artifacts = { files, expireInSeconds };
  }

  /** The job's pinned images: they go with the result too. */
  holdImages(images: JobImageJson[]): void {
    this.images = images;
  }

  /** Records the job's result; it is sent with the last log chunks, the artifact manifest and the images. */
  async finish(body: CompleteRequest): Promise<void> {
    const result: CompleteRequest = {
      ...body,
      ...(this.artifacts ? { artifacts: this.artifacts } : {}),
      ...(this.images ? { images: this.images } : {}),
    };
    const tmp = `${this.resultFile}.tmp`;
    await writeFile(tmp, JSON.stringify(result));
    await rename(tmp, this.resultFile);
    this.result = result;
    await this.close();
  }

  /** No more chunks will come (with or without a result). */
  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
  }

  /** Resolves once everything was delivered, or the claim turned out stale. */
  done(): Promise<DeliveryResult> {
    return this.delivered;
  }

  get isStale(): boolean {
    return this.stale;
  }

  private async deliverLoop(): Promise<DeliveryResult> {
    const signal = this.opts.signal;
    const onAbort = () => this.wake?.();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.deliverUntilDone(signal);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private async deliverUntilDone(signal: AbortSignal | undefined): Promise<DeliveryResult> {
    let backoff = 100;
    for (;;) {
      if (signal?.aborted) return 'stopped';
      try {
        const batch = this.nextBatch();
        // The last chunks go with the result when they fit in one batch; a full batch goes at once.
        if (batch.length > 0 && !(this.closed && this.result && batch.length === this.pending.length)) {
          const wait =
            this.closed || batch.length < this.pending.length
              ? 0
              : this.logEndedAt !== null
                ? this.logEndedAt + this.resultWaitMs - Date.now()
                : (this.heldSince ?? 0) + this.logHoldMs - Date.now();
          if (wait > 0) {
            await this.waitForWork(wait);
            continue;
          }
          const { logFull } = await this.target.sendLog(this.jobId, this.fencingToken, batch);
          this.pending.splice(0, batch.length);
          this.undelivered -= batch.reduce((sum, c) => sum + Buffer.byteLength(c.data), 0);
          // Chunks that came during the request start their wait now.
          this.heldSince = this.pending.length > 0 ? Date.now() : null;
          if (logFull) {
            this.logFull = true;
            this.pending = [];
            this.undelivered = 0;
          }
          if (this.fileBytes > Math.min(COMPACT_BYTES, this.maxLogBytes)) await this.onLogFile(() => this.compactLogFile());
          backoff = 100;
          continue;
        }
        if (this.closed) {
          if (this.result) await this.target.complete(this.jobId, batch.length > 0 ? { ...this.result, log: batch } : this.result);
          else if (this.orphaned) await this.target.abandon(this.jobId, this.fencingToken);
          await rm(this.dir, { recursive: true, force: true });
          return 'delivered';
        }
        await this.waitForWork(null);
      } catch (err) {
        if (isFinal(err)) {
          this.stale = true;
          this.opts.onStale?.();
          await rm(this.dir, { recursive: true, force: true });
          return 'stale';
        }
        this.opts.onError?.(err as Error);
        // The server is unreachable: keep everything and try again, never giving up while the agent runs.
        await sleep(backoff / 2 + Math.random() * (backoff / 2), undefined, { signal }).catch(() => undefined);
        backoff = Math.min(this.maxBackoffMs, backoff * 2);
      }
    }
  }

  /** Runs file work on the log after the work queued before it (an append must not land in a file being replaced). */
  private onLogFile(work: () => Promise<void>): Promise<void> {
    const done = this.fileWork.then(work);
    this.fileWork = done.catch(() => undefined);
    return done;
  }

  /** Rewrites the log file with the undelivered chunks only, atomically (a restart reads one or the other). */
  private async compactLogFile(): Promise<void> {
    const text = this.pending.map((c) => JSON.stringify(c) + '\n').join('');
    const tmp = `${this.logFile}.tmp`;
    await writeFile(tmp, text);
    await rename(tmp, this.logFile);
    this.fileBytes = Buffer.byteLength(text);
  }

  /** The oldest pending chunks, as many as one request takes. */
  private nextBatch(): LogChunk[] {
    const batch: LogChunk[] = [];
    let bytes = 0;
    for (const c of this.pending) {
      if (batch.length >= BATCH_CHUNKS || (batch.length > 0 && bytes + c.data.length > BATCH_BYTES)) break;
      batch.push(c);
      bytes += c.data.length;
    }
    return batch;
  }

  /** Until a chunk, the result or a stop arrives, or `ms` pass (null: no limit). */
  private async waitForWork(ms: number | null): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = ms === null ? undefined : setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = null;
  }
}
