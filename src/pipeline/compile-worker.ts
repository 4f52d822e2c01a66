// The worker side of compileIsolated (./isolated-compile.ts): compiles one pipeline file and asks
// the parent thread for the repository files it needs, since only the parent can read them.
import { parentPort, workerData } from 'node:worker_threads';
import { compilePipeline } from './compile.js';
import type { IsolatedRequest, ParentMessage, WorkerMessage } from './isolated-compile.js';

const port = parentPort;
if (!port) throw new Error('compile-worker.js runs only as a worker thread');

const request = workerData as IsolatedRequest;
const pending = new Map<number, { resolve(value: unknown): void; reject(err: Error): void }>();
let nextId = 1;

function ask<T>(method: 'readFile' | 'listFiles' | 'changedFiles', arg?: string): Promise<T> {
  const id = nextId++;
  const message: WorkerMessage = { type: 'call', id, method, arg };
  port?.postMessage(message);
  return new Promise<T>((resolve, reject) => pending.set(id, { resolve: resolve as (value: unknown) => void, reject }));
}

port.on('message', (message: ParentMessage) => {
  const waiting = pending.get(message.id);
  if (!waiting) return;
  pending.delete(message.id);
  if (message.error !== undefined) waiting.reject(new Error(message.error));
  else waiting.resolve(message.value);
});

async function main(): Promise<WorkerMessage> {
  try {
    const result = await compilePipeline(request.configPath, request.content, {
      variables: request.variables,
      userVariables: request.userVariables,
      maxJobs: request.maxJobs,
      readFile: (path) => ask<string | null>('readFile', path),
      changedFiles: () => ask<string[] | null>('changedFiles'),
      listFiles: request.canListFiles ? () => ask<string[]>('listFiles') : undefined,
    });
    return { type: 'result', result };
  } catch (err) {
    return { type: 'failed', message: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  }
}

const outcome = await main();
port.postMessage(outcome);
port.close();
