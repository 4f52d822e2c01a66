// Failures first: which of a pipeline's jobs failed, why (in words) and where their logs say so.
// The pipeline page leads with this summary; its "Show in graph" brings the job's card into view
// however wide the stage graph is, and the job page reuses the same words.
import { useState } from 'react';
import { failureReasonText } from '../../../../src/api/failure-reasons.js';
import { StatusBadge } from '../../components/common.js';
import { Link } from '../../router.js';
import type { Job } from '../../types.js';

/** Failed jobs listed before "Show all": the summary stays within the first screen. */
const SHOWN = 4;

/** The sentence that says why a job failed; null when it did not fail. */
export function failureText(job: Pick<Job, 'status' | 'failureReason' | 'exitCode'>): string | null {
  if (job.status !== 'failed') return null;
  return failureReasonText(job.failureReason ?? 'unknown_failure', job.exitCode);
}

/** A pipeline's failed latest attempts: those that fail the pipeline first, then those allowed to fail, in stage order. */
export function failedJobs(jobs: Job[], stages: string[]): Job[] {
  const stageIndex = (j: Job) => {
    const i = stages.indexOf(j.stage);
    return i === -1 ? stages.length : i;
  };
  return jobs
    .filter((j) => !j.retried && j.status === 'failed')
    .sort((a, b) => Number(a.allowFailure) - Number(b.allowFailure) || stageIndex(a) - stageIndex(b) || a.id - b.id);
}

/** The DOM id of a job's card in the stage graph. */
export const jobCardId = (jobId: number) => `job-card-${jobId}`;

/** Scrolls the stage graph (and the page) to a job's card and moves the focus to it. */
export function revealJob(jobId: number): void {
  const card = document.getElementById(jobCardId(jobId));
  if (!card) return;
  card.scrollIntoView({ block: 'center', inline: 'center' });
  card.querySelector<HTMLElement>('.job-name')?.focus({ preventScroll: true });
  card.classList.remove('revealed');
  // A reflow between the two restarts the highlight's animation on a second click.
  void card.offsetWidth;
  card.classList.add('revealed');
}

/** The link to the log line where a job failed, or to its page when no line was found. */
function failureLink(job: Job): string {
  return job.failureLine ? `/jobs/${job.id}#L${job.failureLine.number}` : `/jobs/${job.id}`;
}

export function FailedJobsSummary({ jobs }: { jobs: Job[] }) {
  const [all, setAll] = useState(false);
  if (jobs.length === 0) return null;
  const failing = jobs.filter((j) => !j.allowFailure).length;
  const shown = all ? jobs : jobs.slice(0, SHOWN);
  const heading =
    failing > 0
      ? `${failing} failed ${failing === 1 ? 'job' : 'jobs'}${failing < jobs.length ? ` (and ${jobs.length - failing} allowed to fail)` : ''}`
      : `${jobs.length} ${jobs.length === 1 ? 'job' : 'jobs'} failed, allowed to fail`;
  return (
    <section className="failure-summary" aria-labelledby="failed-jobs-heading">
      <h2 id="failed-jobs-heading">{heading}</h2>
      <ul>
        {shown.map((job) => (
          <li key={job.id} className="failed-job">
            <div className="failed-job-head">
              <StatusBadge status="failed" />
              <Link to={`/jobs/${job.id}`} className="failed-job-name">
                {job.name}
              </Link>
              <span className="muted">
                stage {job.stage}
                {job.allowFailure ? ' · allowed to fail' : ''}
              </span>
              <button type="button" className="link" onClick={() => revealJob(job.id)} aria-label={`Show in graph: ${job.name}`}>
                Show in graph
              </button>
            </div>
            <p className="failed-job-reason">{failureText(job)}</p>
            {job.failureLine ? (
              <Link to={failureLink(job)} className="failure-line" title={`Line ${job.failureLine.number} of the log`}>
                <code>{job.failureLine.text}</code>
              </Link>
            ) : null}
          </li>
        ))}
      </ul>
      {jobs.length > shown.length ? (
        <button type="button" className="link" onClick={() => setAll(true)}>
          Show all {jobs.length} failed jobs
        </button>
      ) : null}
    </section>
  );
}

/** Why a job failed, in words, and the log line that says so (a link into the log below). */
export function JobFailure({ job }: { job: Job }) {
  const text = failureText(job);
  if (text === null) return null;
  return (
    <div className="error-box job-failure" role="note">
      <strong>{text}</strong>
      {job.failureLine ? (
        <>
          {' '}
          Failed at <Link to={`/jobs/${job.id}#L${job.failureLine.number}`}>line {job.failureLine.number}</Link>:{' '}
          <code>{job.failureLine.text}</code>
        </>
      ) : null}
      {job.quarantinedTests
        ? ` Its only failing tests are known to be flaky and quarantined (${job.quarantinedTests.join(', ')}): the job is allowed to fail.`
        : job.allowFailure
          ? ' The job is allowed to fail: the pipeline goes on.'
          : ''}
    </div>
  );
}
