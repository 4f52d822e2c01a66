// Runs one claimed job in a prepared workspace with GitLab Runner's order of work: fetch the
// artifacts of dependencies, restore caches, run the steps (log masked and chunked), then upload
// artifacts and save caches as their `when` says. The same runner serves agents (a server
// backend) and `tandem exec` (a local backend), so both behave exactly alike.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { collectFiles, restoreFiles, storeFiles, type BlobStore, type ManifestEntry } from '../artifacts/index.js';
import {
  containerJobOf,
  createMasker,
  LogChunker,
  type ContainerExecutor,
  type ContainerRun,
  type Executor,
  type LogChunk,
  type RunResult,
} from '../executor/index.js';
import { expandVariables, resolveVariables } from '../pipeline/variables.js';
import type { CacheSpec, CompiledJob } from '../pipeline/types.js';
import { ROLLBACK_OF_VARIABLE, type CompletionStatus, type DependencyArtifacts, type JobVariable } from '../api/protocol.js';
import { runDeployPhase, type DeployBackend } from './deploy-phase.js';

/** Where a job's outputs go: a server (agents) or the local disk (`tandem exec`). */
export interface JobBackend {
  blobs: BlobStore;
  sendLog(chunks: LogChunk[]): Promise<void>;
  /** Extends the lease; true when the job was canceled on the server. */
  heartbeat(): Promise<{ cancelRequested: boolean }>;
  saveArtifacts(files: ManifestEntry[], expireInSeconds: number | null): Promise<void>;
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

const GREEN = '\x1b[32;1m';
const YELLOW = '\x1b[0;33m';
const RED = '\x1b[31;1m';
const RESET = '\x1b[0;m';

/** GitLab forbids "/" in cache keys; other unusual characters would not survive a URL either. */
export function sanitizeCacheKey(key: string): string {
  const cleaned = key
    .replace(/[^\w.\-:]/g, '_')
    .replace(/\.\.+/g, '_')
    .slice(0, 200);
  return cleaned === '' ? 'default' : cleaned;
}

/** `key: {files: [...]}`: a digest of those files' contents, so the cache changes when they do. */
async function resolveCacheKey(spec: CacheSpec, workspace: string, env: Record<string, string>): Promise<string> {
  if (typeof spec.key === 'string') return sanitizeCacheKey(expandVariables(spec.key, env) || 'default');
  const hash = createHash('sha256');
  for (const file of [...spec.key.files].sort()) {
    hash.update(file + '\0');
    try {
      hash.update(await readFile(join(workspace, file)));
    } catch {
      hash.update('<missing>');
    }
  }
  const digest = hash.digest('hex').slice(0, 40);
  return sanitizeCacheKey(spec.key.prefix ? `${spec.key.prefix}-${digest}` : digest);
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

/** Artifact and cache paths may name variables ($CI_JOB_NAME/out); GitLab expands them at run time. */
function expandAll(patterns: string[], env: Record<string, string>): string[] {
  return patterns.map((p) => expandVariables(p, env));
}

function whenMatches(when: 'on_success' | 'on_failure' | 'always', succeeded: boolean): boolean {
  return when === 'always' || (when === 'on_success') === succeeded;
}

export async function runJob(input: RunJobInput): Promise<JobOutcome> {
  const { job, workspace, backend } = input;
  const secrets = input.variables.filter((v) => v.masked).map((v) => v.value);
  const secretKeys = new Set(input.variables.filter((v) => v.masked || v.file || v.key === 'DOCKER_AUTH_CONFIG').map((v) => v.key));
  const masker = createMasker(secrets);
  let sending: Promise<void> = Promise.resolve();
  let logError: unknown = null;
  const chunker = new LogChunker({
    onChunk: (chunk) => {
      // Chunks go out in order; after a failure (the outbox could not write) the rest of the log is
      // dropped, and the job and its result go on.
      sending = sending
        .then(() => (logError === null ? backend.sendLog([chunk]) : undefined))
        .catch((err: unknown) => {
          logError ??= err;
        });
    },
  });
  const write = (text: string) => chunker.push(masker.push(text));
  const section = (text: string) => write(`${GREEN}${text}${RESET}\n`);

  const image = job.image ?? input.container?.defaultImage ?? null;
  const container = image !== null ? (input.container ?? null) : null;
  const executor = container ?? input.executor;

  // Variables: later entries win; file variables become paths to files holding their value.
  await mkdir(input.scratchDir, { recursive: true, mode: 0o700 });
  // An image brings its own PATH, HOME...: the agent host's environment stays outside it.
  const raw: Record<string, string> = container ? {} : { ...input.baseEnv };
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

  const cancel = new AbortController();
  input.signal?.addEventListener('abort', () => cancel.abort(), { once: true });
  let canceledByServer = false;
  let lostClaim = false;
  // One heartbeat in flight at a time: during a server outage a request retries for a while, and
  // piling up more behind it would only flood the server when it comes back.
  const beating = new AbortController();
  const heartbeats = (async () => {
    while (!beating.signal.aborted) {
      await sleep(input.heartbeatMs, undefined, { signal: beating.signal }).catch(() => undefined);
      if (beating.signal.aborted) return;
      try {
        const r = await backend.heartbeat();
        if (r.cancelRequested && !cancel.signal.aborted) {
          canceledByServer = true;
          cancel.abort();
        }
      } catch (err) {
        // A stale claim means another agent owns the job now: stop at once, report nothing.
        if ((err as { status?: number }).status === 409) {
          lostClaim = true;
          cancel.abort();
        }
      }
    }
  })();

  let result: RunResult = { exitCode: null, outcome: 'failed', durationMs: 0 };
  let failureReason: string | null = null;
  let phase: 'prepare' | 'steps' | 'upload' | 'deploy' = 'prepare';
  const mounts = fileVars.length > 0 ? [input.scratchDir] : [];
  try {
    write(`Running with Tandem on ${input.agentName} (executor: ${executor.name})\n`);
    if (env.GIT_STRATEGY === 'none') {
      section('Skipping Git repository setup');
      await mkdir(workspace, { recursive: true });
    } else {
      section(`Checking out ${input.sha.slice(0, 8)}`);
      await input.prepareWorkspace();
      mounts.push(...(await borrowedObjectDirs(workspace)));
    }
    if (!container && (job.image !== null || (job.services ?? []).length > 0)) {
      write(
        `${YELLOW}WARNING: image and services are ignored: this agent has no container engine, so the ${executor.name} executor runs the job on the agent host${RESET}\n`,
      );
    }
    const containerRun: ContainerRun | undefined = container
      ? {
          job: containerJobOf(image, job.services, env),
          jobId: input.jobId,
          // GitLab gives services only the job's public variables: no secrets, no files.
          serviceEnv: Object.fromEntries(Object.entries(env).filter(([key]) => !secretKeys.has(key))),
        }
      : undefined;
    for (const dep of input.dependencies) {
      if (dep.files.length === 0) continue;
      section(`Downloading artifacts from ${dep.name} (job ${dep.jobId}): ${dep.files.length} files`);
      await restoreFiles(workspace, dep.files, (digest) => backend.blobs.get(digest));
    }
    for (const cache of job.cache) {
      if (cache.policy === 'push') continue;
      const key = await resolveCacheKey(cache, workspace, env);
      let restored = false;
      for (const candidate of [key, ...cache.fallbackKeys.map(sanitizeCacheKey)]) {
        const files = await backend.getCache(candidate);
        if (!files) continue;
        section(`Restoring cache ${candidate}: ${files.length} files`);
        await restoreFiles(workspace, files, (digest) => backend.blobs.get(digest));
        restored = true;
        break;
      }
      if (!restored) write(`${YELLOW}No cache found for ${key}${RESET}\n`);
    }

    phase = 'steps';
    result = await executor.run(
      {
        workspace,
        beforeScript: job.beforeScript,
        script: job.script,
        afterScript: job.afterScript,
        env,
        timeoutMs: input.timeoutSeconds * 1000,
        mounts,
        container: containerRun,
      },
      { onOutput: write, signal: cancel.signal },
    );
    if (lostClaim) return { status: 'failed', exitCode: null, failureReason: 'stale_claim' };
    const succeeded = result.outcome === 'success';
    phase = 'upload';

    if (job.artifacts && whenMatches(job.artifacts.when, succeeded)) {
      section('Uploading artifacts');
      const { files, warnings } = await collectFiles(workspace, {
        ...job.artifacts,
        paths: expandAll(job.artifacts.paths, env),
        exclude: expandAll(job.artifacts.exclude, env),
      });
      for (const w of warnings) write(`${YELLOW}WARNING: ${w}${RESET}\n`);
      const manifest = await storeFiles(files, backend.blobs);
      await backend.saveArtifacts(manifest, job.artifacts.expireInSeconds);
      write(`Uploaded ${manifest.length} artifact files\n`);
    }
    for (const cache of job.cache) {
      if (cache.policy === 'pull' || !whenMatches(cache.when, succeeded)) continue;
      const key = await resolveCacheKey(cache, workspace, env);
      section(`Saving cache ${key}`);
      const { files, warnings } = await collectFiles(workspace, {
        paths: expandAll(cache.paths, env),
        exclude: [],
        untracked: cache.untracked,
      });
      for (const w of warnings) write(`${YELLOW}WARNING: ${w}${RESET}\n`);
      await backend.putCache(key, await storeFiles(files, backend.blobs));
    }
    if (job.deploy !== null && succeeded) {
      phase = 'deploy';
      const environment = job.environment?.name ?? 'default';
      if (!backend.deploy || !input.deployStateDir) {
        write(`${YELLOW}WARNING: deploy is skipped: only agents of a server deploy (releases live on the server)${RESET}\n`);
      } else {
        section(`Deploying to ${environment}`);
        const deployed = await runDeployPhase({
          deploy: job.deploy,
          rollbackOf: env[ROLLBACK_OF_VARIABLE] ? Number(env[ROLLBACK_OF_VARIABLE]) : null,
          workspace,
          env,
          backend: backend.deploy,
          blobs: backend.blobs,
          stateDir: join(input.deployStateDir, environment.replace(/[^\w.-]/g, '_')),
          log: (line) => write(`${line}\n`),
          signal: cancel.signal,
        });
        if (!deployed.ok) {
          write(`${RED}ERROR: deploy failed: ${deployed.reason}${RESET}\n`);
          failureReason = 'deployment_failure';
        }
      }
    }
  } catch (err) {
    write(`${RED}ERROR: ${(err as Error).message}${RESET}\n`);
    if (result.outcome === 'success') result = { ...result, outcome: 'failed' };
    // GitLab's reasons: trouble before the script is the runner's; after it, the artifacts'.
    failureReason = phase === 'deploy' ? 'deployment_failure' : phase === 'upload' ? 'archived_failure' : 'runner_system_failure';
  } finally {
    // Not awaited: a heartbeat stuck retrying against a lost server must not hold up the result.
    beating.abort();
    void heartbeats;
    await rm(input.scratchDir, { recursive: true, force: true });
  }

  const outcome = outcomeOf(result, canceledByServer, failureReason);
  const why =
    outcome.failureReason === 'deployment_failure'
      ? ': deployment failed'
      : outcome.exitCode !== null
        ? `: exit code ${outcome.exitCode}`
        : '';
  write(
    outcome.status === 'success'
      ? `${GREEN}Job succeeded${RESET}\n`
      : `${RED}ERROR: Job ${outcome.status === 'canceled' ? 'canceled' : 'failed'}${why}${RESET}\n`,
  );
  chunker.push(masker.flush());
  chunker.close();
  await sending;
  return outcome;
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
