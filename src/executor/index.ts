import { SandboxExecutor, sandboxAvailable } from './sandbox.js';
import { ShellExecutor } from './shell.js';
import type { Executor } from './types.js';

export type { Executor, RunIO, RunOutcome, RunResult, StepsSpec } from './types.js';
export { ShellExecutor } from './shell.js';
export { SandboxExecutor, sandboxAvailable, type SandboxOptions } from './sandbox.js';
export { createMasker, maskText, MASK, MIN_SECRET_LENGTH, type Masker } from './mask.js';
export { LogChunker, type LogChunk, type LogChunkerOptions } from './log-stream.js';
export { DEFAULT_AFTER_SCRIPT_TIMEOUT_MS } from './steps.js';

export type ExecutorKind = 'shell' | 'sandbox' | 'auto';

export interface CreateExecutorOptions {
  /** For the sandbox: directories and files the job must not see (the agent's data dir, token file). */
  hiddenPaths?: string[];
}

/** 'auto' takes the sandbox where bubblewrap works and falls back to the plain shell. */
export async function createExecutor(kind: ExecutorKind, opts: CreateExecutorOptions = {}): Promise<Executor> {
  if (kind === 'shell') return new ShellExecutor();
  if (kind !== 'sandbox' && kind !== 'auto') throw new Error(`executor: unknown kind '${String(kind)}' (expected shell, sandbox or auto)`);
  if (await sandboxAvailable()) return new SandboxExecutor({ hiddenPaths: opts.hiddenPaths ?? [] });
  if (kind === 'sandbox') {
    throw new Error('executor: sandbox requested but bubblewrap (bwrap) is missing or cannot create namespaces here; install bubblewrap or use the shell executor');
  }
  return new ShellExecutor();
}
