// An agent's outbox for one claimed job: log chunks and the final result are written to disk first
// and delivered to the server by a background loop, so a job keeps running through an outage of
// every server and its log and result arrive when one answers again. The outbox is bounded; its
// directory is named by job and fencing token, so an agent restarted after a crash still delivers
// what a previous run left behind, and hands back the jobs that run died with. The server's fencing
// decides what is still accepted (409: drop). The log's chunks come coalesced by time and size
// (LogChunker: 200 ms, 64 KiB) and go out as they come, but the last ones wait for the result and
// ride with it and the artifact manifest in one request: a short job costs the server one request
// to end, not three or four.
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
  /** Log bytes kept on disk before later output is dropped (with one marker line). */
  maxLogBytes?: number;
  /** Delivery retry backoff cap. */
  maxBackoffMs?: number;
  /** How long the log's last chunks wait for the job's result, which takes them along. */
  resultWaitMs?: number;
  /** Stops delivery (agent shutdown); what is left stays on disk for the next start. */
  signal?: AbortSignal;
  onStale?: () => void;
  onError?: (err: Error) => void;
}

const BATCH_CHUNKS = 200;
const BATCH_BYTES = 512 * 1024;
const RESULT_WAIT_MS = 1000;

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
  private bytes = 0;
  private truncated = false;
  /** Chunks written but not yet delivered, in order (also on disk, for a restart). */
  private pending: LogChunk[] = [];
  /** When the runner wrote the log's last chunk (null: not yet). */
  private logEndedAt: number | null = null;
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
    this.pending = restored.chunks;
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
    let entry = chunk;
    const size = Buffer.byteLength(chunk.data);
    if (this.bytes + size > this.maxLogBytes) {
      if (this.truncated) return;
      this.truncated = true;
      entry = { seq: chunk.seq, data: '\n[tandem: log truncated: the agent could not deliver it and its buffer is full]\n' };
    }
    this.bytes += Buffer.byteLength(entry.data);
    await appendFile(this.logFile, JSON.stringify(entry) + '\n');
    this.pending.push(entry);
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
        // The last chunks go with the result when they fit in one batch.
        if (batch.length > 0 && !(this.closed && this.result && batch.length === this.pending.length)) {
          const wait =
            this.logEndedAt === null || this.closed || batch.length < this.pending.length
              ? 0
              : this.logEndedAt + this.resultWaitMs - Date.now();
          if (wait > 0) {
            await this.waitForWork(wait);
            continue;
          }
          const { logFull } = await this.target.sendLog(this.jobId, this.fencingToken, batch);
          this.pending.splice(0, batch.length);
          if (logFull) {
            this.logFull = true;
            this.pending = [];
          }
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
