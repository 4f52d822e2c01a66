// A job's artifact listing as the API's JSON (kept apart from presenters.ts, which many parts share).
import type { JobArtifactsJson } from '../api/index.js';
import { STORED_REPORT_NOTE } from '../pipeline/index.js';
import type { ArtifactFile, Job } from '../store/index.js';

export function jobArtifactsView(
  job: Pick<Job, 'id' | 'name' | 'pipeline_id'>,
  entries: readonly { file: ArtifactFile; report: string | null }[],
): JobArtifactsJson {
  return {
    jobId: job.id,
    job: job.name,
    pipelineId: job.pipeline_id,
    files: entries.map(({ file, report }) => ({
      path: file.path,
      size: file.size,
      sha256: file.digest,
      mode: file.mode,
      expiresAt: file.expires_at === null ? null : new Date(file.expires_at).toISOString(),
      report,
      note: report === null ? null : STORED_REPORT_NOTE,
    })),
  };
}
