// `tandem exec`: run a pipeline file on this machine without a server, like gitlab-ci-local. It
// uses the real scheduler over an in-memory database and the agents' job runner and executors,
// so a pipeline behaves here exactly as it will on a Tandem server.
import { execFile } from 'node:child_process';
import { constants as fsConstants, createReadStream } from 'node:fs';
import { copyFile, cp, lstat, mkdir, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Readable } from 'node:stream';
import { FsBlobStore, type ManifestEntry } from '../artifacts/index.js';
import { runJob, type JobBackend, type JobOutcome } from '../agent/index.js';
import type { DependencyArtifacts, JobVariable } from '../api/index.js';
import { checkDeployBlock } from '../deploy/index.js';
import { DomainError } from '../errors.js';
import { createExecutors, type ContainerSettings, type ExecutorKind } from '../executor/index.js';
import {
  compilePipeline,
  formatDiagnostic,
  inheritedGlobals,
  jobVariables,
  parseRawCommit,
  predefinedVariables,
  type CommitInfo,
  type CompileContext,
} from '../pipeline/index.js';
import {
  claimJob,
  completeJob,
  createPipeline,
  DependencyUnavailableError,
  endTriggerJob,
  getPipeline,
  getPipelineRow,
  jobDependencies,
  playJob,
  registerAgent,
  promoteScheduled,
  replaceArtifactFiles,
  saveJobDotenv,
  saveJobImages,
  storedPipelineVariables,
  type JobDependencies,
} from '../scheduler/index.js';
import { recordCoverageReport, saveJunitReports } from '../reports/index.js';
import { openStore, type Store } from '../store/index.js';

const git = promisify(execFile);

export interface ExecOptions {
  /** The pipeline file; its directory is the project root. */
  file: string;
  /** Run only these jobs (and nothing they need): gitlab-ci-local's `job` arguments. */
  only?: string[];
  /** Manual jobs to play. */
  manual?: string[];
  concurrency: number;
  executor: ExecutorKind;
  /** Container engine settings; absent, jobs that name an image run here on the host with a warning. */
  container?: Omit<ContainerSettings, 'owner' | 'agentName'>;
  variables: Record<string, string>;
  /** Reads include:project, component, remote and template files (the CLI's IncludeResolver); without it they are errors. */
  readIncludeFile?: CompileContext['readIncludeFile'];
  /** Run a server's job again (`tandem exec --from-job`): its variables and artifacts instead of a local run's. */
  reproduce?: Reproduction;
  /** Per-job output; `tandem exec` prints it, tests collect it. */
  onLog(job: string, text: string): void;
  onJobStart?(job: string): void;
  onJobEnd?(job: string, status: string, seconds: number): void;
}

/**
 * A job of a server run again here. The pipeline file is compiled with the server pipeline's
 * predefined variables (its ref, source, merge request), so `rules:` decide as they did there,
 * and the job (named in `only`) gets the server's variables in the server's order, with only its
 * paths (CI_PROJECT_DIR...) its own, and the artifacts its dependencies left on the server.
 */
export interface Reproduction {
  predefined: Record<string, string>;
  /** The server pipeline's own variables (global and trigger ones), which `rules:` may read. */
  pipelineVariables: Record<string, string>;
  /** In precedence order, after the per-job ones: the pipeline's, the job's, dotenv, the repository's. */
  variables: JobVariable[];
  dependencies: DependencyArtifacts[];
  /** The bytes of a dependency's file; checked against its digest and size as they are stored. */
  download(dependency: DependencyArtifacts, file: ManifestEntry): Promise<Readable>;
}

export interface ExecResult {
  status: string;
  jobs: { name: string; stage: string; status: string; seconds: number | null; allowFailure: boolean }[];
}

// Exec's own state (workspaces, blobs, cache) lives in the project; it is never part of the project.
const STATE_DIR = '.tandem-exec';
// No server runs: CI_SERVER_URL and the page URLs (CI_JOB_URL...) point at a placeholder.
const EXEC_SERVER_URL = 'http://localhost';
/** Trigger jobs are skipped here: downstream pipelines are made by a server (src/scheduler/downstream.ts). */
const TRIGGER_NEEDS_SERVER =
  'skipped: trigger jobs (child and multi-project pipelines) need a Tandem server; tandem exec runs the jobs of this file only';

