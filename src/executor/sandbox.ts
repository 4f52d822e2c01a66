import { spawn, spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { seccompProgram } from './seccomp.js';
import { findExecutable, runSteps, type Launcher } from './steps.js';
import type { Executor, RunIO, RunResult, StepsSpec } from './types.js';

/** Where the generated script appears inside the sandbox (its private /tmp). */
const SANDBOX_SCRIPT = '/tmp/.tandem/step.sh';

/**
 * Namespaces, privileges and lifetime. The job sees only its own processes and dies with the agent.
 * Its user namespace holds no capability (bwrap keeps root's unless told, when the agent runs as
 * root: a job could then unmount what hides the secrets and remount / writable), cannot create
 * another user namespace where bubblewrap can forbid it (see isolation), and bwrap always sets
 * no_new_privs, so setuid binaries cannot raise them either.
 */
const ISOLATION = [
  ...['--unshare-user', '--cap-drop', 'ALL'],
  ...['--unshare-pid', '--unshare-ipc', '--unshare-uts', '--die-with-parent', '--new-session'],
];

const nestedUserns = new Map<string, string[]>();
/**
 * `--disable-userns` where this bubblewrap has it (0.8+). Older ones still isolate: in a nested
 * user namespace the sandbox's mounts are locked (cannot be unmounted or made writable) and the
 * seccomp filter still applies; only the nested namespace's own capabilities remain.
 */
function isolation(bwrap: string): string[] {
  let flags = nestedUserns.get(bwrap);
  if (!flags) {
    const help = spawnSync(bwrap, ['--help'], { encoding: 'utf8', timeout: 10_000 });
    flags = `${help.stdout}${help.stderr}`.includes('--disable-userns') ? ['--disable-userns'] : [];
    nestedUserns.set(bwrap, flags);
  }
  return [...ISOLATION, ...flags];
}

/** bwrap reads the seccomp program from this descriptor (steps.ts writes Launch.fd3 to it). */
const SECCOMP_FD = '3';

export interface SandboxOptions {
  /** Directories and files the job must not see: the server's and agent's data, keys, configuration (secretPathsOf). */
  hiddenPaths: string[];
}

/**
 * Container engine API sockets: whoever can talk to one is root on the host (`docker run -v /:/host`),
 * and the sandbox shares the network namespace and (as root) the socket's owner. Jobs that need an
 * engine name an `image`, so the container executor runs them.
 */
export function engineSockets(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.()): string[] {
  const fromEnv = [env.DOCKER_HOST, env.CONTAINER_HOST].flatMap((url) => (url?.startsWith('unix://') ? [url.slice('unix://'.length)] : []));
  const perUser = uid === undefined ? [] : [`/run/user/${uid}/docker.sock`, `/run/user/${uid}/podman/podman.sock`];
  return [
    ...fromEnv,
    '/run/docker.sock',
    '/var/run/docker.sock',
    '/run/podman/podman.sock',
    '/run/containerd/containerd.sock',
    '/run/crio/crio.sock',
    ...perUser,
  ];
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
 * private /tmp writable, hidden paths replaced by empty mounts (the job's own mounts, such as its
 * file variables, shown through them read-only), private user/PID/IPC/UTS namespaces without
 * capabilities, and a seccomp filter. The network namespace stays shared on purpose: jobs fetch
 * dependencies (npm, apt, git).
 */
export class SandboxExecutor implements Executor {
  readonly name = 'sandbox' as const;
  private readonly hiddenPaths: string[];
  private readonly seccomp = seccompProgram();

  constructor(options: SandboxOptions) {
    this.hiddenPaths = [...options.hiddenPaths, ...engineSockets()].map((path) => resolve(path));
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
    // After the hiding mounts, so they show through them; the paths come from the agent, not the job.
    const mounts = (spec.mounts ?? []).map((path) => resolve(path)).flatMap((path) => ['--ro-bind', path, path]);
    const launcher: Launcher = (scriptPath, shell) => ({
      command: bwrap,
      args: [
        ...['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp'],
        ...around.flatMap(hideArgs),
        ...['--bind', workspace, workspace],
        ...within.flatMap(hideArgs),
        ...mounts,
        ...['--ro-bind', scriptPath, SANDBOX_SCRIPT],
        ...isolation(bwrap),
        ...(this.seccomp ? ['--seccomp', SECCOMP_FD] : []),
        ...['--chdir', workspace],
        '--',
        shell.path,
        ...shell.args,
        SANDBOX_SCRIPT,
      ],
      fd3: this.seccomp ?? undefined,
    });
    return runSteps({ ...spec, workspace }, io, launcher);
  }
}

/** Why the sandbox cannot run jobs here (bubblewrap missing, namespaces refused), or null when it can. */
export function sandboxUnavailableReason(): Promise<string | null> {
  const bwrap = findExecutable('bwrap');
  if (!bwrap) return Promise.resolve('bubblewrap (bwrap) is not installed');
  const seccomp = seccompProgram();
  // The isolation flags and the filter are part of the probe: where user namespaces are forbidden,
  // a bare `bwrap --ro-bind / / true` can succeed while the real command fails.
  const args = [
    '--ro-bind',
    '/',
    '/',
    '--dev',
    '/dev',
    '--proc',
    '/proc',
    ...isolation(bwrap),
    ...(seccomp ? ['--seccomp', SECCOMP_FD] : []),
    'true',
  ];
  return new Promise((done) => {
    const child = spawn(bwrap, args, { stdio: ['ignore', 'ignore', 'pipe', seccomp ? 'pipe' : 'ignore'], timeout: 10_000 });
    let stderr = '';
    child.stderr?.on('data', (data: Buffer) => (stderr += data.toString()));
    const fd3 = child.stdio[3];
    if (seccomp && fd3 && 'end' in fd3) {
      fd3.on('error', () => undefined);
      fd3.end(seccomp);
    }
    child.once('error', (err) => done(`bwrap could not start: ${err.message}`));
    child.once('close', (code, signal) =>
      done(code === 0 ? null : `bwrap cannot create the sandbox here: ${stderr.trim().split('\n')[0] || `exit ${code ?? signal}`}`),
    );
  });
}

/** Whether bubblewrap is installed and allowed to create the namespaces the sandbox uses. */
export async function sandboxAvailable(): Promise<boolean> {
  return (await sandboxUnavailableReason()) === null;
}
