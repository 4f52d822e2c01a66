// GitLab's job and pipeline semantics as pure functions over statuses; the SQL modules apply them.
import { FINISHED_STATUSES } from '../api/index.js';
import type { CompiledJob, RetrySpec } from '../pipeline/index.js';
import type { JobStatus, PipelineStatus } from '../store/index.js';

export interface JobFacts {
  status: JobStatus;
  allowFailure: boolean;
}

export function isFinished(status: JobStatus): boolean {
  return FINISHED_STATUSES.has(status);
}

/** A failure (or cancel) that counts against the pipeline. */
function hardFailed(j: JobFacts): boolean {
  return j.status === 'failed' && !j.allowFailure;
}
function hardCanceled(j: JobFacts): boolean {
  return j.status === 'canceled' && !j.allowFailure;
}
/** Allowed failures and optional manual jobs do not decide a pipeline's outcome (GitLab's "ignored"). */
function ignored(j: JobFacts): boolean {
  return j.allowFailure && (j.status === 'failed' || j.status === 'canceled' || j.status === 'manual');
}

/**
 * What a job's predecessors amount to, gathered one at a time (a job of a late stage has every job
 * of the earlier stages as predecessors: listing them for each job would cost time quadratic in
 * the pipeline's size).
 */
export interface Predecessors {
  /** Some predecessor is neither finished nor an unplayed optional manual job. */
  unfinished: boolean;
  /** Some predecessor is an unplayed optional manual job. */
  optionalManual: boolean;
  failed: boolean;
  canceled: boolean;
  skipped: boolean;
}

export const NO_PREDECESSORS: Predecessors = { unfinished: false, optionalManual: false, failed: false, canceled: false, skipped: false };

export function withPredecessor(preds: Predecessors, p: JobFacts): Predecessors {
  const optionalManual = p.status === 'manual' && p.allowFailure;
  return {
    unfinished: preds.unfinished || (!isFinished(p.status) && !optionalManual),
    optionalManual: preds.optionalManual || optionalManual,
    failed: preds.failed || hardFailed(p),
    canceled: preds.canceled || hardCanceled(p),
    skipped: preds.skipped || p.status === 'skipped',
  };
}

/**
 * What a 'created' job becomes now, or null while it must keep waiting.
 * `dag` is true when the predecessors come from `needs`: then a skipped or unplayed manual need
 * skips/blocks the job (the failure that skipped the need must not be forgotten two hops later),
 * while in stage order an optional manual job counts as done.
 */
export function decideCreated(when: CompiledJob['when'], played: boolean, preds: Predecessors, dag: boolean): JobStatus | null {
  if (preds.unfinished || (dag && preds.optionalManual)) return null;
  const failed = preds.failed;
  const fine = !failed && !preds.canceled && !(dag && preds.skipped);
  switch (played ? 'on_success' : when) {
    case 'on_success':
      return fine ? 'pending' : 'skipped';
    case 'on_failure':
      return failed ? 'pending' : 'skipped';
    case 'always':
      return 'pending';
    case 'manual':
      return fine ? 'manual' : 'skipped';
    case 'delayed':
      return fine ? 'scheduled' : 'skipped';
  }
}

/** The pipeline's status from its latest (not retried) jobs, in GitLab's order of precedence. */
export function pipelineStatus(jobs: JobFacts[]): PipelineStatus {
  if (jobs.length === 0) return 'skipped';
  const has = (s: JobStatus): boolean => jobs.some((j) => j.status === s && !ignored(j));
  if (has('running')) return 'running';
  if (has('pending')) {
    const nothingStarted = jobs.every((j) => ['created', 'pending', 'skipped'].includes(j.status) || ignored(j));
    return nothingStarted ? 'pending' : 'running';
  }
  if (has('manual')) return 'manual';
  if (has('scheduled')) return 'scheduled';
  // Jobs still waiting while nothing runs: they wait for someone to play a manual job.
  if (has('created')) return jobs.some((j) => j.status === 'manual') ? 'manual' : 'created';
  if (jobs.some(hardFailed)) return 'failed';
  if (jobs.some(hardCanceled)) return 'canceled';
  // GitLab: allowed failures are "success with warnings", so only skipped and unplayed optional
  // manual jobs make a skipped pipeline.
  if (jobs.every((j) => j.status === 'skipped' || (ignored(j) && j.status === 'manual'))) return 'skipped';
  return 'success';
}

export function isPipelineFinished(status: PipelineStatus): boolean {
  return status === 'success' || status === 'failed' || status === 'canceled' || status === 'skipped';
}

/** GitLab's `retry`: `max` retries after the first attempt, matching `when` reasons and `exit_codes`. */
export function retryAllowed(retry: RetrySpec, attempt: number, failureReason: string, exitCode: number | null): boolean {
  if (attempt > retry.max) return false;
  const whenOk = retry.when.length === 0 || retry.when.includes('always') || retry.when.includes(failureReason);
  const codeOk = retry.exitCodes.length === 0 || (exitCode !== null && retry.exitCodes.includes(exitCode));
  return whenOk && codeOk;
}

/** `allow_failure: true`, or `allow_failure: exit_codes` matching this exit code. */
export function failureAllowed(spec: CompiledJob, exitCode: number | null): boolean {
  return spec.allowFailure || (exitCode !== null && spec.allowFailureExitCodes.includes(exitCode));
}
