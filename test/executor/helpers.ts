import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Executor, RunResult, StepsSpec } from '../../src/executor/index.js';

export interface Captured extends RunResult {
  output: string;
  /** The output without ANSI colour codes. */
  plain: string;
}

export async function tempDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export function spec(workspace: string, fields: Partial<StepsSpec>): StepsSpec {
  return {
    workspace,
    beforeScript: [],
    script: [],
    afterScript: [],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' },
    timeoutMs: 10_000,
    ...fields,
  };
}

export async function capture(
  executor: Executor,
  stepsSpec: StepsSpec,
  signal = new AbortController().signal,
  onText?: (soFar: string) => void,
): Promise<Captured> {
  let output = '';
  const result = await executor.run(stepsSpec, {
    signal,
    onOutput: (text) => {
      output += text;
      onText?.(output);
    },
  });
  // eslint-disable-next-line no-control-regex -- ANSI colour codes start with ESC
  return { ...result, output, plain: output.replace(/\x1b\[[0-9;]*m/g, '') };
}

/** Gone, or a zombie that can never run again (PID 1 in a container may not reap orphans). */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** PIDs printed as `name=PID` lines. */
export function printedPid(output: string, name: string): number {
  const match = new RegExp(`^${name}=(\\d+)$`, 'm').exec(output);
  if (!match) throw new Error(`no ${name}=PID line in output:\n${output}`);
  return Number(match[1]);
}
