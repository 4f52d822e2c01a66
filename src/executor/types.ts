/** What to run: a job's steps in its prepared workspace, with its whole environment. */
export interface StepsSpec {
  /** The working directory (CI_PROJECT_DIR); must exist. */
  workspace: string;
  beforeScript: string[];
  script: string[];
  afterScript: string[];
  /** The job's whole environment: the executor passes exactly this and adds nothing secret. */
  env: Record<string, string>;
  /** Limit for before_script + script together. */
  timeoutMs: number;
  /** Limit for after_script; 5 minutes when absent, as GitLab. */
  afterScriptTimeoutMs?: number;
}

export interface RunIO {
  /** Called with stdout+stderr text in arrival order. */
  onOutput(text: string): void;
  /** Aborting it cancels the job. */
  signal: AbortSignal;
}

export type RunOutcome = 'success' | 'failed' | 'timeout' | 'canceled';

export interface RunResult {
  /** The script's exit code; null when it was killed for timeout or cancel, or could not start. */
  exitCode: number | null;
  outcome: RunOutcome;
  durationMs: number;
}

export interface Executor {
  readonly name: 'shell' | 'sandbox';
  run(spec: StepsSpec, io: RunIO): Promise<RunResult>;
}
