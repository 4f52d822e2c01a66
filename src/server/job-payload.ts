// What an agent receives when it claims a job: the compiled job, every variable in precedence order
// (with the job's CI_JOB_TOKEN) and the artifacts of the jobs it depends on.
import type { JobPayload, JobVariable } from '../api/index.js';
import { mintIdTokens } from '../auth/index.js';
import { pipelineProtectedRole } from '../auth/index.js';
import { gitCredentialsOf, registryPasswordOf, registryVariablesOf, repoVariablesFor } from '../repos/index.js';
import { inheritedGlobals, jobVariables } from '../pipeline/index.js';
import { isSshKey } from '../source/index.js';
import {
  appendLogChunks,
  completeJob,
  DependencyUnavailableError,
  jobDependencies,
  releaseClaim,
  storedPipelineVariables,
  type ClaimedJob,
  type JobDependencies,
} from '../scheduler/index.js';
import { readJobTags, readPipelineMergeRequest, readPipelineVariables } from '../store/index.js';
import type { ServerContext } from './context.js';
import { publishChanges } from './notify.js';

export function plain(vars: Record<string, string>): JobVariable[] {
  return Object.entries(vars).map(([key, value]) => ({ key, value, masked: false, file: false }));
}

/** A job as its variables are worked out from: the row, its compiled spec, its pipeline and repository. */
export type JobContext = Pick<ClaimedJob, 'job' | 'spec' | 'pipeline' | 'repo'>;

/**
 * A job's variables by where they come from, each layer ranking above the one before (GitLab's
 * precedence); `perJob` paths are placeholders the runner fills in. The job token and `id_tokens`
 * are not here: they are minted for a hand-out only.
 */
export interface JobVariableLayers {
  predefined: Record<string, string>;
  perJob: Record<string, string>;
  /** The pipeline's variables (the file's global ones and the trigger's) this job inherits. */
  pipeline: Record<string, string>;
  job: Record<string, string>;
  /** The dotenv reports of the jobs it depends on. */
  dotenv: Record<string, string>;
  /** The repository's CI/CD variables this pipeline gets (protected ones on protected refs only). */
  repo: (JobVariable & { protected: boolean })[];
  protectedRef: boolean;
}

export async function jobVariableLayers(
  ctx: ServerContext,
  { job, spec, pipeline, repo }: JobContext,
  dependencies: JobDependencies,
): Promise<JobVariableLayers> {
  const startedAt = new Date(job.started_at ?? ctx.clock.now());
  const protectedRef = (await pipelineProtectedRole(ctx.store.db, pipeline)) !== null;
  const repoVariables = await repoVariablesFor(ctx, {
    repoId: repo.id,
    protectedRef,
    fromFork: readPipelineMergeRequest(pipeline)?.fork === true,
  });
  return {
    predefined: {
      ...storedPipelineVariables(pipeline, repo, { externalUrl: ctx.externalUrl, refProtected: protectedRef }),
      ...registryVariablesOf(repo),
    },
    // The agent knows its own paths; these placeholders are replaced on the agent before the job runs.
    perJob: jobVariables({
      jobId: job.id,
      jobName: job.name,
      stage: job.stage,
      startedAt,
      timeoutSeconds: job.timeout_seconds,
      projectDir: '',
      buildsDir: '',
      nodeIndex: spec.parallel?.index,
      nodeTotal: spec.parallel?.total,
      runnerTags: readJobTags(job),
      serverUrl: ctx.externalUrl,
      environment: spec.environment,
    }),
    pipeline: inheritedGlobals(readPipelineVariables(pipeline), spec.inheritVariables),
    job: spec.variables,
    dotenv: dependencies.dotenv,
    repo: repoVariables.map((v) => ({
      key: v.key,
      value: v.value,
      masked: v.masked === 1,
      file: v.file === 1,
      protected: v.protected === 1,
    })),
    protectedRef,
  };
}

export async function buildJobPayload(ctx: ServerContext, claimed: ClaimedJob): Promise<JobPayload> {
  const { job, spec, pipeline, repo } = claimed;
  // First: a job whose artifacts from elsewhere are refused is failed at once, its token never sent.
  const dependencies = await jobDependencies(ctx.store, pipeline, spec);
  const layers = await jobVariableLayers(ctx, claimed, dependencies);
  // For the agent's fetch of this job's checkout only: the workspace's origin and CI_REPOSITORY_URL carry none.
  const credentials = await gitCredentialsOf(ctx, repo);
  const variables: JobVariable[] = [
    ...plain(layers.predefined),
    ...plain(layers.perJob),
    { key: 'CI_JOB_TOKEN', value: claimed.jobToken, masked: true, file: false },
    ...(await registryPasswordVariable(ctx, claimed)),
    ...plain(layers.pipeline),
    ...plain(layers.job),
    ...plain(layers.dotenv),
    ...layers.repo.map(({ key, value, masked, file }) => ({ key, value, masked, file })),
    ...(await idTokenVariables(ctx, claimed, layers.protectedRef)),
  ];
  return {
    jobId: job.id,
    pipelineId: pipeline.id,
    attempt: job.attempt,
    fencingToken: claimed.fencingToken,
    leaseMs: ctx.config.leaseSeconds * 1000,
    timeoutSeconds: job.timeout_seconds,
    repo: {
      name: repo.name,
      url: repo.url,
      ...(credentials === null ? {} : isSshKey(credentials) ? { sshKey: credentials } : { credentials }),
    },
    sha: pipeline.sha,
    ref: pipeline.ref,
    job: spec,
    variables,
    dependencies: dependencies.artifacts,
  };
}

