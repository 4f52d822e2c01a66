// Which artifacts a job receives before it runs, with GitLab's precedence: `needs` (when given)
// names the sources, else `dependencies`, else every job of an earlier stage; plus those of
// `needs:pipeline:job` and `needs:project`. These manifests are what the agent may download: the
// server chooses them here, when the job is handed out. The same jobs pass on the variables of
// their dotenv reports, as GitLab's dependency variables do (but for `needs:project`).
import type { ManifestEntry } from '../artifacts/index.js';
import type { DependencyArtifacts } from '../api/index.js';
import type { CompiledJob } from '../pipeline/index.js';
import { expandVariables } from '../pipeline/index.js';
import { findRepoByPath, projectAccessRefusal } from '../repos/index.js';
import { readPipelineMergeRequest, readPipelineVariables, type Pipeline, type Store } from '../store/index.js';
import { readJobDotenv, readJobSpec } from './columns.js';
import { DependencyUnavailableError } from './errors.js';

type DependencyJob = { id: number; name: string; dotenv: string | null };

/**
 * The jobs of `needs:pipeline:job` entries (https://docs.gitlab.com/ee/ci/yaml/#needspipelinejob):
 * the pipeline id is expanded with this pipeline's variables (a child gets PARENT_PIPELINE_ID from
 * its trigger job), and only pipelines of the same repository are searched, as its job token reads.
 */
