// Trigger jobs become downstream pipelines here (https://docs.gitlab.com/ee/ci/pipelines/downstream_pipelines.html).
// A pending trigger job is never claimed by an agent; the server finds it, builds the downstream
// pipeline (a child from `trigger:include`, or another registered repository's pipeline for
// `trigger:project`) and stores it with the trigger job started, in one transaction.
import { text } from 'node:stream/consumers';
import type { BlobStore } from '../artifacts/index.js';
import { pipelineProtectedRole } from '../auth/index.js';
import { DomainError } from '../errors.js';
import { inheritedGlobals, resolveVariables, type CompiledJob } from '../pipeline/index.js';
import { findRepoByPath, projectAccessRefusal } from '../repos/index.js';
import { readPipelineMergeRequest, readPipelineVariables } from '../store/index.js';
import type { Job, Pipeline, Repo } from '../store/index.js';
import { readJobSpec } from './columns.js';
import type { StatusChange } from './events.js';
import { endTriggerJob } from './sql/end-trigger-job.js';
import { storedPipelineVariables } from './stored-predefined.js';
import { triggerPipeline, type TriggerContext, type TriggerInput } from './trigger.js';

export interface DownstreamContext extends TriggerContext {
  /** Where artifacts are kept: a dynamic child pipeline's file is an artifact of an earlier job. */
  blobs: BlobStore;
}

/** Parent → child → grandchild at most: GitLab's MAX_DESCENDANTS_DEPTH. */
const MAX_CHILD_DEPTH = 2;
/** Multi-project pipelines may chain, but a loop of triggers must end (Tandem's limit). */
const MAX_HIERARCHY_DEPTH = 50;

/** How many pipelines are above this one, and how many of the nearest of them are child pipelines in a row. */
async function ancestry(ctx: DownstreamContext, pipeline: Pipeline): Promise<{ levels: number; childLevels: number }> {
  let levels = 0;
  let childLevels = 0;
  let children = true;
  let current: Pick<Pipeline, 'source' | 'parent_pipeline_id'> | undefined = pipeline;
  while (current?.parent_pipeline_id !== null && current !== undefined && levels < MAX_HIERARCHY_DEPTH) {
    levels++;
    children &&= current.source === 'parent_pipeline';
    if (children) childLevels++;
    current = await ctx.store.db
      .selectFrom('pipelines')
      .select(['source', 'parent_pipeline_id'])
      .where('id', '=', current.parent_pipeline_id)
      .executeTakeFirst();
  }
  return { levels, childLevels };
}

/** A generated child pipeline file larger than this is refused (GitLab's include size limit is alike). */
const MAX_CHILD_FILE_BYTES = 1024 * 1024;

/**
 * Starts the downstream pipeline of every pending trigger job. The caller makes one pass at a time;
 * another replica starting the same job loses in the store (the trigger job must still be pending
 * when the downstream pipeline is stored).
 */
export async function startDownstreamPipelines(ctx: DownstreamContext): Promise<StatusChange[]> {
  const pending = await ctx.store.db
    .selectFrom('jobs')
    .selectAll()
    .where('status', '=', 'pending')
    .where('is_trigger', '=', 1)
    .orderBy('id')
    .execute();
  const changes: StatusChange[] = [];
  for (const job of pending) changes.push(...(await startDownstream(ctx, job)));
  return changes;
}

async function startDownstream(ctx: DownstreamContext, job: Job): Promise<StatusChange[]> {
  const spec = readJobSpec(job);
  const trigger = spec.trigger;
  const parent = await ctx.store.db.selectFrom('pipelines').selectAll().where('id', '=', job.pipeline_id).executeTakeFirstOrThrow();
  const repo = await ctx.store.db.selectFrom('repos').selectAll().where('id', '=', job.repo_id).executeTakeFirstOrThrow();
  const fail = async (message: string): Promise<StatusChange[]> => {
    try {
      return (await endTriggerJob(ctx.store, { jobId: job.id, status: 'failed', message, now: ctx.clock.now() })).changes;
    } catch (err) {
      if (err instanceof DomainError && err.kind === 'conflict') return [];
      throw err;
    }
  };
  if (!trigger) return fail(`job ${job.name} has no trigger`);
  const depth = await ancestry(ctx, parent);
  if (trigger.include !== null && depth.childLevels >= MAX_CHILD_DEPTH)
    return fail(`downstream pipeline can not be created: reached the maximum depth of child pipelines (${MAX_CHILD_DEPTH}, as GitLab)`);
  if (depth.levels >= MAX_HIERARCHY_DEPTH)
    return fail(`downstream pipeline can not be created: the pipeline hierarchy is ${MAX_HIERARCHY_DEPTH} levels deep (a trigger loop?)`);
  const upstream = { pipelineId: parent.id, triggerJobId: job.id };
  const variables = await downstreamVariables(ctx, job, spec, parent, repo);
  let input: TriggerInput;
  try {
    if (trigger.include !== null) {
      input = {
        repo,
        ref: parent.merge_request ? parent.ref : `refs/${parent.is_tag === 1 ? 'tags' : 'heads'}/${parent.ref}`,
        sha: parent.sha,
        beforeSha: parent.before_sha,
        source: 'parent_pipeline',
        mergeRequest: readPipelineMergeRequest(parent) ?? undefined,
        variables,
        upstream,
        pipelineFile: await childPipelineFile(ctx, job, trigger.include),
      };
    } else {
      const project = trigger.project ?? '';
      const downstream = await findRepoByPath(ctx.store.db, project);
      if (!downstream) return fail(`downstream pipeline can not be created: no repository "${project}" is registered in Tandem`);
      // Include's access rule (docs/security.md): every member of this repository must be one of the
      // other, and a fork's pipeline reaches no other repository.
      const refused = await projectAccessRefusal(ctx.store.db, repo, downstream, project, {
        fork: readPipelineMergeRequest(parent)?.fork === true,
        reading: 'start a pipeline there',
      });
      if (refused !== null) return fail(`downstream pipeline can not be created: ${refused}`);
      const ref = trigger.branch ?? downstream.default_branch;
      // Tandem does not know who started the upstream pipeline (GitLab checks that user's rights
      // downstream): a pipeline of an unprotected ref, which anyone who pushes makes, may not start one
      // of a protected ref with its protected variables and hand it variables of its choosing.
      if (
        (await pipelineProtectedRole(ctx.store.db, { repo_id: downstream.id, ref, is_tag: 0, merge_request: null })) !== null &&
        (await pipelineProtectedRole(ctx.store.db, parent)) === null
      )
        return fail(
          `downstream pipeline can not be created: branch ${ref} of ${downstream.name} is protected, and this pipeline's ref ${parent.ref} is not`,
        );
      input = { repo: downstream, ref, source: 'pipeline', variables, upstream };
    }
    const result = await triggerPipeline(ctx, input);
    if (result.pipelineId === null) return fail(`downstream pipeline can not be created: ${result.skippedReason}`);
    return result.changes;
  } catch (err) {
    // Started meanwhile (another replica) or canceled: nothing to do.
    if (err instanceof DomainError && err.kind === 'conflict') return [];
    if (err instanceof DomainError) return fail(`downstream pipeline can not be created: ${err.message}`);
    throw err;
  }
}