/**
 * The payload of a job just claimed, or null when the job can not start: the artifacts it needs
 * from elsewhere (`needs:project`) are missing or refused. GitLab fails such a job when it starts
 * (missing_dependency_failure); here it fails before it reaches the agent, with the reason as its log.
 */
export async function handOutJob(ctx: ServerContext, claimed: ClaimedJob): Promise<JobPayload | null> {
  try {
    const payload = await buildJobPayload(ctx, claimed);
    publishChanges(ctx, claimed.changes);
    return payload;
  } catch (err) {
    if (!(err instanceof DependencyUnavailableError)) throw err;
    publishChanges(ctx, claimed.changes);
    const claim = { jobId: claimed.job.id, agentId: claimed.job.agent_id ?? 0, fencingToken: claimed.fencingToken };
    const line = `ERROR: Job failed: ${err.message}\n`;
    await appendLogChunks(ctx.store, { ...claim, chunks: [{ seq: 0, data: line }], now: ctx.clock.now() });
    ctx.hub.publish({ type: 'log', jobId: claim.jobId, seq: 0, data: line });
    const result = await completeJob(ctx.store, {
      ...claim,
      status: 'failed',
      exitCode: null,
      failureReason: 'missing_dependency_failure',
      now: ctx.clock.now(),
    });
    publishChanges(ctx, result.changes);
    return null;
  }
}

/**
 * Gives a claimed job back when it cannot reach its agent (the hand-out failed, or the agent hung
 * up while it was claimed): pending again at once, for the next waiter. Best effort: if the
 * database refuses this too, the lease frees the job as before.
 */
export async function giveBackClaim(ctx: ServerContext, claimed: ClaimedJob): Promise<void> {
  const claim = { jobId: claimed.job.id, agentId: claimed.job.agent_id ?? 0, fencingToken: claimed.fencingToken };
  try {
    const { released, changes } = await releaseClaim(ctx.store, { ...claim, now: ctx.clock.now() });
    publishChanges(ctx, [...claimed.changes, ...changes]);
    if (released) ctx.log.warn(claim, 'job given back: its hand-out did not reach the agent');
  } catch (err) {
    ctx.log.warn({ ...claim, err: (err as Error).message }, 'could not give back an undelivered job: its lease will free it');
  }
}

/** CI_REGISTRY_PASSWORD, masked; a fork's merge request gets none, as it gets no masked variable. */
async function registryPasswordVariable(ctx: ServerContext, { pipeline, repo }: ClaimedJob): Promise<JobVariable[]> {
  if (readPipelineMergeRequest(pipeline)?.fork === true) return [];
  const password = await registryPasswordOf(ctx, repo);
  return password === null ? [] : [{ key: 'CI_REGISTRY_PASSWORD', value: password, masked: true, file: false }];
}

/** The job's `id_tokens`, signed now (each attempt gets fresh ones), as masked variables. */
async function idTokenVariables(
  ctx: ServerContext,
  { job, spec, pipeline, repo }: ClaimedJob,
  protectedRef: boolean,
): Promise<JobVariable[]> {
  if (!spec.idTokens || Object.keys(spec.idTokens).length === 0) return [];
  const environment = spec.environment
    ? await ctx.store.db
        .selectFrom('environments')
        .select(['tier', 'protected'])
        .where('repo_id', '=', repo.id)
        .where('name', '=', spec.environment.name)
        .executeTakeFirst()
    : undefined;
  const tokens = await mintIdTokens(
    ctx.secrets.signer,
    spec.idTokens,
    {
      repo: { id: repo.id, name: repo.name },
      pipeline: { id: pipeline.id, source: pipeline.source, ref: pipeline.ref, isTag: pipeline.is_tag === 1, sha: pipeline.sha },
      job: { id: job.id, name: job.name, stage: job.stage },
      refProtected: protectedRef,
      environment: spec.environment
        ? {
            name: spec.environment.name,
            tier: spec.environment.deploymentTier ?? environment?.tier ?? null,
            protected: environment?.protected === 1,
          }
        : null,
    },
    { issuer: ctx.externalUrl, lifetimeSeconds: ctx.config.idTokenLifetimeSeconds },
  );
  return Object.entries(tokens).map(([key, value]) => ({ key, value, masked: true, file: false }));
}
