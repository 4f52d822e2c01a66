import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { accessSync, constants as fsConstants, rmSync, statSync } from 'node:fs';
import { mkdtemp, unlink, writeFile } from 'node:fs/promises';
import { constants as osConstants, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { JobCgroup } from './cgroup.js';
import { ProcessTree } from './process-tree.js';
import type { RunIO, RunOutcome, RunResult, StepsSpec } from './types.js';

export const DEFAULT_AFTER_SCRIPT_TIMEOUT_MS = 5 * 60_000;
/** Time between SIGTERM and SIGKILL when a job is stopped. */
const KILL_GRACE_MS = 2_000;
/** How often the process tree is walked while a job runs, to catch processes before they detach. */
const SCAN_INTERVAL_MS = 500;
/** After the job's shell exits and its leftovers are killed, how long to wait for the output pipes to drain. */
const DRAIN_MS = 1_000;

/** Set in every job process's environment so its processes can be recognised (see ProcessTree). */
export const EXEC_ID_VAR = 'TANDEM_EXEC_ID';

const GREEN = '\x1b[32;1m';
const CYAN = '\x1b[36;1m';
const YELLOW = '\x1b[0;33m';
const RED = '\x1b[31;1m';
const RESET = '\x1b[0;m';

export interface Shell {
  path: string;
  /** Flags before the script path. */
  args: string[];
}

/** The absolute path of an executable found on a PATH, or undefined. */
export function findExecutable(name: string, pathVar = process.env.PATH ?? ''): string | undefined {
  for (const dir of pathVar.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** bash as GitLab runs it; POSIX sh where bash is missing. */
export function findShell(pathVar?: string): Shell {
  const bash = findExecutable('bash', pathVar);
  return bash ? { path: bash, args: ['--noprofile', '--norc', '-eo', 'pipefail'] } : { path: '/bin/sh', args: ['-e'] };
}

/** Single-quotes a string for any POSIX shell. */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * One script for a list of commands, as GitLab Runner's bash shell generates it: each command is
 * echoed (`$ command` in bold green) and then run in the same shell, so variables and `cd` carry
 * over, and `set -e` ends the script with the exit code of the first command that fails.
 */
export function generateScript(commands: string[]): string {
  const lines = [
    // sh may lack pipefail (older dash): probe in a subshell because a failing `set` would end the script.
    '(set -o pipefail) 2>/dev/null && set -o pipefail',
    // One pipe for both streams keeps stdout and stderr in the order they were written.
    'exec 2>&1',
  ];
  for (const command of commands) {
    const [first, ...rest] = command.trim().split('\n');
    const shown = rest.length > 0 ? `${first} # collapsed multi-line command` : first;
    lines.push(`printf '${GREEN.replace('\x1b', '\\033')}$ %s${RESET.replace('\x1b', '\\033')}\\n' ${shellQuote(shown)}`);
    lines.push(command);
  }
  return lines.join('\n') + '\n';
}

/** The process that runs a prepared script. */
export interface Launch {
  command: string;
  args: string[];
  /** The process's environment; default the job's own (a container engine gets the agent's instead). */
  env?: Record<string, string>;
  /** Stops what the process started but cannot reach by signals (a container), on timeout or cancel. */
  stop?(): Promise<void>;
  /** Written to the process's file descriptor 3 (bwrap reads its seccomp program there). */
  fd3?: Buffer;
  /**
   * False when the process needs no cgroup of its own: a container engine's helpers (conmon) are not
   * the job's to kill, and a PID namespace holds the job already. Otherwise the process starts in
   * a cgroup of its own, which every kill empties.
   */
  cgroup?: boolean;
}

/** How a prepared script is started: the plain shell, the shell inside a sandbox, or a container. */
export type Launcher = (scriptPath: string, shell: Shell, env: Record<string, string>) => Launch;

interface ScriptResult {
  exitCode: number | null;
  outcome: RunOutcome;
}

interface ScriptRun {
  launcher: Launcher;
  workspace: string;
  commands: string[];
  env: Record<string, string>;
  timeoutMs: number;
  onOutput(text: string): void;
  /** Absent for after_script, which runs to its own timeout even when the job was canceled. */
  signal?: AbortSignal;
}

function formatDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

let scriptDir: Promise<string> | undefined;
/**
 * The directory of this process's step scripts, made once: a directory per step cost two more file
 * system calls and a directory walk per job. Outside every workspace so no job can read or change
 * it, and mkdtemp makes it 0700. Removed when the process exits.
 */
function stepScriptDir(): Promise<string> {
  if (!scriptDir) {
    const made = mkdtemp(join(tmpdir(), 'tandem-steps-'));
    scriptDir = made;
    made.then(
      (dir) => process.once('exit', () => rmSync(dir, { recursive: true, force: true })),
      // The failure (a full disk) is the failing job's; the next one tries again.
      () => {
        if (scriptDir === made) scriptDir = undefined;
      },
    );
  }
  return scriptDir;
}

/** Writes a step's script as `<id>.sh` in the scripts directory, making that directory again if it was removed (a tmp cleaner). */
async function writeStepScript(id: string, script: string): Promise<{ dir: string; scriptPath: string }> {
  for (let attempt = 0; ; attempt++) {
    const dir = await stepScriptDir();
    const scriptPath = join(dir, `${id}.sh`);
    try {
      // The directory keeps other users out; the file itself must be readable by a container's own user.
      await writeFile(scriptPath, script, { mode: 0o755 });
      return { dir, scriptPath };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt > 0) throw err;
      scriptDir = undefined;
    }
  }
}

/** Runs one generated script in its own process group; a timeout or cancel kills the whole tree. */
async function runScript(run: ScriptRun): Promise<ScriptResult> {
  // Not secret: it names the step's files, and lets the kill find job processes that escaped both group and parent links.
  const execId = randomUUID();
  const { dir, scriptPath } = await writeStepScript(execId, generateScript(run.commands));
  const proofPath = join(dir, `${execId}.in-cgroup`);
  try {
    const launch = run.launcher(scriptPath, findShell(run.env.PATH ?? process.env.PATH), run.env);
    const cgroup = launch.cgroup === false ? undefined : JobCgroup.create();
    const { command, args } = cgroup ? cgroup.wrap(launch.command, launch.args, proofPath) : launch;
    const child = spawn(command, args, {
      cwd: run.workspace,
      env: { ...(launch.env ?? run.env), [EXEC_ID_VAR]: execId },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe', launch.fd3 ? 'pipe' : 'ignore'],
    });
    // Spawned with stdout and stderr as pipes; the type cannot follow the four-entry stdio list.
    const { stdout, stderr } = child as unknown as ChildProcessByStdio<null, Readable, Readable>;
    const fd3 = child.stdio[3];
    if (launch.fd3 && fd3 && 'end' in fd3) {
      // A process that never reads it (it failed to start) must not fail the write.
      fd3.on('error', () => undefined);
      fd3.end(launch.fd3);
    }

    let stopReason: 'timeout' | 'canceled' | undefined;
    let tree: ProcessTree | undefined;
    let killing: Promise<void> | undefined;
    const stop = (reason: 'timeout' | 'canceled', message: string): void => {
      if (stopReason || !tree) return;
      stopReason = reason;
      run.onOutput(`\n${RED}${message}${RESET}\n`);
      // A stopped container ends the process attached to it, so the kill below has little left to wait for.
      const stopped = launch.stop?.().catch((err: unknown) => run.onOutput(`${RED}ERROR: ${(err as Error).message}${RESET}\n`));
      killing = Promise.all([stopped, tree.kill(KILL_GRACE_MS)]).then(() => undefined);
    };

    const drained = [stdout, stderr].map((stream) => {
      const decoder = new StringDecoder('utf8');
      stream.on('data', (data: Buffer) => {
        const text = decoder.write(data);
        if (text) run.onOutput(text);
      });
      return new Promise<void>((resolve) => {
        stream.on('close', () => {
          const rest = decoder.end();
          if (rest) run.onOutput(rest);
          resolve();
        });
      });
    });

    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null } | Error>((resolve) => {
      child.once('error', resolve);
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });

    let scanTimer: NodeJS.Timeout | undefined;
    let timeoutTimer: NodeJS.Timeout | undefined;
    const onAbort = (): void => stop('canceled', 'Job canceled: stopping its processes');
    if (child.pid !== undefined) {
      tree = new ProcessTree(child.pid, `${EXEC_ID_VAR}=${execId}`, cgroup);
      scanTimer = setInterval(() => tree?.scan(), SCAN_INTERVAL_MS);
      timeoutTimer = setTimeout(
        () => stop('timeout', `ERROR: execution took longer than ${formatDuration(run.timeoutMs)}: stopping its processes`),
        run.timeoutMs,
      );
      run.signal?.addEventListener('abort', onAbort, { once: true });
      if (run.signal?.aborted) onAbort();
    }

    const exit = await exited;
    clearInterval(scanTimer);
    clearTimeout(timeoutTimer);
    run.signal?.removeEventListener('abort', onAbort);
    // Whatever the job left running must not outlive it: it would hold the workspace and the output pipe.
    await (killing ?? tree?.kill(KILL_GRACE_MS));
    await cgroup?.release();
    await Promise.race([Promise.all(drained), new Promise((resolve) => setTimeout(resolve, DRAIN_MS).unref())]);
    stdout.destroy();
    stderr.destroy();

    if (exit instanceof Error) {
      run.onOutput(`${RED}ERROR: could not start ${command}: ${exit.message}${RESET}\n`);
      return { exitCode: null, outcome: 'failed' };
    }
    if (stopReason) return { exitCode: null, outcome: stopReason };
    const exitCode = exit.code ?? 128 + (exit.signal ? osConstants.signals[exit.signal] : 0);
    return { exitCode, outcome: exitCode === 0 ? 'success' : 'failed' };
  } finally {
    // unlink, not rm: rm looks at each path twice before removing it. The proof exists only when a cgroup was entered.
    await Promise.all(
      [scriptPath, proofPath].map((path) =>
        unlink(path).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
        }),
      ),
    );
  }
}

