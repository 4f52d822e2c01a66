// What a committed transaction changed, as the scheduler reports it: the server publishes these
// (SSE, metrics) and the outbox writes its messages from them in the same transaction. `outbox`
// marks the changes of a transaction that wrote messages: only then is the outbox looked at after
// the commit (most commits, a claim or a completion, write none).
import type { JobStatus, PipelineStatus } from './schema.js';

export type StatusChange =
  /** trigger: a `trigger:` job, which the server runs instead of an agent. */
  | { type: 'job'; id: number; pipelineId: number; repoId: number; name: string; status: JobStatus; trigger: boolean; outbox?: true }
  /** failureReason: for a failed pipeline, the failure reason of the job that failed it (config_error for an invalid file). */
  | { type: 'pipeline'; id: number; pipelineId: number; repoId: number; status: PipelineStatus; failureReason?: string; outbox?: true };
