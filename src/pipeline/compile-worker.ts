// The worker side of compileIsolated (./isolated-compile.ts): compiles one pipeline file and asks
// the parent thread for the repository files it needs, since only the parent can read them. The
// worker's entry module calls serveCompileRequest with the checks, which cannot cross threads as
// functions (src/deploy/compile-worker.ts is the one that checks deploy blocks).
import { parentPort } from 'node:worker_threads';
import { compilePipeline } from './compile.js';
import type { IsolatedRequest, ParentMessage, RequestMessage, WorkerMessage } from './isolated-compile.js';
import type { CompileContext, ForeignIncludeResult } from './types.js';

export type CompileChecks = Pick<CompileContext, 'checkDeployBlock'>;

/**
 * Waits for the parent's one request (a worker may be started ahead, with its modules loaded, and
 * wait), compiles it and posts the result back. A worker compiles one file and ends: nothing of
 * one repository's compilation stays for the next.
 */
export async function serveCompileRequest(checks: CompileChecks): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('serveCompileRequest runs only in a worker thread');
  const request = await new Promise<IsolatedRequest>((resolve) =>
    port.once('message', (message: RequestMessage) => resolve(message.request)),
  );
  const pending = new Map<number, { resolve(value: unknown): void; reject(err: Error): void }>();
  let nextId = 1;

  const send = <T>(message: Extract<WorkerMessage, { type: 'call' }>): Promise<T> => {
    const { id } = message;
    port.postMessage(message);
    return new Promise<T>((resolve, reject) => pending.set(id, { resolve: resolve as (value: unknown) => void, reject }));
  };
  const ask = <T>(method: 'readFile' | 'listFiles' | 'changedFiles', arg?: string): Promise<T> =>
    send<T>({ type: 'call', id: nextId++, method, arg });

  port.on('message', (message: ParentMessage) => {
    const waiting = pending.get(message.id);
    if (!waiting) return;
    pending.delete(message.id);
    if (message.error !== undefined) waiting.reject(new Error(message.error));
    else waiting.resolve(message.value);
  });

  const compile = async (): Promise<WorkerMessage> => {
    try {
      const result = await compilePipeline(request.configPath, request.content, {
        variables: request.variables,
        userVariables: request.userVariables,
        maxJobs: request.maxJobs,
        readFile: (path) => ask<string | null>('readFile', path),
        changedFiles: () => ask<string[] | null>('changedFiles'),
        listFiles: request.canListFiles ? () => ask<string[]>('listFiles') : undefined,
        readIncludeFile: request.canReadIncludeFiles
          ? (include) => send<ForeignIncludeResult>({ type: 'call', id: nextId++, method: 'readIncludeFile', request: include })
          : undefined,
        checkDeployBlock: checks.checkDeployBlock,
      });
      return { type: 'result', result };
    } catch (err) {
      return { type: 'failed', message: err instanceof Error ? (err.stack ?? err.message) : String(err) };
    }
  };

  port.postMessage(await compile());
  port.close();
}
