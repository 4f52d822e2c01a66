// Runs one claimed job in a prepared workspace with GitLab Runner's order of work: write the
// variables, check the commit out, fetch the artifacts of dependencies and restore caches
// (job-files.ts), run the steps (log masked and chunked: job-log.ts; heartbeats and cancel:
// job-watch.ts), then upload artifacts and save caches as their `when` says, deploy, and report.
// The same runner serves agents (a server backend) and `tandem exec` (a local backend), so both
// behave exactly alike.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { BlobStore, ManifestEntry } from '../artifacts/index.js';
import {
  containerJobOf,
  type ContainerExecutor,
  type ContainerRun,
  type Executor,
  type LogChunk,
  type RunIO,
  type RunResult,
} from '../executor/index.js';
import { resolveVariables } from '../pipeline/index.js';
import type { CompiledJob } from '../pipeline/index.js';
import {
  ROLLBACK_OF_VARIABLE,
  type CompletionStatus,
  type CoverageReportJson,
  type DependencyArtifacts,
  type JobImageJson,
  type JobVariable,
  type JunitReportsResponse,
} from '../api/index.js';
import { runDeployPhase, type DeployBackend } from './deploy-phase.js';
import { pinImage } from './pin-image.js';
import {
  downloadDependencyArtifacts,
  restoreCaches,
  saveCaches,
  uploadArtifacts,
  uploadCoverageReport,
  uploadDotenvReport,
  uploadJunitReports,
  type FilesScope,
} from './job-files.js';
import { pinJobImages } from './job-images.js';
import { openJobLog, type JobLog } from './job-log.js';
import { watchJob } from './job-watch.js';

/** Where a job's outputs go: a server (agents) or the local disk (`tandem exec`). */
export interface JobBackend {
  blobs: BlobStore;
  /** `last`: the log ends with these chunks (the job's result follows). */
  sendLog(chunks: LogChunk[], last: boolean): Promise<void>;
  /** Extends the lease; true when the job was canceled on the server. */
  heartbeat(): Promise<{ cancelRequested: boolean }>;
  saveArtifacts(files: ManifestEntry[], expireInSeconds: number | null): Promise<void>;
  /** The variables of the job's dotenv report, for the jobs that take its artifacts. */
  saveDotenv(variables: Record<string, string>): Promise<void>;
  /** The job's `artifacts:images`, pinned by digest; they go with its completion. */
  saveImages(images: JobImageJson[]): Promise<void>;
  /** Streams one Cobertura file (`artifacts:reports:coverage_report`) to be summarized. */
  saveCoverageReport(path: string, absPath: string, size: number): Promise<CoverageReportJson>;
  /** The job's JUnit report files (blobs uploaded), read where the job's tests are stored. */
  saveJunitReports(files: ManifestEntry[]): Promise<JunitReportsResponse>;
  getCache(key: string): Promise<ManifestEntry[] | null>;
  putCache(key: string, files: ManifestEntry[]): Promise<void>;
  /** Releases on the server; absent where jobs cannot deploy (`tandem exec`). */
  deploy?: DeployBackend;
}

export interface RunJobInput {
  jobId: number;
  job: CompiledJob;
  variables: JobVariable[];
  dependencies: DependencyArtifacts[];
  /** Values that are no variable but must never show in the log: the repository's credentials. */
  secrets?: string[];
  timeoutSeconds: number;
  heartbeatMs: number;
  workspace: string;
  /** Fills the workspace (a git checkout); runs inside the job so its errors reach the job log. */
  prepareWorkspace(): Promise<void>;
  /** What prepareWorkspace checks out, for the log. */
  sha: string;
  /** A directory outside the workspace for file variables; sandboxed and container jobs see it read-only. */
  scratchDir: string;
  /** Runs jobs without an image, and every job when `container` is absent. */
  executor: Executor;
  /** Runs jobs with an image (or every job, when it has a default image). */
  container?: ContainerExecutor | null;
  backend: JobBackend;
  /** Environment the job inherits (PATH, HOME...), already stripped of the agent's own secrets. */
  baseEnv: Record<string, string>;
  /** Aborted when the agent shuts down hard. */
  signal?: AbortSignal;
  agentName: string;
  /** Where deploy jobs keep agent-side state, one directory per environment. */
  deployStateDir?: string;
}

export interface JobOutcome {
  status: CompletionStatus;
  exitCode: number | null;
  failureReason: string | null;
}

/** Which part of the job was under way, for the failure reason of an error there. */
type Phase = 'prepare' | 'steps' | 'upload' | 'deploy';

// GitLab's reasons: trouble before the script is the runner's; after it, the artifacts'.
const FAILURE_REASON_OF_PHASE: Record<Phase, string> = {
  prepare: 'runner_system_failure',
  steps: 'runner_system_failure',
  upload: 'archived_failure',
  deploy: 'deployment_failure',
};

