import { runSteps, type Launcher } from './steps.js';
import type { Executor, RunIO, RunResult, StepsSpec } from './types.js';

const launchShell: Launcher = (scriptPath, shell) => ({ command: shell.path, args: [...shell.args, scriptPath] });

/** Runs the job's steps directly on the host, as the agent's user. */
export class ShellExecutor implements Executor {
  readonly name = 'shell' as const;

  run(spec: StepsSpec, io: RunIO): Promise<RunResult> {
    return runSteps(spec, io, launchShell);
  }
}
