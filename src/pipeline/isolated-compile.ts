// Compiling a pipeline file pushed by someone else runs in a worker thread with a time limit and
// memory caps: the compiler's work grows with the file (within the limits of ./limits.ts, still
// seconds for the largest), and the server's event loop must keep answering health checks,
// agents and SIGTERM meanwhile. A compilation past its time or memory is stopped and reported as an
// error of the pipeline file, like any other.
import { Worker } from 'node:worker_threads';
import type { CompileContext, CompileResult, ForeignIncludeRequest } from './types.js';

export interface IsolatedRequest {
  configPath: string;
  content: string;
  variables: Record<string, string>;
  userVariables?: Record<string, string>;
  maxJobs?: number;
  canListFiles: boolean;
  canReadIncludeFiles: boolean;
}

export type WorkerMessage =
  | { type: 'call'; id: number; method: 'readFile' | 'listFiles' | 'changedFiles'; arg?: string }
  | { type: 'call'; id: number; method: 'readIncludeFile'; request: ForeignIncludeRequest }
  | { type: 'result'; result: CompileResult }
  | { type: 'failed'; message: string };

export type ParentMessage = { id: number; value?: unknown; error?: string };
/** The parent's first message to a worker: what to compile. */
export type RequestMessage = { type: 'request'; request: IsolatedRequest };

export interface IsolatedContext extends Omit<CompileContext, 'checkDeployBlock'> {
  /**
   * The worker thread's entry module: it calls serveCompileRequest (./compile-worker.ts) with the
   * checks, which cannot cross threads as functions; src/deploy's PIPELINE_COMPILE_WORKER checks
   * deploy blocks.
   */
  worker: URL;
}

export interface IsolationLimits {
  /** Wall-clock time for one compilation, reading the repository's files included. */
  timeoutMs: number;
  /** The worker's V8 heap (old generation). */
  memoryMb: number;
}

export const DEFAULT_ISOLATION: IsolationLimits = { timeoutMs: 30_000, memoryMb: 512 };
/** Compilations that run at once in one process; more wait their turn (each may use memoryMb). */
const MAX_CONCURRENT = 2;

let running = 0;
const waiting: (() => void)[] = [];

async function turn(): Promise<() => void> {
  if (running >= MAX_CONCURRENT) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  return () => {
    running--;
    waiting.shift()?.();
  };
}

function limitError(configPath: string, message: string): CompileResult {
  return { ok: false, skipped: false, errors: [{ file: configPath, line: 1, column: 1, severity: 'error', message }], warnings: [] };
}

/**
 * Starting a worker thread and loading the compiler into it takes 100-300 ms, most of the time from
 * a push to its pipeline. A process that compiles often (the server) keeps one worker started ahead
 * per entry module and limits; each worker still compiles once and ends.
 */
const spares = new Map<string, Worker>();
const keepsSpares = new Set<string>();

const spareKey = (entry: URL, limits: IsolationLimits) => `${limits.memoryMb} ${entry.href}`;

function startWorker(entry: URL, limits: IsolationLimits): Worker {
  return new Worker(entry, {
    resourceLimits: {
      maxOldGenerationSizeMb: limits.memoryMb,
      maxYoungGenerationSizeMb: Math.min(64, limits.memoryMb / 4),
      stackSizeMb: 4,
    },
  });
}

function startSpare(entry: URL, limits: IsolationLimits): void {
  const key = spareKey(entry, limits);
  if (!keepsSpares.has(key) || spares.has(key)) return;
  const spare = startWorker(entry, limits);
  // A waiting spare neither keeps the process alive nor outlives a failure of its own.
  spare.unref();
  const forget = () => {
    if (spares.get(key) === spare) spares.delete(key);
  };
  spare.once('error', forget);
  spare.once('exit', forget);
  spares.set(key, spare);
}