async function otherPipelineJobs(store: Store, pipeline: Pipeline, spec: CompiledJob): Promise<DependencyJob[]> {
  const wanted = (spec.pipelineNeeds ?? []).filter((n) => n.artifacts);
  if (wanted.length === 0) return [];
  const vars = { ...readPipelineVariables(pipeline), ...spec.variables, CI_PIPELINE_ID: String(pipeline.id) };
  const found: DependencyJob[] = [];
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

/** The variables a `needs:project` ref may name: the pipeline's own and its ref's. */
function refVariables(pipeline: Pipeline, spec: CompiledJob, defaultBranch: string): Record<string, string> {
  const refName = readPipelineMergeRequest(pipeline)?.sourceBranch ?? pipeline.ref;
  return {
    ...readPipelineVariables(pipeline),
    ...spec.variables,
    CI_PIPELINE_ID: String(pipeline.id),
    CI_COMMIT_REF_NAME: refName,
    CI_DEFAULT_BRANCH: defaultBranch,
    ...(pipeline.is_tag === 1 ? { CI_COMMIT_TAG: pipeline.ref } : { CI_COMMIT_BRANCH: refName }),
  };
}

/**
 * The jobs of `needs:project` entries (https://docs.gitlab.com/ci/yaml/#needsproject): `job` of the
 * latest successful pipeline of the other repository on `ref`. The job does not wait for that
 * pipeline; when there is no such job, or include's access rule (docs/security.md) refuses the
 * repository, the job fails at its start, as GitLab does. Its dotenv variables are not passed on:
 * the other repository may have members this one lacks, who would set this job's variables.
 */
async function otherProjectJobs(store: Store, pipeline: Pipeline, spec: CompiledJob): Promise<DependencyJob[]> {
  const wanted = (spec.projectNeeds ?? []).filter((n) => n.artifacts);
  if (wanted.length === 0) return [];
  const repo = await store.db
    .selectFrom('repos')
    .select(['id', 'default_branch'])
    .where('id', '=', pipeline.repo_id)
    .executeTakeFirstOrThrow();
  const vars = refVariables(pipeline, spec, repo.default_branch);
  const fork = readPipelineMergeRequest(pipeline)?.fork === true;
  const found: DependencyJob[] = [];
  for (const need of wanted) {
    const ref = expandVariables(need.ref, vars);
    const other = await findRepoByPath(store.db, need.project);
    if (!other) throw new DependencyUnavailableError(`needs:project: no repository "${need.project}" is registered in Tandem`);
    const refused = await projectAccessRefusal(store.db, repo, other, need.project, { fork, reading: 'read its artifacts' });
    if (refused !== null) throw new DependencyUnavailableError(`needs:project: ${refused}`);
    const latest = await store.db
      .selectFrom('pipelines')
      .select('id')
      .where('repo_id', '=', other.id)
      .where('ref', '=', ref)
      .where('merge_request', 'is', null)
      .where('status', '=', 'success')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    const job = latest
      ? await store.db
          .selectFrom('jobs')
          .select(['id', 'name'])
          .where('pipeline_id', '=', latest.id)
          .where('name', '=', need.job)
          .where('retried', '=', 0)
          .where('status', '=', 'success')
          .executeTakeFirst()
      : undefined;
    if (!job)
      throw new DependencyUnavailableError(
        `needs:project: no successful job \`${need.job}\` in the latest successful pipeline of ${need.project} on ${ref}`,
      );
    found.push({ ...job, dotenv: null });
  }
  return found;
}

/** The finished jobs (latest attempts) of one pipeline, oldest first. */
function finishedJobs(store: Store, pipelineId: number) {
  return store.db
    .selectFrom('jobs')
    .where('pipeline_id', '=', pipelineId)
    .where('retried', '=', 0)
    .where('status', 'in', ['success', 'failed'])
    .orderBy('id');
}

function namedIn(only: Set<string>): (job: { id: number; name: string; spec: string }) => boolean {
  return (j) => only.has(j.name) || only.has(readJobSpec(j).baseName);
}

/**
 * The jobs of this pipeline that the job takes from, read as narrowly as its spec allows: each job
 * of a wide stage is handed out, so reading its finished siblings would cost O(pipeline) per job.
 */
async function pipelineDependencyJobs(store: Store, pipeline: Pipeline, spec: CompiledJob): Promise<DependencyJob[]> {
  const only = spec.dependencies === null ? null : new Set(spec.dependencies);
  if (spec.needs !== null) {
    const wanted = [...new Set(spec.needs.filter((n) => n.artifacts).map((n) => n.job))];
    if (wanted.length === 0) return [];
    const named = finishedJobs(store, pipeline.id).where('name', 'in', wanted);
    // The spec (a few KB each) is read only when `dependencies` may name a matrix's base name.
    if (only === null) return named.select(['id', 'name', 'dotenv']).execute();
    return (await named.select(['id', 'name', 'spec', 'dotenv']).execute()).filter(namedIn(only));
  }
  if (only !== null) {
    if (only.size === 0) return [];
    // A dependency is of the same stage or an earlier one (compile.ts refuses a later one).
    const upTo = await finishedJobs(store, pipeline.id)
      .select(['id', 'name', 'spec', 'dotenv'])
      .where('stage_index', '<=', spec.stageIndex)
      .execute();
    return upTo.filter(namedIn(only));
  }
  if (spec.stageIndex === 0) return [];
  return finishedJobs(store, pipeline.id).select(['id', 'name', 'dotenv']).where('stage_index', '<', spec.stageIndex).execute();
}

/** The finished jobs whose artifacts and dotenv variables the job receives, oldest first. */
async function dependencyJobs(store: Store, pipeline: Pipeline, spec: CompiledJob): Promise<DependencyJob[]> {
  return [
    ...(await pipelineDependencyJobs(store, pipeline, spec)),
    ...(await otherPipelineJobs(store, pipeline, spec)),
    ...(await otherProjectJobs(store, pipeline, spec)),
  ];
}

/** Stores the variables of a job's dotenv report (replacing any sent before, as a re-sent request may). */
export async function saveJobDotenv(store: Store, jobId: number, variables: Record<string, string>): Promise<void> {
  await store.db
    .updateTable('jobs')
    .set({ dotenv: JSON.stringify(variables) })
    .where('id', '=', jobId)
    .execute();
}

export interface JobDependencies {
  artifacts: DependencyArtifacts[];
  /**
   * The variables of the dependencies' dotenv reports, a later dependency's value winning (GitLab
   * concatenates them in dependency order). They rank above the job's own `variables:` and below
   * project and pipeline variables: https://docs.gitlab.com/ee/ci/variables/#cicd-variable-precedence
   */
  dotenv: Record<string, string>;
}

/**
 * What a job receives from the jobs it depends on: their artifacts and dotenv variables, chosen
 * once (a `needs:project` entry costs a few queries). Throws DependencyUnavailableError when a
 * `needs:project` entry is missing or refused.
 */
export async function jobDependencies(store: Store, pipeline: Pipeline, spec: CompiledJob): Promise<JobDependencies> {
  const chosen = await dependencyJobs(store, pipeline, spec);
  const dotenv = Object.assign({}, ...chosen.map(readJobDotenv)) as Record<string, string>;
  if (chosen.length === 0) return { artifacts: [], dotenv };
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
  const artifacts = chosen.map((j) => ({
    jobId: j.id,
    name: j.name,
    files: files.filter((f) => f.job_id === j.id).map(({ path, digest, size, mode }): ManifestEntry => ({ path, digest, size, mode })),
  }));
  return { artifacts, dotenv };
}