/**
 * The variables the downstream pipeline gets (https://docs.gitlab.com/ee/ci/yaml/#triggerforward):
 * the trigger job's own and the global ones it inherits (`yaml_variables`, default true), expanded
 * as the parent's jobs see them (`PARENT_PIPELINE_ID: $CI_PIPELINE_ID` is the parent's id), and
 * with `pipeline_variables` the parent pipeline's variables as well.
 */
async function downstreamVariables(
  ctx: DownstreamContext,
  job: Job,
  spec: CompiledJob,
  parent: Pipeline,
  repo: Repo,
): Promise<Record<string, string>> {
  const refProtected = (await pipelineProtectedRole(ctx.store.db, parent)) !== null;
  const trigger = spec.trigger;
  const pipelineVariables = readPipelineVariables(parent);
  const yaml = trigger?.forward.yamlVariables ? { ...inheritedGlobals(pipelineVariables, spec.inheritVariables), ...spec.variables } : {};
  const forwarded = trigger?.forward.pipelineVariables ? pipelineVariables : {};
  const predefined = storedPipelineVariables(parent, repo, { externalUrl: ctx.externalUrl, refProtected });
  const wanted = { ...forwarded, ...yaml };
  const resolved = resolveVariables({ ...predefined, ...wanted, CI_JOB_ID: String(job.id), CI_JOB_NAME: job.name });
  return Object.fromEntries(Object.keys(wanted).map((key) => [key, resolved[key]]));
}

/**
 * The child pipeline's file: `include:` of the trigger's entries, compiled like any pipeline file,
 * so every kind of include works. `artifact:` entries (dynamic child pipelines) are read from the
 * artifacts of the named job of the parent pipeline and included as local files of those paths.
 */
async function childPipelineFile(
  ctx: DownstreamContext,
  job: Job,
  entries: unknown[],
): Promise<{ path: string; content: string; files: Record<string, string> }> {
  const files: Record<string, string> = {};
  const include: unknown[] = [];
  for (const entry of entries) {
    if (typeof entry !== 'object' || entry === null || !('artifact' in entry)) {
      include.push(entry);
      continue;
    }
    const { artifact, job: producer, ...rest } = entry as { artifact: string; job: string };
    const path = artifact.replace(/^(\.?\/)+/, '');
    files[path] = await readArtifact(ctx, job.pipeline_id, producer, path);
    include.push({ local: path, ...rest });
  }
  // JSON is YAML: the document is parsed like any pipeline file; its path names the trigger job in messages.
  return { path: `${job.name} (trigger:include)`, content: JSON.stringify({ include }), files };
}

async function readArtifact(ctx: DownstreamContext, pipelineId: number, jobName: string, path: string): Promise<string> {
  const producer = await ctx.store.db
    .selectFrom('jobs')
    .select(['id', 'status'])
    .where('pipeline_id', '=', pipelineId)
    .where('name', '=', jobName)
    .where('retried', '=', 0)
    .executeTakeFirst();
  if (!producer) throw new DomainError('invalid', `trigger:include:artifact: job "${jobName}" is not in this pipeline`);
  const file = await ctx.store.db
    .selectFrom('artifact_files')
    .selectAll()
    .where('job_id', '=', producer.id)
    .where('path', '=', path)
    .executeTakeFirst();
  if (!file) throw new DomainError('invalid', `trigger:include:artifact: job "${jobName}" has no artifact "${path}"`);
  if (file.size > MAX_CHILD_FILE_BYTES)
    throw new DomainError('invalid', `trigger:include:artifact: "${path}" is larger than ${MAX_CHILD_FILE_BYTES} bytes`);
  return text(await ctx.blobs.get(file.digest));
}
