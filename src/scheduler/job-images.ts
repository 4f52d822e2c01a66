// The images jobs pushed (`artifacts:images`), pinned by digest by the agent and kept on the job's
// row (jobs.images, migration 035): what a pipeline built, for its page and for deploys to name.
import type { JobImageJson } from '../api/index.js';
import type { Store } from '../store/index.js';

/** Stores a job's pinned images (replacing any sent before, as a re-sent completion may). */
export async function saveJobImages(store: Store, jobId: number, images: JobImageJson[]): Promise<void> {
  await store.db
    .updateTable('jobs')
    .set({ images: JSON.stringify(images) })
    .where('id', '=', jobId)
    .execute();
}

export interface PipelineJobImages {
  jobId: number;
  jobName: string;
  images: JobImageJson[];
}

/** The images of the pipeline's jobs (latest attempts that recorded some), in job order. */
export async function pipelineImages(store: Store, pipelineId: number): Promise<PipelineJobImages[]> {
  const rows = await store.db
    .selectFrom('jobs')
    .select(['id', 'name', 'images'])
    .where('pipeline_id', '=', pipelineId)
    .where('retried', '=', 0)
    .where('images', 'is not', null)
    .orderBy('id')
    .execute();
  return rows.map((row) => ({ jobId: row.id, jobName: row.name, images: readImages(row.images) }));
}

function readImages(text: string | null): JobImageJson[] {
  if (text === null) return [];
  const parsed: unknown = JSON.parse(text);
  if (!Array.isArray(parsed)) return [];
  return parsed.filter(
    (i): i is JobImageJson =>
      !!i && typeof i === 'object' && typeof (i as JobImageJson).ref === 'string' && typeof (i as JobImageJson).image === 'string',
  );
}
