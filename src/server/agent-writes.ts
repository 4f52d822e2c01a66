// The fenced writes that end an agent's job, as the agent protocol's routes make them: the
// scheduler's operation, then what the server tells others (live log tails, metrics, status
// changes). The separate routes (`/log`, `/artifacts`, `/complete`) and a completion that carries
// the last log chunks and the artifact manifest call the same functions, so one set of rules holds.
import type { CompleteRequest } from '../api/index.js';
import {
  appendLogChunks,
  claimedJob,
  completeJob,
  heldJob,
  replaceArtifactFiles,
  saveJobImages,
  type Claim,
  type LogChunk,
} from '../scheduler/index.js';
import { uploadedManifest } from './agent-claims.js';
import type { ServerContext } from './context.js';
import { ApiError } from './http.js';
import { publishChanges } from './notify.js';

/** Appends log chunks (a re-sent seq is stored once); `truncated`: the job's log is full, send no more. */
export async function recordLog(ctx: ServerContext, claim: Claim, chunks: LogChunk[]): Promise<{ truncated: boolean }> {
  const { accepted, truncated } = await appendLogChunks(ctx.store, {
    ...claim,
    chunks,
    maxLogBytes: ctx.config.maxJobLogBytes,
    now: ctx.clock.now(),
  });
  for (const c of accepted) ctx.hub.publish({ type: 'log', jobId: claim.jobId, seq: c.seq, data: c.data });
  return { truncated };
}

/** Replaces the job's artifact manifest (its blobs must be in the store already); the number of files. */
export async function recordArtifacts(
  ctx: ServerContext,
  claim: Claim,
  artifacts: { files: unknown[]; expireInSeconds: number | null },
): Promise<number> {
  await heldJob(ctx.store.db, claim);
  const files = await uploadedManifest(ctx.blobs, artifacts.files);
  const now = ctx.clock.now();
  const expiresAt = artifacts.expireInSeconds === null ? null : now + artifacts.expireInSeconds * 1000;
  await replaceArtifactFiles(ctx.store, { jobId: claim.jobId, files, expiresAt, now });
  return files.length;
}

export type Completion = Omit<CompleteRequest, 'fencingToken' | 'artifacts'> & {
  artifacts?: { files: unknown[]; expireInSeconds: number | null };
};

/**
 * Ends the attempt: first the log chunks, the pinned images and the artifact manifest the completion carries (in the
 * order an older agent sends them on their own), then the completion, which releases the jobs that
 * wait for this one, so they find the manifest. Each step is idempotent, so a repeated request
 * changes nothing; a stale claim is refused (409) by the first step before anything is written.
 */
export async function recordCompletion(ctx: ServerContext, claim: Claim, body: Completion): Promise<void> {
  let outcome = { status: body.status, exitCode: body.exitCode, failureReason: body.failureReason };
  if (body.log && body.log.length > 0) await recordLog(ctx, claim, body.log);
  // Completed by this claim: a repeat whose first delivery stored the images and the manifest, then completed.
  if ((body.images || body.artifacts) && (await claimedJob(ctx.store.db, claim)).completed) return;
  if (body.images) await saveJobImages(ctx.store, claim.jobId, body.images);
  if (body.artifacts) {
    try {
      await recordArtifacts(ctx, claim, body.artifacts);
    } catch (err) {
      if (!(err instanceof ApiError && err.statusCode === 422)) throw err;
      // Refused for good (a blob gone before its manifest came): the job fails as a failed upload
      // of artifacts does, rather than the agent re-sending a completion that can never pass.
      ctx.log.warn({ jobId: claim.jobId, err: err.message }, 'artifact manifest of a completion refused: the job fails');
      outcome = { status: 'failed', exitCode: body.exitCode, failureReason: 'archived_failure' };
    }
  }
  const now = ctx.clock.now();
  const result = await completeJob(ctx.store, { ...claim, ...outcome, now });
  ctx.metrics.jobs.inc({ status: result.job.status });
  if (result.job.started_at !== null) ctx.metrics.jobDuration.observe((now - result.job.started_at) / 1000);
  publishChanges(ctx, result.changes);
}
