// How long a pipeline ran: the time during which at least one of its jobs was running (as GitLab
// counts a pipeline's duration), not the wall time from its start to its end. A failed job retried
// hours later adds its own minutes, not the hours in between; jobs running side by side count once.
import type { Store } from '../../store/index.js';

export interface RunSpan {
  started_at: number | null;
  finished_at: number | null;
}

/** Seconds covered by the spans that started and finished (overlaps counted once). */
export function busySeconds(spans: readonly RunSpan[]): number {
  const ran = spans
    .flatMap((s) =>
      s.started_at !== null && s.finished_at !== null && s.finished_at >= s.started_at ? [[s.started_at, s.finished_at]] : [],
    )
    .sort((a, b) => a[0] - b[0]);
  let total = 0;
  let end = -Infinity;
  for (const [start, finish] of ran) {
    if (finish <= end) continue;
    total += finish - Math.max(start, end);
    end = finish;
  }
  return total / 1000;
}

/** busySeconds of each pipeline's jobs (every attempt), for a page of pipelines: one query. */
export async function pipelineRunSeconds(store: Store, pipelineIds: readonly number[]): Promise<Map<number, number>> {
  if (pipelineIds.length === 0) return new Map();
  const rows = await store.db
    .selectFrom('jobs')
    .select(['pipeline_id', 'started_at', 'finished_at'])
    .where('pipeline_id', 'in', [...pipelineIds])
    .where('started_at', 'is not', null)
    .where('finished_at', 'is not', null)
    .execute();
  const byPipeline = new Map<number, RunSpan[]>();
  for (const row of rows) {
    const spans = byPipeline.get(row.pipeline_id);
    if (spans) spans.push(row);
    else byPipeline.set(row.pipeline_id, [row]);
  }
  return new Map(pipelineIds.map((id) => [id, busySeconds(byPipeline.get(id) ?? [])]));
}
