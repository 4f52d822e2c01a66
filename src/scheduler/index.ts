// The job queue and GitLab's job/pipeline state machine over the store. Every function takes the
// Store first (a trigger: a TriggerContext holding it) and the time as epoch ms, and every mutating
// one returns the status changes it committed (publish them after the call returns).
export { abandonJob } from './sql/abandon-job.js';
export { releaseClaim } from './sql/release-claim.js';
export type { AbandonInput } from './sql/abandon-job.js';
export { advancePipeline } from './advance.js';
export { readJobSpec } from './columns.js';
export { DependencyUnavailableError, DuplicateDeliveryError, SchedulerError, StaleTokenError } from './errors.js';
export type { StatusChange } from './events.js';
export { appendLogChunks, truncationNotice } from './sql/append-log.js';
export { readLogPages } from './sql/read-log.js';
export { moveFinishedLog, jobsWithLogsToMove } from './sql/move-log.js';
export type { MoveLogResult } from './sql/move-log.js';
export type { AppendLogInput, AppendLogResult, LogChunk } from './sql/append-log.js';
export { approvePipeline } from './sql/approve-pipeline.js';
export { autoCancelInterruptible } from './sql/auto-cancel.js';
export type { AutoCancelInput } from './sql/auto-cancel.js';
export { cancelJob, cancelPipeline } from './sql/cancel.js';
export { claimJob, claimJobs } from './sql/claim-job.js';
export type { ClaimedJob, ClaimInput, Claims, ClaimsInput } from './sql/claim-job.js';
export { completeJob } from './sql/complete-job.js';
export type { CompleteInput, CompleteResult } from './sql/complete-job.js';
export { createPipeline } from './sql/create-pipeline.js';
export type { CreatePipelineInput } from './sql/create-pipeline.js';
export { enforceTimeouts } from './sql/enforce-timeouts.js';
export type { TimeoutResult } from './sql/enforce-timeouts.js';
export { extendLease } from './sql/extend-lease.js';
export type { ExtendLeaseInput } from './sql/extend-lease.js';
export { playJob, playsOf } from './sql/play-job.js';
export type { Player } from './sql/play-job.js';
export { promoteScheduled } from './sql/promote-scheduled.js';
export { getJob, getPipeline, jobAttempts, getPipelineRow, latestPipelineStatus, linkedPipelines, listPipelines } from './sql/read.js';
export type { LinkedPipeline } from './sql/read.js';
export { busySeconds, pipelineRunSeconds } from './sql/run-time.js';
export { commitTitles } from './sql/commit-titles.js';
export { claimedJob, heldJob } from './sql/load-job.js';
export type { Claim } from './sql/load-job.js';
export { reapExpiredLeases } from './sql/reap-expired-leases.js';
export type { ReapInput, ReapResult } from './sql/reap-expired-leases.js';
export { retryJob } from './sql/retry-job.js';
export { retriedWithPipeline, retryPipeline } from './sql/retry-pipeline.js';
export type { RetryPipelineInput } from './sql/retry-pipeline.js';
export { jobDependencies, saveJobDotenv, type JobDependencies } from './dependencies.js';
export { pipelineImages, saveJobImages, type PipelineJobImages } from './job-images.js';
export { PIPELINE_FILES, triggerForDelivery, triggerPipeline } from './trigger.js';
export type { DeliveryResult, TriggerContext, TriggerInput, TriggerResult } from './trigger.js';
export {
  agentName,
  agentsNow,
  agentWithToken,
  claimingAgent,
  announceAgent,
  breakPresence,
  markAgentSeen,
  markAgentsSeen,
  onlineAgentNamed,
  openPresence,
  registerAgent,
  removeAgent,
  setAgentTags,
} from './sql/agents.js';
export type { AgentCredentials, AgentRegistration } from './sql/agents.js';
export { pendingTagSets } from './sql/pending-tag-sets.js';
export { artifactFilesOf, findArtifactFile, listJobArtifacts, replaceArtifactFiles } from './sql/artifact-files.js';
export { findCacheEntry, saveCacheEntry } from './sql/cache-entries.js';
export { recordDelivery, type Delivery } from './sql/deliveries.js';
export { startDownstreamPipelines } from './downstream.js';
export { storedPipelineVariables } from './stored-predefined.js';
export { endTriggerJob } from './sql/end-trigger-job.js';
export type { DownstreamContext } from './downstream.js';
