// Every mutating scheduler call returns the status changes it committed, so the server can publish
// them (SSE, metrics) after the transaction succeeded and never for one that rolled back.
import type { Job, JobStatus, Pipeline, PipelineStatus } from '../store/index.js';

export type StatusChange =
  /** trigger: a `trigger:` job, which the server runs instead of an agent. */
  | { type: 'job'; id: number; pipelineId: number; repoId: number; name: string; status: JobStatus; trigger: boolean }
  /** failureReason: for a failed pipeline, the failure reason of the job that failed it (config_error for an invalid file). */
  | { type: 'pipeline'; id: number; pipelineId: number; repoId: number; status: PipelineStatus; failureReason?: string };

export class ChangeLog {
  readonly list: StatusChange[] = [];

  job(job: Pick<Job, 'id' | 'pipeline_id' | 'repo_id' | 'name' | 'is_trigger'>, status: JobStatus): void {
    this.list.push({
      type: 'job',
      id: job.id,
      pipelineId: job.pipeline_id,
      repoId: job.repo_id,
      name: job.name,
      status,
      trigger: job.is_trigger === 1,
    });
  }

  pipeline(pipeline: Pick<Pipeline, 'id' | 'repo_id'>, status: PipelineStatus, failureReason?: string): void {
    this.list.push({
      type: 'pipeline',
      id: pipeline.id,
      pipelineId: pipeline.id,
      repoId: pipeline.repo_id,
      status,
      ...(failureReason === undefined ? {} : { failureReason }),
    });
  }
}
