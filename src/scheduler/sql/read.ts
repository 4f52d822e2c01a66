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

export async function getJob(store: Store, jobId: number): Promise<Job | null> {
  return (await store.db.selectFrom('jobs').selectAll().where('id', '=', jobId).executeTakeFirst()) ?? null;
}
