import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { findExecutable, runSteps, type Launcher } from './steps.js';
import type { Executor, RunIO, RunResult, StepsSpec } from './types.js';

/** Where the generated script appears inside the sandbox (its private /tmp). */
const SANDBOX_SCRIPT = '/tmp/.tandem/step.sh';

/** Namespaces and lifetime: the job sees only its own processes and dies with the agent. */
const ISOLATION = ['--unshare-pid', '--unshare-ipc', '--unshare-uts', '--die-with-parent', '--new-session'];

export interface SandboxOptions {
  /** Directories and files the job must not see, e.g. the agent's data dir and token file. */
  hiddenPaths: string[];
}

function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** The mount that hides one path: an empty tmpfs over a directory, /dev/null over a file. */
function hideArgs(path: string): string[] {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    // Nothing there, so nothing to hide (and bwrap could not create a mount point on a read-only root).
    return [];
  }
  return isDir ? ['--tmpfs', path] : ['--ro-bind', '/dev/null', path];
}

/**
 * Runs the job's steps under bubblewrap: the whole system read-only, only the workspace and a
 * private /tmp writable, hidden paths replaced by empty mounts, private PID/IPC/UTS namespaces.
 * The network namespace stays shared on purpose: jobs fetch dependencies (npm, apt, git).
 */
export class SandboxExecutor implements Executor {
  readonly name = 'sandbox' as const;
  private readonly hiddenPaths: string[];

  constructor(options: SandboxOptions) {
    this.hiddenPaths = options.hiddenPaths.map((path) => resolve(path));
  }

  run(spec: StepsSpec, io: RunIO): Promise<RunResult> {
    const workspace = resolve(spec.workspace);
    if (this.hiddenPaths.includes(workspace)) {
      throw new Error(`hiddenPaths: ${workspace} is the workspace itself and cannot be hidden from the job`);
    }
    // Resolved here, not by spawn, because the job's env may have a PATH without it (or none).
    const bwrap = findExecutable('bwrap');
    if (!bwrap) throw new Error('sandbox executor: bwrap (bubblewrap) is not installed');
    // A hidden directory that contains the workspace (workspaces under the agent's data dir) is
    // mounted before the workspace so the workspace shows through it; all others after it, so a
    // hidden path inside the workspace stays hidden.
    // A path inside another hidden directory is hidden with it, unless the workspace bind brings it back.
    const needed = this.hiddenPaths.filter(
      (hidden) =>
        !this.hiddenPaths.some(
          (other) => other !== hidden && isInside(hidden, other) && (!isInside(hidden, workspace) || isInside(other, workspace)),
        ),
    );
    const around = needed.filter((hidden) => isInside(workspace, hidden));
    const within = needed.filter((hidden) => !isInside(workspace, hidden));
    const launcher: Launcher = (scriptPath, shell) => ({
      command: bwrap,
      args: [
        ...['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp'],
        ...around.flatMap(hideArgs),
        ...['--bind', workspace, workspace],
        ...within.flatMap(hideArgs),
        ...['--ro-bind', scriptPath, SANDBOX_SCRIPT],
        ...ISOLATION,
        ...['--chdir', workspace],
        '--',
        shell.path,
        ...shell.args,
        SANDBOX_SCRIPT,
      ],
    });
    return runSteps({ ...spec, workspace }, io, launcher);
  }
}

/** Whether bubblewrap is installed and allowed to create the namespaces the sandbox uses. */
export function sandboxAvailable(): Promise<boolean> {
  const bwrap = findExecutable('bwrap');
  if (!bwrap) return Promise.resolve(false);
  return new Promise((done) => {
    // The isolation flags are part of the probe: where user namespaces are forbidden, a bare
    // `bwrap --ro-bind / / true` can succeed while the real command fails.
    execFile(bwrap, ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', ...ISOLATION, 'true'], { timeout: 10_000 }, (error) =>
      done(error === null),
    );
  });
}