const NOT_RUN: RunResult = { exitCode: null, outcome: 'failed', durationMs: 0 };

export async function runJob(input: RunJobInput): Promise<JobOutcome> {
  const { job, workspace, backend } = input;
  const log = openJobLog([...input.variables.filter((v) => v.masked).map((v) => v.value), ...(input.secrets ?? [])], (chunks, last) =>
    backend.sendLog(chunks, last),
  );
  const runner = chooseRunner(input);
  const { env, mounts: fileMounts } = await writeVariables(input, runner.container !== null);
  const watch = watchJob(() => backend.heartbeat(), input.heartbeatMs, input.signal);

  let result = NOT_RUN;
  let failureReason: string | null = null;
  let phase: Phase = 'prepare';
  try {
    log.write(`Running with Tandem on ${input.agentName} (executor: ${runner.executor.name})\n`);
    const mounts = [...fileMounts, ...(await fetchSource(input, env, log))];
    const container = containerRunOf(input, runner, env, log);
    const files: FilesScope = { workspace, env, backend, log };
    await downloadDependencyArtifacts(input.dependencies, files);
    await restoreCaches(job.cache, files);

    phase = 'steps';
    result = await runScript(input, runner.executor, { env, mounts, container }, { onOutput: log.write, signal: watch.signal });
    if (watch.lostClaim()) return { status: 'failed', exitCode: null, failureReason: 'stale_claim' };
    const succeeded = result.outcome === 'success';

    phase = 'upload';
    await uploadArtifacts(job.artifacts, succeeded, files);
    await uploadDotenvReport(job.artifacts, files);
    await uploadCoverageReport(job.artifacts, files);
    await uploadJunitReports(job.artifacts, files);
    await pinJobImages(job.artifacts, succeeded, files, watch.signal);
    await saveCaches(job.cache, succeeded, files);
    if (job.deploy !== null && succeeded) {
      phase = 'deploy';
      failureReason = await deploy(input, env, watch.signal, log);
    }
  } catch (err) {
    log.error(`ERROR: ${(err as Error).message}`);
    if (result.outcome === 'success') result = { ...result, outcome: 'failed' };
    failureReason = FAILURE_REASON_OF_PHASE[phase];
  } finally {
    watch.stop();
    await rm(input.scratchDir, { recursive: true, force: true });
  }

  const outcome = outcomeOf(result, watch.canceledByServer(), failureReason);
  await reportCompletion(outcome, log);
  return outcome;
}

/** The executor that runs the job: the container one when the job, or the agent by default, names an image. */
interface Runner {
  image: unknown;
  container: ContainerExecutor | null;
  executor: Executor;
}

function chooseRunner(input: Pick<RunJobInput, 'job' | 'container' | 'executor'>): Runner {
  const image = input.job.image ?? input.container?.defaultImage ?? null;
  const container = image !== null ? (input.container ?? null) : null;
  return { image, container, executor: container ?? input.executor };
}

/**
 * The job's variables, later entries winning; file variables become paths to files in scratchDir
 * holding their value, and scratchDir then becomes a mount of the job.
 */
async function writeVariables(
  input: Pick<RunJobInput, 'variables' | 'scratchDir' | 'baseEnv'>,
  inContainer: boolean,
): Promise<{ env: Record<string, string>; mounts: string[] }> {
  await mkdir(input.scratchDir, { recursive: true, mode: 0o700 });
  // An image brings its own PATH, HOME...: the agent host's environment stays outside it.
  const raw: Record<string, string> = inContainer ? {} : { ...input.baseEnv };
  const fileVars: JobVariable[] = [];
  for (const v of input.variables) {
    if (v.file) fileVars.push(v);
    else raw[v.key] = v.value;
  }
  const env = resolveVariables(raw);
  for (const v of fileVars) {
    const path = join(input.scratchDir, v.key);
    await writeFile(path, v.value, { mode: 0o600 });
    env[v.key] = path;
  }
  return { env, mounts: fileVars.length > 0 ? [input.scratchDir] : [] };
}

/** Checks the commit out unless GIT_STRATEGY is none; returns the directories the job must see for git to work. */
async function fetchSource(
  input: Pick<RunJobInput, 'workspace' | 'sha' | 'prepareWorkspace'>,
  env: Record<string, string>,
  log: JobLog,
): Promise<string[]> {
  if (env.GIT_STRATEGY === 'none') {
    log.section('Skipping Git repository setup');
    await mkdir(input.workspace, { recursive: true });
    return [];
  }
  log.section(`Checking out ${input.sha.slice(0, 8)}`);
  await input.prepareWorkspace();
  return borrowedObjectDirs(input.workspace);
}

