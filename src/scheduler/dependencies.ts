// Which artifacts a job receives before it runs, with GitLab's precedence: `needs` (when given)
// names the sources, else `dependencies`, else every job of an earlier stage. The same jobs pass
// on the variables of their dotenv reports, as GitLab's dependency variables do.
import type { ManifestEntry } from '../artifacts/index.js';
import type { DependencyArtifacts } from '../api/index.js';
import type { CompiledJob } from '../pipeline/index.js';
import { expandVariables } from '../pipeline/index.js';
import { readPipelineVariables, type Store } from '../store/index.js';
import { readJobDotenv, readJobSpec } from './columns.js';

function dependencySelector(spec: CompiledJob): (job: { id: number; name: string; stage_index: number; spec: string }) => boolean {
  if (spec.needs !== null) {
    const wanted = new Set(spec.needs.filter((n) => n.artifacts).map((n) => n.job));
    const only = spec.dependencies === null ? null : new Set(spec.dependencies);
    return (j) => wanted.has(j.name) && (only === null || only.has(j.name) || only.has(baseNameOf(j)));
  }
  if (spec.dependencies !== null) {
    const only = new Set(spec.dependencies);
    return (j) => only.has(j.name) || only.has(baseNameOf(j));
  }
  return (j) => j.stage_index < spec.stageIndex;
}

/**
 * The jobs of `needs:pipeline:job` entries (https://docs.gitlab.com/ee/ci/yaml/#needspipelinejob):
 * the pipeline id is expanded with this pipeline's variables (a child gets PARENT_PIPELINE_ID from
 * its trigger job), and only pipelines of the same repository are searched, as its job token reads.
 */
async function otherPipelineJobs(
  store: Store,
  pipelineId: number,
  spec: CompiledJob,
): Promise<{ id: number; name: string; dotenv: string | null }[]> {
  const wanted = (spec.pipelineNeeds ?? []).filter((n) => n.artifacts);
  if (wanted.length === 0) return [];
  const pipeline = await store.db.selectFrom('pipelines').selectAll().where('id', '=', pipelineId).executeTakeFirstOrThrow();
  const vars = { ...readPipelineVariables(pipeline), ...spec.variables, CI_PIPELINE_ID: String(pipeline.id) };
  const found: { id: number; name: string; dotenv: string | null }[] = [];
  for (const need of wanted) {
    const id = Number(expandVariables(need.pipeline, vars));
    if (!Number.isSafeInteger(id)) continue;
    const job = await store.db
      .selectFrom('jobs')
      .select(['jobs.id', 'jobs.name', 'jobs.dotenv'])
      .innerJoin('pipelines', 'pipelines.id', 'jobs.pipeline_id')
      .where('pipelines.id', '=', id)
      .where('pipelines.repo_id', '=', pipeline.repo_id)
      .where('jobs.name', '=', need.job)
      .where('jobs.retried', '=', 0)
      .where('jobs.status', '=', 'success')
      .executeTakeFirst();
    if (job) found.push(job);
  }
  return found;
}

function baseNameOf(job: { id: number; spec: string }): string {
  return readJobSpec(job).baseName;
}

/** The finished jobs (latest attempts) whose artifacts and dotenv variables the job receives, oldest first. */
async function dependencyJobs(store: Store, pipelineId: number, spec: CompiledJob) {
  const candidates = await store.db
    .selectFrom('jobs')
    .select(['id', 'name', 'stage_index', 'spec', 'dotenv'])
    .where('pipeline_id', '=', pipelineId)
    .where('retried', '=', 0)
    .where('status', 'in', ['success', 'failed'])
    .orderBy('id')
    .execute();
  return [...candidates.filter(dependencySelector(spec)), ...(await otherPipelineJobs(store, pipelineId, spec))];
}

/**
 * The variables of the dependencies' dotenv reports, a later dependency's value winning (GitLab
 * concatenates them in dependency order). They rank above the job's own `variables:` and below
 * project and pipeline variables: https://docs.gitlab.com/ee/ci/variables/#cicd-variable-precedence
 */
export async function dependencyDotenv(store: Store, pipelineId: number, spec: CompiledJob): Promise<Record<string, string>> {
  const chosen = await dependencyJobs(store, pipelineId, spec);
  return Object.assign({}, ...chosen.map(readJobDotenv)) as Record<string, string>;
}

/** Stores the variables of a job's dotenv report (replacing any sent before, as a re-sent request may). */
export async function saveJobDotenv(store: Store, jobId: number, variables: Record<string, string>): Promise<void> {
  await store.db
    .updateTable('jobs')
    .set({ dotenv: JSON.stringify(variables) })
    .where('id', '=', jobId)
    .execute();
}

export async function dependencyArtifacts(store: Store, pipelineId: number, spec: CompiledJob): Promise<DependencyArtifacts[]> {
  const chosen = await dependencyJobs(store, pipelineId, spec);
  if (chosen.length === 0) return [];
  const files = await store.db
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
