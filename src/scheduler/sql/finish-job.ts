// Ends a running attempt (reported by its agent, or decided by the server for a lost agent or a
// timeout) and queues the next attempt when the retry policy says so.
import type { Kysely } from 'kysely';
import { COVERAGE_SCAN_CHARS, extractCoverage, failingLogLine, type CompiledJob } from '../../pipeline/index.js';
import { quarantinedTests, recordFlakyTests } from '../../reports/index.js';
import type { Database, Job } from '../../store/index.js';
import { readJobSpec } from '../columns.js';
import { StaleTokenError } from '../errors.js';
import type { ChangeLog } from '../events.js';
import { failureAllowed, retryAllowed } from '../rules.js';
import { logPagesIn } from './append-log.js';
import { insertNewAttempt } from './new-attempt.js';

export interface Outcome {
  status: 'success' | 'failed' | 'canceled';
  exitCode: number | null;
  failureReason: string | null;
  /** The agent's token when the agent reported it; null when the server decided. */
  completedToken: number | null;
  /** Requeue regardless of the file's `retry` (a lost agent is not the job's fault). */
  forceRetry?: boolean;
}

/** Log chunks read per query while looking for the coverage, newest first. */
const COVERAGE_PAGE = 100;

/**
 * The job's coverage (GitLab sets it for a job that ran its script: success or failed). Only a job
 * with a `coverage:` regex pays for reading its log: a page of chunks at a time, newest first,
 * stopping once the end of the log the regex may see (COVERAGE_SCAN_CHARS) is read, so a huge log
 * is never held whole. Without a regex, or when it finds nothing, the value stays the line rate of
 * the job's Cobertura reports, set when the agent uploaded them (src/reports/coverage-store.ts).
 */
async function coverageOf(trx: Kysely<Database>, job: Job, spec: CompiledJob, outcome: Outcome): Promise<number | null> {
  if (outcome.status === 'canceled') return null;
  if (spec.coverage === undefined) return job.coverage;
  const tail: string[] = [];
  let chars = 0;
  let before: number | null = null;
  while (chars < COVERAGE_SCAN_CHARS) {
    let q = trx.selectFrom('job_logs').select(['seq', 'data']).where('job_id', '=', job.id);
    if (before !== null) q = q.where('seq', '<', before);
    const page = await q.orderBy('seq', 'desc').limit(COVERAGE_PAGE).execute();
    for (const row of page) {
      if (chars >= COVERAGE_SCAN_CHARS) break;
      tail.push(row.data);
      chars += row.data.length;
    }
    if (page.length < COVERAGE_PAGE) break;
    before = page[page.length - 1].seq;
  }
  return extractCoverage(spec.coverage, tail.reverse().join('')) ?? job.coverage;
}

/** The job as it ended (its row before a new attempt flagged it retried) and the new attempt's id, if one was queued. */
export async function finishRunningJob(
  trx: Kysely<Database>,
  job: Job,
  outcome: Outcome,
  now: number,
  changes: ChangeLog,
): Promise<{ ended: Job; retryJobId: number | null }> {
  const spec = readJobSpec(job);
  // Found once here, so the pages that lead with a failure never read logs (one forward scan, as a
  // failure notification's; only failed jobs pay for it).
  const failingLine = outcome.status === 'failed' ? await failingLogLine(logPagesIn(trx, job.id)) : null;
  let allowFailure = outcome.status === 'failed' ? failureAllowed(spec, outcome.exitCode) : spec.allowFailure;
  // The job's JUnit reports are in (handed in while it ran): its passing cases may show flakiness, and
  // a script failure whose only failing tests are known flaky may be quarantined (src/reports/quarantine.ts).
  // Agents hand in only the reports the job declares, so a job without `reports:junit` has no case to look at.
  if (spec.artifacts?.junit?.length) await recordFlakyTests(trx, { jobId: job.id, now });
  const quarantined =
    outcome.status === 'failed' && !allowFailure && outcome.failureReason === 'script_failure'
      ? await quarantinedTests(trx, { jobId: job.id })
      : null;
  if (quarantined !== null) allowFailure = true;
  const ended = await trx
    .updateTable('jobs')
    .set({
      status: outcome.status,
      exit_code: outcome.exitCode,
      failure_reason: outcome.status === 'failed' ? outcome.failureReason : null,
      allow_failure: allowFailure ? 1 : 0,
      completed_token: outcome.completedToken,
      coverage: await coverageOf(trx, job, spec, outcome),
      failure_line: failingLine?.number ?? null,
      failure_line_text: failingLine?.text ?? null,
      quarantined_tests: quarantined === null ? null : JSON.stringify(quarantined),
      lease_expires_at: null,
      finished_at: now,
    })
    .where('id', '=', job.id)
    .where('status', '=', 'running')
    .where('fencing_token', '=', job.fencing_token)
    .returningAll()
    .executeTakeFirst();
  if (!ended) throw new StaleTokenError(job.id, 'the job changed while finishing');
  changes.job(job, outcome.status);

  if (outcome.status !== 'failed') return { ended, retryJobId: null };
  const reason = outcome.failureReason ?? 'unknown_failure';
  if (outcome.forceRetry || retryAllowed(spec.retry, job.attempt, reason, outcome.exitCode)) {
    return { ended, retryJobId: await insertNewAttempt(trx, job, 'pending', now, changes) };
  }
  return { ended, retryJobId: null };
}

/**
 * Ends the attempt of a job whose agent is lost (its lease ran out, its presence broke, or it came
 * back without the job): failed with runner_system_failure and, while attempts remain, queued again
 * whatever the file's `retry` says (a lost agent is not the job's fault). A job someone asked to
 * cancel ends canceled; one past its timeout fails by timeout.
 */
export async function finishLostJob(
  trx: Kysely<Database>,
  job: Job,
  now: number,
  maxSystemAttempts: number,
  changes: ChangeLog,
): Promise<{ status: 'failed' | 'canceled'; retryJobId: number | null }> {
  const byTimeout = job.cancel_reason === 'timeout';
  const status = job.cancel_reason === 'user' ? 'canceled' : 'failed';
  const { retryJobId } = await finishRunningJob(
    trx,
    job,
    {
      status,
      exitCode: null,
      failureReason: byTimeout ? 'job_execution_timeout' : 'runner_system_failure',
      completedToken: null,
      forceRetry: status === 'failed' && !byTimeout && job.attempt < maxSystemAttempts,
    },
    now,
    changes,
  );
  return { status, retryJobId };
}