async function gitInfo(root: string): Promise<{ sha: string; branch: string; files: string[] | null; commit: CommitInfo | null }> {
  const out = async (...args: string[]) => (await git('git', args, { cwd: root, maxBuffer: 64 * 1024 * 1024 })).stdout;
  // The four questions at once: each is a git process, and asked one after another they were a
  // tenth of a second of every run's start.
  const [listed, head, symbolic, raw] = await Promise.allSettled([
    out('ls-files', '-co', '--exclude-standard', '-z'),
    out('rev-parse', '--verify', '--quiet', 'HEAD'),
    out('symbolic-ref', '--short', '--quiet', 'HEAD'),
    // Not trimmed: the message is kept exactly as committed (CI_COMMIT_MESSAGE).
    out('cat-file', 'commit', 'HEAD'),
  ]);
  if (listed.status === 'rejected') return { sha: '0'.repeat(40), branch: 'main', files: null, commit: null };
  const files = listed.value.split('\0').filter((f) => f && !f.startsWith(`${STATE_DIR}/`));
  // A fresh repository has no commit yet and a detached HEAD has no branch; neither stops a run.
  const sha = head.status === 'fulfilled' ? head.value.trim() : '0'.repeat(40);
  const branch = symbolic.status === 'fulfilled' ? symbolic.value.trim() : 'detached';
  return { sha, branch, files, commit: raw.status === 'fulfilled' && head.status === 'fulfilled' ? parseRawCommit(raw.value) : null };
}

/** File copies in flight at once: enough to keep libuv's four threads busy on a large tree. */
const COPY_PARALLELISM = 8;

/** The job's workspace: the working tree as it is now (uncommitted changes included), without ignored files. */
async function copyWorkingTree(root: string, files: string[] | null, dest: string): Promise<void> {
  await mkdir(dest, { recursive: true });
  if (files === null) {
    // Not a git repository: everything but exec's own state, which holds this very workspace.
    for (const entry of await readdir(root)) {
      if (entry !== STATE_DIR) await cp(join(root, entry), join(dest, entry), { recursive: true, verbatimSymlinks: true });
    }
    return;
  }
  // Every directory once, not once per file.
  for (const dir of new Set(files.map((file) => dirname(join(dest, file))))) await mkdir(dir, { recursive: true });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const file = files[next++];
      await copyEntry(join(root, file), join(dest, file));
    }
  };
  await Promise.all(Array.from({ length: Math.min(COPY_PARALLELISM, files.length) }, worker));
}

/**
 * One entry git lists: a symlink as the link itself, a submodule's directory whole, a file by
 * copyFile (cheaper than cp, which inspects source and target first), cloned where the file
 * system can (btrfs, XFS) and copied elsewhere.
 */
