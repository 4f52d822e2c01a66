import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Forks a sibling script of the calling test as a separate Node process: its `.ts` source under tsx,
 * its compiled `.js` under dist. The test runner's own flags are not passed on.
 */
export function forkSibling(callerUrl: string, baseName: string, args: string[]): ChildProcess {
  const ext = callerUrl.endsWith('.ts') ? '.ts' : '.js';
  const script = fileURLToPath(new URL(`./${baseName}${ext}`, callerUrl));
  return fork(script, args, { execArgv: process.execArgv.filter((a) => !a.startsWith('--test')), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

/** Resolves with the child's first IPC message; rejects if it exits first. */
export function firstMessage<T>(child: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m as T));
    child.once('exit', (code) => reject(new Error(`child exited with code ${code} before answering`)));
  });
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}
