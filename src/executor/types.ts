import type { ContainerJob } from './container-spec.js';

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
  /**
   * Host paths the job refers to besides the workspace (the file variables' directory, the mirror
   * objects a workspace borrows through git alternates), shown read-only at the same path by the
   * sandbox and container executors; the shell executor sees the whole host anyway.
   */
  mounts?: string[];
  /** What the container executor needs besides the steps; the host executors ignore it. */
  container?: ContainerRun;
}

export interface ContainerRun {
  /** The image and services, variables expanded. */
  job: ContainerJob;
  /** Labels the containers (with the agent's owner label) and names them. */
  jobId: number;
  /** What services see: the job's variables without its secrets, as GitLab passes only public ones. */
  serviceEnv: Record<string, string>;
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
  readonly name: 'shell' | 'sandbox' | 'container';
  run(spec: StepsSpec, io: RunIO): Promise<RunResult>;
}
