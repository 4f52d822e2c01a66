import { spawnSync } from 'node:child_process';
import { JobCgroup } from './cgroup.js';
import { findExecutable, runSteps, type Launch, type Launcher } from './steps.js';
import type { Executor, RunIO, RunResult, StepsSpec } from './types.js';

export interface ShellExecutorOptions {
  /**
   * What holds every process a job starts, so a kill reaches those that left its process group
   * and cleared their environment (`setsid env -i`): `auto` a cgroup where the agent can make one,
   * else a PID namespace where it can make one (root), else only the /proc walk of ProcessTree;
   * `pid-namespace` takes the namespace whenever it works.
   */
  containment?: 'auto' | 'pid-namespace';
}

let unshareCommand: string | null | undefined;
/** `unshare`, where it can make a PID namespace here (it needs CAP_SYS_ADMIN: root); checked once. */
function pidNamespaceUnshare(): string | null {
  if (unshareCommand === undefined) {
    const unshare = findExecutable('unshare');
    unshareCommand =
      unshare && spawnSync(unshare, ['--pid', '--fork', '--kill-child', 'true'], { timeout: 10_000 }).status === 0 ? unshare : null;
  }
  return unshareCommand;
}

/** Runs the job's steps directly on the host, as the agent's user. */
export class ShellExecutor implements Executor {
  readonly name = 'shell' as const;
  private readonly launch: Launcher;

  constructor(options: ShellExecutorOptions = {}) {
    const containment = options.containment ?? 'auto';
    this.launch = (scriptPath, shell): Launch => {
      const direct = { command: shell.path, args: [...shell.args, scriptPath] };
      const unshare = containment === 'pid-namespace' || !JobCgroup.available() ? pidNamespaceUnshare() : null;
      // The job's shell is the namespace's init: when it (or unshare, by --kill-child) dies, the
      // kernel kills everything else in the namespace. As init it ignores SIGTERM, so a cancel
      // takes the kill's grace before its SIGKILL.
      return unshare
        ? { command: unshare, args: ['--pid', '--fork', '--kill-child', '--', direct.command, ...direct.args], cgroup: false }
        : direct;
    };
  }

  run(spec: StepsSpec, io: RunIO): Promise<RunResult> {
    return runSteps(spec, io, this.launch);
  }
}