async function copyEntry(from: string, to: string): Promise<void> {
  try {
    const entry = await lstat(from);
    if (entry.isSymbolicLink()) await symlink(await readlink(from), to);
    else if (entry.isDirectory()) await cp(from, to, { recursive: true, verbatimSymlinks: true });
    else await copyFile(from, to, fsConstants.COPYFILE_FICLONE);
  } catch (err) {
    // A file deleted but not yet staged is still listed by git; it is simply absent from the copy.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function localBackend(store: Store, blobs: FsBlobStore, cacheDir: string, jobId: number, onLog: (text: string) => void): JobBackend {
  const cacheFile = (key: string) => join(cacheDir, `${key}.json`);
  return {
    blobs,
    async sendLog(chunks) {
      for (const c of chunks) onLog(c.data);
    },
    async heartbeat() {
      return { cancelRequested: false };
    },
    async saveArtifacts(files: ManifestEntry[], expireInSeconds) {
      const now = Date.now();
      await replaceArtifactFiles(store, { jobId, files, expiresAt: expireInSeconds === null ? null : now + expireInSeconds * 1000, now });
    },
    async saveDotenv(variables) {
      await saveJobDotenv(store, jobId, variables);
    },
    async saveImages(images) {
      await saveJobImages(store, jobId, images);
    },
    saveCoverageReport(path, absPath) {
      return recordCoverageReport(store, { jobId, path, source: createReadStream(absPath), now: Date.now() });
    },
    saveJunitReports(files) {
      return saveJunitReports(store, { jobId, files, open: (digest) => blobs.get(digest), now: Date.now() });
    },
    async getCache(key) {
      try {
        return JSON.parse(await readFile(cacheFile(key), 'utf8')) as ManifestEntry[];
      } catch {
        return null;
      }
    },
    async putCache(key, files) {
      await mkdir(cacheDir, { recursive: true });
      await writeFile(cacheFile(key), JSON.stringify(files));
    },
  };
}

export async function execPipeline(opts: ExecOptions): Promise<ExecResult> {
  const file = resolve(opts.file);
  const root = dirname(file);
  const configPath = basename(file);
  const stateDir = join(root, STATE_DIR);
  const info = await gitInfo(root);
  const now = Date.now();
  const predefined = predefinedVariables({
    sha: info.sha,
    beforeSha: null,
    ref: info.branch,
    isTag: false,
    defaultBranch: info.branch,
    pipelineId: 1,
    pipelineSource: 'push',
    pipelineCreatedAt: new Date(now),
    repoName: basename(root),
    repoUrl: root,
    serverUrl: EXEC_SERVER_URL,
    configPath,
    commit: info.commit,
  });
  const compiled = await compilePipeline(configPath, await readFile(file, 'utf8'), {
    readFile: (path) => readFile(join(root, path), 'utf8').catch(() => null),
    listFiles: async () => info.files ?? [],
    variables: opts.reproduce?.predefined ?? predefined,
    userVariables: { ...opts.reproduce?.pipelineVariables, ...opts.variables },
    changedFiles: async () => null,
    checkDeployBlock,
    readIncludeFile: opts.readIncludeFile,
  });
  if (!compiled.ok) {
    if (compiled.skipped) throw new Error(`workflow:rules: ${compiled.reason}`);
    throw new Error(compiled.errors.map(formatDiagnostic).join('\n'));
  }
  for (const w of compiled.pipeline.warnings) opts.onLog('(pipeline)', formatDiagnostic(w) + '\n');
  const pipelineDef = compiled.pipeline;
  if (opts.only && opts.only.length > 0) {
    const wanted = new Set(opts.only);
    const unknown = opts.only.filter((n) => !pipelineDef.jobs.some((j) => j.name === n || j.baseName === n));
    if (unknown.length > 0) throw new Error(`no job named ${unknown.join(', ')} in ${configPath}`);
    // A job run alone starts at once, as gitlab-ci-local does: its needs and stages are not run.
    pipelineDef.jobs = pipelineDef.jobs.filter((j) => wanted.has(j.name) || wanted.has(j.baseName)).map((j) => ({ ...j, needs: [] }));
  }

  // The migrated empty database is kept in exec's state: later runs start from it without migrating.
  const store = await openStore(':memory:', { schemaImageDir: join(stateDir, 'schema') });
  const blobs = new FsBlobStore(join(stateDir, 'blobs'));
  if (opts.reproduce) await fetchDependencies(opts.reproduce, blobs);
  // Looking for an engine costs engine commands: only when a job can use one.
  const wantsContainers =
    opts.executor === 'container' || opts.container?.defaultImage !== undefined || pipelineDef.jobs.some((j) => j.image !== null);
  const container = wantsContainers && opts.container ? { ...opts.container, owner: stateDir, agentName: 'tandem exec' } : undefined;
  // Exec's state dir owns its containers: a run that was killed leaves nothing the next one keeps.
  const executors = await createExecutors(opts.executor, { container });
  await executors.container?.removeLeftovers();
  try {
    const repo = await store.db
      .insertInto('repos')
      .values({
        name: basename(root),
        url: root,
        default_branch: info.branch,
        poll_interval_seconds: 0,
        webhook_secret: null,
        branch_filter: null,
        tag_filter: null,
        known_refs: '{}',
        last_polled_at: null,
        created_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    const { pipelineId } = await createPipeline(store, {
      repoId: repo.id,
      ref: info.branch,
      isTag: false,
      sha: info.sha,
      beforeSha: null,
      commit: info.commit,
      source: 'push',
      compiled: pipelineDef,
      variables: opts.variables,
      defaultTimeoutSeconds: 3600,
      now,
    });
    // What the jobs see, read from the stored pipeline as the server reads it; nothing is protected here.
    const stored = (await getPipelineRow(store, pipelineId))!;
    const jobPredefined = storedPipelineVariables(stored, repo, { externalUrl: EXEC_SERVER_URL, refProtected: false });
    const manual = new Set(opts.manual ?? []);
    const played = new Set<number>();
    await rm(join(stateDir, 'builds'), { recursive: true, force: true });

    // The local agent stands for every runner the file names, as a laptop run has no other.
    const everyTag = [...new Set(pipelineDef.jobs.flatMap((j) => j.tags))];
    // Claims go only to an agent that exists (claim-job.ts): the local one is registered like any other.
    const agentId = await registerAgent(store.db, {
      name: 'tandem exec',
      tokenHash: 'local',
      tags: everyTag,
      concurrency: 1,
      version: 'local',
      now,
    });
    const runOne = async (): Promise<boolean> => {
      const claimed = await claimJob(store, { agentId, agentTags: everyTag, leaseMs: 24 * 3600_000, now: Date.now() });
      if (!claimed) return false;
      const { job, spec } = claimed;
      const workspace = join(stateDir, 'builds', String(job.id));
      const started = Date.now();
      opts.onJobStart?.(job.name);
      const finish = async (outcome: JobOutcome): Promise<true> => {
        await completeJob(store, { jobId: job.id, agentId, fencingToken: claimed.fencingToken, ...outcome, now: Date.now() });
        opts.onJobEnd?.(job.name, outcome.status, (Date.now() - started) / 1000);
        return true;
      };
      let dependencies: JobDependencies;
      try {
        // A reproduced job's dependencies ran on the server: their dotenv is among its variables.
        dependencies = opts.reproduce
          ? { artifacts: opts.reproduce.dependencies, dotenv: {} }
          : await jobDependencies(store, claimed.pipeline, spec);
      } catch (err) {
        // `needs:project` reaches no other repository on a laptop: the job fails at its start, as on a server.
        if (!(err instanceof DependencyUnavailableError)) throw err;
        opts.onLog(job.name, `ERROR: Job failed: ${err.message}\n`);
        return finish({ status: 'failed', exitCode: null, failureReason: 'missing_dependency_failure' });
      }
      const perJob = jobVariables({
        jobId: job.id,
        jobName: job.name,
        stage: job.stage,
        startedAt: new Date(started),
        timeoutSeconds: job.timeout_seconds,
        projectDir: workspace,
        buildsDir: join(stateDir, 'builds'),
        nodeIndex: spec.parallel?.index,
        nodeTotal: spec.parallel?.total,
        runnerTags: [],
        serverUrl: EXEC_SERVER_URL,
        environment: spec.environment,
      });
      const plain = (values: Record<string, string>): JobVariable[] =>
        Object.entries(values).map(([key, value]) => ({ key, value, masked: false, file: false }));
      const vars: JobVariable[] = opts.reproduce
        ? [...plain({ ...opts.reproduce.predefined, ...perJob }), ...opts.reproduce.variables, ...plain(opts.variables)]
        : plain({
            ...jobPredefined,
            ...perJob,
            ...inheritedGlobals(pipelineDef.variables, spec.inheritVariables),
            ...spec.variables,
            ...dependencies.dotenv,
            ...opts.variables,
          });
      const outcome = await runJob({
        jobId: job.id,
        job: spec,
        variables: vars,
        dependencies: dependencies.artifacts,
        timeoutSeconds: job.timeout_seconds,
        heartbeatMs: 3600_000,
        workspace,
        sha: info.sha,
        prepareWorkspace: () => copyWorkingTree(root, info.files, workspace),
        scratchDir: join(stateDir, 'tmp', String(job.id)),
        executor: executors.host,
        container: executors.container,
        backend: localBackend(store, blobs, join(stateDir, 'cache'), job.id, (text) => opts.onLog(job.name, text)),
        baseEnv: Object.fromEntries(
          Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !e[0].startsWith('TANDEM_')),
        ),
        agentName: 'tandem exec',
      });
      return finish(outcome);
    };

    const slots = Array.from({ length: Math.max(1, opts.concurrency) }, async () => {
      for (;;) {
        if (await runOne()) continue;
        const state = await getPipeline(store, pipelineId);
        if (!state) return;
        for (const j of state.jobs) {
          if (j.status === 'pending' && j.is_trigger === 1) {
            if (played.has(j.id)) continue;
            played.add(j.id);
            opts.onLog(j.name, `${TRIGGER_NEEDS_SERVER}\n`);
            // Only a job that left `pending` meanwhile is no error; anything else would leave the run waiting forever.
            await endTriggerJob(store, { jobId: j.id, status: 'skipped', message: TRIGGER_NEEDS_SERVER, now: Date.now() }).catch(
              (err: unknown) => {
                if (!(err instanceof DomainError && err.kind === 'conflict')) throw err;
              },
            );
            continue;
          }
          // Marked before the await: another idle worker read the same state and must not play it too.
          if (j.status !== 'manual' || !manual.has(j.name) || played.has(j.id)) continue;
          played.add(j.id);
          await playJob(store, j.id, Date.now());
        }
        await promoteScheduled(store, Date.now());
        const waiting = state.jobs.some(
          (j) =>
            j.status === 'pending' || j.status === 'running' || j.status === 'scheduled' || (j.status === 'manual' && manual.has(j.name)),
        );
        if (!waiting) return;
        await new Promise((r) => setTimeout(r, 20));
      }
    });
    await Promise.all(slots);
    const final = await getPipeline(store, pipelineId);
    if (!final) throw new Error('pipeline vanished');
    return {
      status: final.pipeline.status,
      jobs: final.jobs
        .filter((j) => j.retried === 0)
        .map((j) => ({
          name: j.name,
          stage: j.stage,
          status: j.status,
          allowFailure: j.allow_failure === 1,
          seconds: j.started_at !== null && j.finished_at !== null ? (j.finished_at - j.started_at) / 1000 : null,
        })),
    };
  } finally {
    await store.close();
  }
}

/** Puts the files of a reproduced job's dependencies into exec's blob store, each checked by digest and size. */
async function fetchDependencies(reproduce: Reproduction, blobs: FsBlobStore): Promise<void> {
  for (const dependency of reproduce.dependencies) {
    for (const file of dependency.files) {
      if (await blobs.has(file.digest)) continue;
      await blobs.put(await reproduce.download(dependency, file), { digest: file.digest, size: file.size });
    }
  }
}
