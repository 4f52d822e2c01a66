// Every mutating scheduler call returns the status changes it committed, so the server can publish
// them (SSE, metrics) after the transaction succeeded and never for one that rolled back.
import type { Job, JobStatus, Pipeline, PipelineStatus } from '../store/schema.js';

export type StatusChange =
  | { type: 'job'; id: number; pipelineId: number; repoId: number; name: string; status: JobStatus }
  | { type: 'pipeline'; id: number; pipelineId: number; repoId: number; status: PipelineStatus };

export class ChangeLog {
  readonly list: StatusChange[] = [];

  job(job: Pick<Job, 'id' | 'pipeline_id' | 'repo_id' | 'name'>, status: JobStatus): void {
    this.list.push({ type: 'job', id: job.id, pipelineId: job.pipeline_id, repoId: job.repo_id, name: job.name, status });
  }

  pipeline(pipeline: Pick<Pipeline, 'id' | 'repo_id'>, status: PipelineStatus): void {
    this.list.push({ type: 'pipeline', id: pipeline.id, pipelineId: pipeline.id, repoId: pipeline.repo_id, status });
  }
}
