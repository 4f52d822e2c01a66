// Whose fault a failed job or pipeline is: the split behind the pipeline system-error SLO. Free of
// imports, so the scheduler (which `tandem exec` loads too) does not pull in the metrics library.

/**
 * Job failure reasons that are Tandem's fault (its agents, its API, its storage, its claims), as
 * opposed to the pipeline's own scripts, file or deploy targets. Reasons Tandem does not know count
 * as its own: a failure nobody can explain is not the user's.
 */
export const USER_FAILURE_REASONS: ReadonlySet<string> = new Set([
  'script_failure',
  'job_execution_timeout',
  'deployment_failure',
  'config_error',
  'missing_dependency_failure',
  'unmet_prerequisites',
  // A trigger job's: its downstream pipeline failed (that pipeline counts its own cause), or the
  // file or project it names is wrong.
  'downstream_pipeline_failed',
  'downstream_pipeline_creation_failed',
]);
const SYSTEM_FAILURE_REASONS = new Set([
  'runner_system_failure',
  'api_failure',
  'archived_failure',
  'stale_claim',
  'scheduler_failure',
  'data_integrity_failure',
  'stuck_or_timeout_failure',
  'unknown_failure',
]);

export type FailureCause = 'system' | 'user';

/** Whose fault a failure reason is, and the reason as a label value (unknown reasons become `other`: agents send free text). */
export function failureCause(reason: string | null | undefined): { cause: FailureCause; reason: string } {
  const r = reason ?? 'unknown_failure';
  if (USER_FAILURE_REASONS.has(r)) return { cause: 'user', reason: r };
  return { cause: 'system', reason: SYSTEM_FAILURE_REASONS.has(r) ? r : 'other' };
}
