// The `tandem` command as users run it: the compiled CLI in a child process, with a clean
// environment so a developer's TANDEM_* settings never leak into a test.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../support/git.js';

export const CLI = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');

/**
 * Node's arguments that start the CLI: the compiled one when the tests run compiled, the source
 * under tsx when they run from source (the unit loop has no build).
 */
export const CLI_ARGV = fileURLToPath(import.meta.url).endsWith('.ts')
  ? ['--import', import.meta.resolve('tsx'), path.join(repoRoot(), 'src', 'cli', 'main.ts')]
  : [CLI];

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment without TANDEM_* settings, plus the given additions. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TANDEM_')) env[k] = v;
  return { ...env, ...extra };
}

/**
 * Runs `tandem ...args` to completion, with `input` on stdin (empty otherwise; never a terminal);
 * a hung command is killed after timeoutMs and fails the test.
 */
export function tandem(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number; input?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...CLI_ARGV, ...args], {
      cwd: opts.cwd ?? repoRoot(),
      env: cleanEnv(opts.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // A command that exits without reading its stdin must not fail the test with EPIPE.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`tandem ${args.join(' ')} did not finish within ${opts.timeoutMs ?? 15_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`),
      );
    }, opts.timeoutMs ?? 15_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `tandem exec`'s summary table as job name → status (`success`, `failed (allowed)`, `manual`...). */
export function execSummary(stdout: string): Map<string, string> {
  const rows = new Map<string, string>();
  const table = stdout.slice(stdout.lastIndexOf('STAGE'));
  for (const line of table.split('\n').slice(1)) {
    const m = /^\S+\s+(.+?)\s{2,}(\w+(?: \(allowed\))?)\s+(?:\d[\d.hms ]*|-)$/.exec(line);
    if (m) rows.set(m[1], m[2]);
  }
  return rows;
}

/** A long-running `tandem up|server` child process and the URL it announced. */
export interface LiveTandem {
  child: ChildProcess;
  url: string;
  output(): string;
  /** SIGTERM, then the exit code and how long the drain took; SIGKILL if it hangs past timeoutMs. */
  stop(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
}

export function startLive(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<LiveTandem> {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: opts.cwd ?? repoRoot(),
    env: cleanEnv(opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('exit', (code, signal) => r({ code, signal })),
  );
  const stop = async (timeoutMs = 5000) => {
    const started = Date.now();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const result = await exited;
    clearTimeout(timer);
    return { ...result, ms: Date.now() - started };
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no "Tandem listening on" line within ${opts.timeoutMs ?? 15_000} ms\nstdout: ${out}\nstderr: ${err}`));
    }, opts.timeoutMs ?? 15_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /Tandem listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1], output: () => `${out}${err}`, stop });
      }
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`tandem ${args.join(' ')} exited (${code ?? signal}) before listening\nstdout: ${out}\nstderr: ${err}`));
    });
  });
}

/**
 * Runs `tandem ...args` on a pseudo-terminal (util-linux `script`), typing `input`: what a person at
 * a terminal sees, prompts included. Output is the terminal's (stdout and stderr together).
 */
export function tandemInTerminal(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; input?: string; timeoutMs?: number } = {},
): Promise<{ code: number | null; output: string }> {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, ...CLI_ARGV, ...args].map(quote).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      cwd: opts.cwd ?? repoRoot(),
      env: cleanEnv(opts.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tandem ${args.join(' ')} on a terminal did not finish within ${opts.timeoutMs ?? 15_000} ms\n${output}`));
    }, opts.timeoutMs ?? 15_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}
