// What an agent receives when it claims a job: the compiled job, every variable in precedence order
// and the artifacts of the jobs it depends on.
import type { ManifestEntry } from '../artifacts/index.js';
import type { DependencyArtifacts, JobPayload, JobVariable } from '../agent/protocol.js';
import { jobVariables, predefinedVariables } from '../pipeline/index.js';
import type { CompiledJob } from '../pipeline/types.js';
import type { ClaimedJob } from '../scheduler/index.js';
import type { ServerContext } from './context.js';
import { repoVariablesFor } from './variables.js';

function plain(vars: Record<string, string>): JobVariable[] {
  return Object.entries(vars).map(([key, value]) => ({ key, value, masked: false, file: false }));
}

/** GitLab's rule: `needs` (when given) names the artifact sources, else `dependencies`, else every earlier stage. */
function dependencySelector(spec: CompiledJob): (job: { name: string; stage_index: number; spec: string }) => boolean {
  if (spec.needs !== null) {
    const wanted = new Set(spec.needs.filter((n) => n.artifacts).map((n) => n.job));
    const only = spec.dependencies === null ? null : new Set(spec.dependencies);
    return (j) => wanted.has(j.name) && (only === null || only.has(j.name) || only.has(baseNameOf(j.spec)));
  }
  if (spec.dependencies !== null) {
    const only = new Set(spec.dependencies);
    return (j) => only.has(j.name) || only.has(baseNameOf(j.spec));
  }
  return (j) => j.stage_index < spec.stageIndex;
}

function baseNameOf(specJson: string): string {
  return (JSON.parse(specJson) as CompiledJob).baseName;
}

export async function dependencyArtifacts(ctx: ServerContext, pipelineId: number, spec: CompiledJob): Promise<DependencyArtifacts[]> {
  const select = dependencySelector(spec);
  const candidates = await ctx.store.db
    .selectFrom('jobs')
    .select(['id', 'name', 'stage_index', 'spec'])
    .where('pipeline_id', '=', pipelineId)
    .where('retried', '=', 0)
    .where('status', 'in', ['success', 'failed'])
    .orderBy('id')
    .execute();
  const chosen = candidates.filter(select);
  if (chosen.length === 0) return [];
  const files = await ctx.store.db
    .selectFrom('artifact_files')
    .select(['job_id', 'path', 'digest', 'size', 'mode'])
    .where(
      'job_id',
      'in',
      chosen.map((j) => j.id),
    )
    .orderBy('path')
    .execute();
  return chosen.map((j) => ({
    jobId: j.id,
    name: j.name,
    files: files.filter((f) => f.job_id === j.id).map(({ path, digest, size, mode }): ManifestEntry => ({ path, digest, size, mode })),
  }));
}

export async function buildJobPayload(ctx: ServerContext, claimed: ClaimedJob): Promise<JobPayload> {
  const { job, spec, pipeline, repo } = claimed;
  const startedAt = new Date(job.started_at ?? Date.now());
  const predefined = predefinedVariables({
    sha: pipeline.sha,
    beforeSha: pipeline.before_sha,
    ref: pipeline.ref,
    isTag: pipeline.is_tag === 1,
    defaultBranch: repo.default_branch,
    pipelineId: pipeline.id,
    pipelineSource: pipeline.source,
    pipelineCreatedAt: new Date(pipeline.created_at),
    repoName: repo.name,
    repoUrl: repo.url,
    serverUrl: ctx.externalUrl,
    configPath: pipeline.config_path ?? '.gitlab-ci.yml',
  });
  // The agent knows its own paths; these placeholders are replaced on the agent before the job runs.
  const perJob = jobVariables({
    jobId: job.id,
    jobName: job.name,
    stage: job.stage,
    startedAt,
    timeoutSeconds: job.timeout_seconds,
    projectDir: '',
    buildsDir: '',
    nodeIndex: spec.parallel?.index,
    nodeTotal: spec.parallel?.total,
    runnerTags: JSON.parse(job.tags) as string[],
  });
  const repoVariables = await repoVariablesFor(ctx.store, repo, { protectedRef: pipeline.is_tag === 0 && pipeline.ref === repo.default_branch });
  const variables: JobVariable[] = [
    ...plain(predefined),
    ...plain(perJob),
    ...plain(JSON.parse(pipeline.variables) as Record<string, string>),
    ...plain(spec.variables),
    ...repoVariables.map((v) => ({ key: v.key, value: v.value, masked: v.masked === 1, file: v.file === 1 })),
  ];
  return {
    jobId: job.id,
    pipelineId: pipeline.id,
    attempt: job.attempt,
    fencingToken: claimed.fencingToken,
    leaseMs: ctx.config.leaseSeconds * 1000,
    timeoutSeconds: job.timeout_seconds,
    repo: { name: repo.name, url: repo.url },
    sha: pipeline.sha,
    ref: pipeline.ref,
    job: spec,
    variables,
    dependencies: await dependencyArtifacts(ctx, pipeline.id, spec),
  };
}