/** Keeps a worker of this entry module started ahead from now on (the server calls it at start). */
export function keepSpareCompileWorker(entry: URL, limits: IsolationLimits = DEFAULT_ISOLATION): void {
  keepsSpares.add(spareKey(entry, limits));
  startSpare(entry, limits);
}

/** Stops keeping spares and ends those waiting (a server that closes). */
export async function releaseSpareCompileWorkers(): Promise<void> {
  keepsSpares.clear();
  const waiting = [...spares.values()];
  spares.clear();
  await Promise.all(waiting.map((w) => w.terminate()));
}

/** The spare worker, taken, or a new one. */
function takeWorker(entry: URL, limits: IsolationLimits): Worker {
  const key = spareKey(entry, limits);
  const spare = spares.get(key);
  spares.delete(key);
  if (!spare) return startWorker(entry, limits);
  spare.removeAllListeners();
  spare.ref();
  return spare;
}

/** compilePipeline in a worker thread; the result is the same, or an error when a limit is passed. */
export async function compileIsolated(
  configPath: string,
  content: string,
  ctx: IsolatedContext,
  limits: IsolationLimits = DEFAULT_ISOLATION,
): Promise<CompileResult> {
  const release = await turn();
  try {
    return await runWorker(configPath, content, ctx, limits);
  } finally {
    release();
    // The next spare starts once this compilation is done, not beside it on a busy machine.
    startSpare(ctx.worker, limits);
  }
}

function runWorker(configPath: string, content: string, ctx: IsolatedContext, limits: IsolationLimits): Promise<CompileResult> {
  const request: IsolatedRequest = {
    configPath,
    content,
    variables: ctx.variables,
    userVariables: ctx.userVariables,
    maxJobs: ctx.maxJobs,
    canListFiles: ctx.listFiles !== undefined,
    canReadIncludeFiles: ctx.readIncludeFile !== undefined,
  };
  const worker = takeWorker(ctx.worker, limits);
  worker.postMessage({ type: 'request', request } satisfies RequestMessage);
  return new Promise<CompileResult>((resolve, reject) => {
    let settled = false;
    // A repository read that failed (git down) fails the compilation as it would in place: with that error.
    let contextError: unknown;
    const finish = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      outcome();
    };
    const timer = setTimeout(() => {
      finish(() => resolve(limitError(configPath, `pipeline compilation exceeded ${limits.timeoutMs / 1000} s and was stopped`)));
    }, limits.timeoutMs);
    const remember = (err: unknown): void => {
      contextError ??= err;
    };
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'result') finish(() => resolve(message.result));
      else if (message.type === 'failed')
        finish(() => reject(contextError ?? new Error(`pipeline compilation failed: ${message.message}`)));
      else void answer(worker, ctx, message, remember);
    });
    worker.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') {
        finish(() =>
          resolve(limitError(configPath, `pipeline compilation exceeded its memory limit (${limits.memoryMb} MB) and was stopped`)),
        );
      } else {
        finish(() => reject(err));
      }
    });
    worker.on('exit', (code) => finish(() => reject(new Error(`pipeline compilation stopped unexpectedly (exit code ${code})`))));
  });
}

async function answer(
  worker: Worker,
  ctx: IsolatedContext,
  call: Extract<WorkerMessage, { type: 'call' }>,
  failed: (err: unknown) => void,
): Promise<void> {
  let reply: ParentMessage;
  try {
    const value =
      call.method === 'readIncludeFile'
        ? await ctx.readIncludeFile?.(call.request)
        : call.method === 'readFile'
          ? await ctx.readFile(call.arg ?? '')
          : call.method === 'listFiles'
            ? await ctx.listFiles?.()
            : await ctx.changedFiles();
    reply = { id: call.id, value };
  } catch (err) {
    failed(err);
    reply = { id: call.id, error: err instanceof Error ? err.message : String(err) };
  }
  // A worker stopped meanwhile (time limit) drops the message.
  worker.postMessage(reply);
}
