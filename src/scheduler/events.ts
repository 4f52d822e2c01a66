// Every mutating scheduler call returns the status changes it committed, so the server can publish
// them (SSE, metrics) after the transaction succeeded and never for one that rolled back. The
// outbox's messages about them (forge statuses, notifications) are written in that transaction.
import type { Kysely } from 'kysely';
import { recordPipelineEvents } from '../outbox/index.js';
import type { Database, Job, JobStatus, Pipeline, PipelineStatus, StatusChange } from '../store/index.js';

export type { StatusChange };

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

  /** Writes the outbox's messages for the changes in `trx` (the call's transaction); returns the changes, marked when it wrote any. */
  async commit(trx: Kysely<Database>, now: number): Promise<StatusChange[]> {
    if ((await recordPipelineEvents(trx, this.list, now)) > 0) for (const change of this.list) change.outbox = true;
    return this.list;
  }
}
