// Read helpers for the API (no transaction: each is one consistent SELECT or two).
import type { Store } from '../../store/index.js';
import type { Job, Pipeline } from '../../store/index.js';

/** Jobs in stage order; for each name the latest attempt comes first, retried ones (retried = 1) after it. */
export async function getPipeline(store: Store, pipelineId: number): Promise<{ pipeline: Pipeline; jobs: Job[] } | null> {
  const pipeline = await store.db.selectFrom('pipelines').selectAll().where('id', '=', pipelineId).executeTakeFirst();
  if (!pipeline) return null;
  const jobs = await store.db
    .selectFrom('jobs')
    .selectAll()
    .where('pipeline_id', '=', pipelineId)
    .orderBy('stage_index')
    .orderBy('name')
    .orderBy('attempt', 'desc')
    .execute();
  return { pipeline, jobs };
}

/** The pipeline row alone, without its jobs. */
export async function getPipelineRow(store: Store, pipelineId: number): Promise<Pipeline | null> {
  return (await store.db.selectFrom('pipelines').selectAll().where('id', '=', pipelineId).executeTakeFirst()) ?? null;
}

/** Newest first; `before` is a pipeline id cursor for the next page. */
export async function listPipelines(
  store: Store,
  options: { repoId?: number; repoIds?: number[]; limit: number; before?: number },
): Promise<Pipeline[]> {
  if (options.repoIds?.length === 0) return [];
  let q = store.db.selectFrom('pipelines').selectAll().orderBy('id', 'desc').limit(options.limit);
  if (options.repoId !== undefined) q = q.where('repo_id', '=', options.repoId);
  if (options.repoIds !== undefined) q = q.where('repo_id', 'in', options.repoIds);
  if (options.before !== undefined) q = q.where('id', '<', options.before);
  return q.execute();
}

/**
 * The status of a branch's latest pipeline (its badge), or null when it has none. Child pipelines
 * share their parent's ref but are part of it, so they do not count. One query on the
 * pipelines_repo_ref index (repo_id, ref, id).
 */
export async function latestPipelineStatus(store: Store, repoId: number, ref: string): Promise<Pipeline['status'] | null> {
  const row = await store.db
    .selectFrom('pipelines')
    .select('status')
    .where('repo_id', '=', repoId)
    .where('ref', '=', ref)
    .where('parent_pipeline_id', 'is', null)
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.status ?? null;
}

export async function getJob(store: Store, jobId: number): Promise<Job | null> {
  return (await store.db.selectFrom('jobs').selectAll().where('id', '=', jobId).executeTakeFirst()) ?? null;
}

/**
 * Every attempt of a job, first to latest: a retry (a user's, the retry policy's or a lost agent's
 * requeue) keeps the earlier row and adds one with the same name and attempt + 1 (retry_of).
 */
export async function jobAttempts(store: Store, job: Pick<Job, 'pipeline_id' | 'name'>): Promise<Job[]> {
  return store.db
    .selectFrom('jobs')
    .selectAll()
    .where('pipeline_id', '=', job.pipeline_id)
    .where('name', '=', job.name)
    .orderBy('attempt')
    .execute();
}

/** A pipeline linked to another by a trigger job: the pipeline, its repository's name and the trigger job. */
export interface LinkedPipeline {
  pipeline: Pipeline;
  repoName: string;
  triggerJob: { id: number; name: string } | null;
}

/**
 * The upstream pipeline of a downstream one (null for others) and the downstream pipelines its
 * trigger jobs started, oldest first.
 */
export async function linkedPipelines(
  store: Store,
  pipeline: Pipeline,
): Promise<{ parent: LinkedPipeline | null; downstream: LinkedPipeline[] }> {
  const rows = await store.db
    .selectFrom('pipelines')
    .innerJoin('repos', 'repos.id', 'pipelines.repo_id')
    .selectAll('pipelines')
    .select('repos.name as repo_name')
    .where((eb) =>
      eb.or([eb('pipelines.parent_pipeline_id', '=', pipeline.id), eb('pipelines.id', '=', pipeline.parent_pipeline_id ?? -1)]),
    )
    .orderBy('pipelines.id')
    .execute();
  const jobIds = [pipeline.trigger_job_id, ...rows.map((r) => r.trigger_job_id)].filter((id): id is number => id !== null);
  const jobs = jobIds.length === 0 ? [] : await store.db.selectFrom('jobs').select(['id', 'name']).where('id', 'in', jobIds).execute();
  const jobOf = (id: number | null) => jobs.find((j) => j.id === id) ?? null;
  const linked = ({ repo_name, ...row }: Pipeline & { repo_name: string }, triggerJobId: number | null): LinkedPipeline => ({
    pipeline: row,
    repoName: repo_name,
    triggerJob: jobOf(triggerJobId),
  });
  const parentRow = rows.find((r) => r.id === pipeline.parent_pipeline_id);
  return {
    parent: parentRow ? linked(parentRow, pipeline.trigger_job_id) : null,
    downstream: rows.filter((r) => r.parent_pipeline_id === pipeline.id).map((r) => linked(r, r.trigger_job_id)),
  };
}
