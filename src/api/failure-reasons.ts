// Failure reasons in words: the codes the scheduler and agents record (GitLab's, plus Tandem's own)
// as the sentence a person reads on the pipeline and job pages. One table, so every page says the
// same (the CLI shows the code); a code it does not know (agents may send free text) is shown as it is.

const SENTENCES: Record<string, string> = {
  job_execution_timeout: 'The job ran longer than its timeout and was stopped.',
  runner_system_failure: 'The agent failed or was lost while running the job; the script did not fail.',
  stale_claim: 'The agent lost its claim on the job; another agent took it over.',
  archived_failure: 'The script passed, but the job’s artifacts could not be uploaded.',
  deployment_failure: 'The deployment failed; the environment’s release history says why.',
  missing_dependency_failure: 'An artifact this job needs from an earlier job is missing or expired.',
  downstream_pipeline_failed: 'The pipeline this job triggered failed.',
  downstream_pipeline_creation_failed: 'The pipeline this job triggers could not be created: its file or project is wrong.',
  config_error: 'The pipeline file is invalid.',
  unmet_prerequisites: 'The job’s prerequisites (its image or services) could not be prepared.',
  api_failure: 'The agent could not reach the server.',
  scheduler_failure: 'Tandem could not schedule the job.',
  data_integrity_failure: 'Tandem found the job’s data inconsistent.',
  stuck_or_timeout_failure: 'The job was stuck or waited too long for an agent.',
  unknown_failure: 'The job failed for a reason Tandem does not know.',
  runner_unsupported: 'No agent supports what the job asks for.',
  stale_schedule: 'The scheduled job could not start in time.',
  superseded: 'A newer deployment to the same environment replaced this one.',
};

/** The failure reason as a sentence; null when there is no reason. */
export function failureReasonText(reason: string | null, exitCode: number | null = null): string | null {
  if (reason === null) return null;
  if (reason === 'script_failure') return exitCode === null ? 'The script failed.' : `The script exited with code ${exitCode}.`;
  return SENTENCES[reason] ?? `The job failed (${reason}).`;
}