const JOB_STATUS: Record<RunOutcome, string> = {
  success: 'success',
  failed: 'failed',
  canceled: 'canceled',
  timeout: 'timedout',
};

/**
 * GitLab's step semantics, shared by every executor: before_script and script in one shell, then
 * after_script in a fresh shell that always runs and cannot change the outcome.
 */
export async function runSteps(spec: StepsSpec, io: RunIO, launcher: Launcher): Promise<RunResult> {
  const started = Date.now();
  let workspaceIsDir = false;
  try {
    workspaceIsDir = statSync(spec.workspace).isDirectory();
  } catch {
    // reported below
  }
  if (!workspaceIsDir) throw new Error(`workspace ${spec.workspace} does not exist or is not a directory`);
  if (!(spec.timeoutMs > 0)) throw new Error(`timeoutMs must be a positive number, got ${spec.timeoutMs}`);

  // Nothing ran, so there is nothing for after_script to clean up.
  if (io.signal.aborted) return { exitCode: null, outcome: 'canceled', durationMs: Date.now() - started };

  const main = await runScript({
    launcher,
    workspace: spec.workspace,
    commands: [...spec.beforeScript, ...spec.script],
    // GitLab Runner sets CI_JOB_STATUS to `running` while before_script and script run.
    env: { ...spec.env, CI_JOB_STATUS: 'running' },
    timeoutMs: spec.timeoutMs,
    onOutput: (text) => io.onOutput(text),
    signal: io.signal,
  });

  if (spec.afterScript.length > 0) {
    io.onOutput(`\n${CYAN}Running after_script${RESET}\n`);
    const after = await runScript({
      launcher,
      workspace: spec.workspace,
      commands: spec.afterScript,
      env: { ...spec.env, CI_JOB_STATUS: JOB_STATUS[main.outcome] },
      timeoutMs: spec.afterScriptTimeoutMs ?? DEFAULT_AFTER_SCRIPT_TIMEOUT_MS,
      onOutput: (text) => io.onOutput(text),
    });
    if (after.outcome !== 'success') {
      const why = after.outcome === 'timeout' ? 'timed out' : `exit code ${after.exitCode ?? 'none'}`;
      io.onOutput(`${YELLOW}WARNING: after_script failed, but job will continue unaffected: ${why}${RESET}\n`);
    }
  }
  return { ...main, durationMs: Date.now() - started };
}