/**
 * The object directories a fresh checkout borrows through git alternates (the mirror's), which a
 * sandbox or container must show for git to work in the job. Read right after the checkout, before
 * anything from the job (artifacts, caches) reaches the workspace, so the paths are the agent's.
 */
async function borrowedObjectDirs(workspace: string): Promise<string[]> {
  const text = await readFile(join(workspace, '.git', 'objects', 'info', 'alternates'), 'utf8').catch(() => '');
  return text.split('\n').filter((line) => isAbsolute(line));
}

/** The image and services the container executor starts; none without one, which the log says when the job asked for them. */
function containerRunOf(
  input: Pick<RunJobInput, 'job' | 'jobId' | 'variables'>,
  runner: Runner,
  env: Record<string, string>,
  log: JobLog,
): ContainerRun | undefined {
  if (!runner.container) {
    if (input.job.image !== null || (input.job.services ?? []).length > 0) {
      log.notice(
        `WARNING: image and services are ignored: this agent has no container engine, so the ${runner.executor.name} executor runs the job on the agent host`,
      );
    }
    return undefined;
  }
  const secretKeys = new Set(input.variables.filter((v) => v.masked || v.file || v.key === 'DOCKER_AUTH_CONFIG').map((v) => v.key));
  return {
    job: containerJobOf(runner.image, input.job.services, env),
    jobId: input.jobId,
    // GitLab gives services only the job's public variables: no secrets, no files.
    serviceEnv: Object.fromEntries(Object.entries(env).filter(([key]) => !secretKeys.has(key))),
  };
}

/** before_script and script within the job's timeout, then after_script. */
function runScript(
  input: Pick<RunJobInput, 'job' | 'workspace' | 'timeoutSeconds'>,
  executor: Executor,
  setup: { env: Record<string, string>; mounts: string[]; container: ContainerRun | undefined },
  io: RunIO,
): Promise<RunResult> {
  const { job } = input;
  return executor.run(
    {
      workspace: input.workspace,
      beforeScript: job.beforeScript,
      script: job.script,
      afterScript: job.afterScript,
      env: setup.env,
      timeoutMs: input.timeoutSeconds * 1000,
      mounts: setup.mounts,
      container: setup.container,
    },
    io,
  );
}

/** Rolls the job's release out (or an older one back) on the server; returns the failure reason when that failed. */
async function deploy(
  input: Pick<RunJobInput, 'job' | 'workspace' | 'backend' | 'deployStateDir'>,
  env: Record<string, string>,
  signal: AbortSignal,
  log: JobLog,
): Promise<'deployment_failure' | null> {
  const { job, backend } = input;
  const environment = job.environment?.name ?? 'default';
  if (!backend.deploy || !input.deployStateDir) {
    log.notice('WARNING: deploy is skipped: only agents of a server deploy (releases live on the server)');
    return null;
  }
  log.section(`Deploying to ${environment}`);
  const deployed = await runDeployPhase({
    deploy: job.deploy,
    rollbackOf: env[ROLLBACK_OF_VARIABLE] ? Number(env[ROLLBACK_OF_VARIABLE]) : null,
    workspace: input.workspace,
    env,
    backend: backend.deploy,
    blobs: backend.blobs,
    stateDir: join(input.deployStateDir, environment.replace(/[^\w.-]/g, '_')),
    pinImage,
    log: (line) => log.write(`${line}\n`),
    signal,
  });
  if (deployed.ok) return null;
  log.error(`ERROR: deploy failed: ${deployed.reason}`);
  return 'deployment_failure';
}

/** The job's last line; then the rest of its log goes out before its outcome does. */
async function reportCompletion(outcome: JobOutcome, log: JobLog): Promise<void> {
  const why =
    outcome.failureReason === 'deployment_failure'
      ? ': deployment failed'
      : outcome.exitCode !== null
        ? `: exit code ${outcome.exitCode}`
        : '';
  if (outcome.status === 'success') log.section('Job succeeded');
  else log.error(`ERROR: Job ${outcome.status === 'canceled' ? 'canceled' : 'failed'}${why}`);
  await log.close();
}

function outcomeOf(result: RunResult, canceledByServer: boolean, failureReason: string | null): JobOutcome {
  switch (result.outcome) {
    case 'success':
      return { status: failureReason ? 'failed' : 'success', exitCode: result.exitCode, failureReason };
    case 'timeout':
      return { status: 'failed', exitCode: null, failureReason: 'job_execution_timeout' };
    case 'canceled':
      return canceledByServer
        ? { status: 'canceled', exitCode: null, failureReason: null }
        : { status: 'failed', exitCode: null, failureReason: 'runner_system_failure' };
    case 'failed':
      return { status: 'failed', exitCode: result.exitCode, failureReason: failureReason ?? 'script_failure' };
  }
}
