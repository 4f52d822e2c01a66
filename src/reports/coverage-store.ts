// The coverage_reports table (migration 028) and the coverage reads built on jobs.coverage: a job's
// Cobertura reports, a pipeline's jobs with coverage, a ref's coverage over its last pipelines, and
// the value of the coverage badge.
import { sql } from 'kysely';
import type { CoberturaSummaryJson, CoveragePointJson, CoverageReportJson, CoverageTrendJson, JobCoverageJson } from '../api/index.js';
import { DomainError } from '../errors.js';
import type { Job, Store } from '../store/index.js';
import { combineCoverage, summarizeCobertura } from './cobertura.js';
import { XmlReportError } from './xml.js';

/** Report files read per job; GitLab merges any number, but a job with more is almost surely globbing too wide. */
export const MAX_COVERAGE_REPORTS_PER_JOB = 20;

/** Pipelines of `GET /api/v1/repos/:name/coverage` when no limit is asked, and the most it gives. */
export const COVERAGE_TREND_DEFAULT = 30;
export const COVERAGE_TREND_MAX = 200;

const FINISHED: ('success' | 'failed')[] = ['success', 'failed'];

/** The job's coverage from its reports: the combined line rate, in percent with two decimals. */
function percentOf(lineRate: number | null): number | null {
  return lineRate === null ? null : Math.round(lineRate * 10_000) / 100;
}

function reportView(row: { path: string; summary: string | null; error: string | null }): CoverageReportJson {
  return {
    path: row.path,
    format: 'cobertura',
    summary: row.summary === null ? null : (JSON.parse(row.summary) as CoberturaSummaryJson),
    error: row.error,
  };
}

/**
 * Reads one Cobertura file of a job as it streams in and keeps its summary, or the reason it could
 * not be read (the job's result does not change). jobs.coverage becomes the line rate of all the
 * job's readable reports; when the job ends, a value its `coverage:` regex finds in the log wins.
 */
export async function recordCoverageReport(
  store: Store,
  input: { jobId: number; path: string; source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>; now: number },
): Promise<CoverageReportJson> {
  const others = await store.db
    .selectFrom('coverage_reports')
    .select(['path', 'summary'])
    .where('job_id', '=', input.jobId)
    .where('path', '!=', input.path)
    .execute();
  if (others.length >= MAX_COVERAGE_REPORTS_PER_JOB) {
    throw new DomainError('too_large', `a job keeps at most ${MAX_COVERAGE_REPORTS_PER_JOB} coverage reports`);
  }
  let summary: CoberturaSummaryJson | null = null;
  let error: string | null = null;
  try {
    summary = await summarizeCobertura(input.path, input.source);
  } catch (err) {
    if (!(err instanceof XmlReportError)) throw err;
    error = err.message;
  }
  const readable = [
    ...others.flatMap((r) => (r.summary === null ? [] : [JSON.parse(r.summary) as CoberturaSummaryJson])),
    ...(summary ? [summary] : []),
  ];
  await store.transaction(async (trx) => {
    await trx.deleteFrom('coverage_reports').where('job_id', '=', input.jobId).where('path', '=', input.path).execute();
    await trx
      .insertInto('coverage_reports')
      .values({
        job_id: input.jobId,
        path: input.path,
        format: 'cobertura',
        summary: summary === null ? null : JSON.stringify(summary),
        error,
        created_at: input.now,
      })
      .execute();
    await trx
      .updateTable('jobs')
      .set({ coverage: percentOf(combineCoverage(readable)?.lineRate ?? null) })
      .where('id', '=', input.jobId)
      .execute();
  });
  return { path: input.path, format: 'cobertura', summary, error };
}

async function reportsOf(store: Store, jobIds: number[]): Promise<Map<number, CoverageReportJson[]>> {
  const byJob = new Map<number, CoverageReportJson[]>();
  if (jobIds.length === 0) return byJob;
  const rows = await store.db
    .selectFrom('coverage_reports')
    .select(['job_id', 'path', 'summary', 'error'])
    .where('job_id', 'in', jobIds)
    .orderBy('job_id')
    .orderBy('path')
    .execute();
  for (const row of rows) {
    const list = byJob.get(Number(row.job_id)) ?? [];
    list.push(reportView(row));
    byJob.set(Number(row.job_id), list);
  }
  return byJob;
}

export async function jobCoverage(store: Store, job: Pick<Job, 'id' | 'name' | 'coverage'>): Promise<JobCoverageJson> {
  const reports = (await reportsOf(store, [job.id])).get(job.id) ?? [];
  return { jobId: job.id, name: job.name, coverage: job.coverage, reports };
}

/** The latest attempts of a pipeline's jobs that have a coverage value or a report, in stage order. */
export async function pipelineJobsCoverage(
  store: Store,
  jobs: Pick<Job, 'id' | 'name' | 'coverage' | 'retried'>[],
): Promise<JobCoverageJson[]> {
  const latest = jobs.filter((j) => j.retried === 0);
  const reports = await reportsOf(
    store,
    latest.map((j) => j.id),
  );
  return latest
    .filter((j) => j.coverage !== null || reports.has(j.id))
    .map((j) => ({ jobId: j.id, name: j.name, coverage: j.coverage, reports: reports.get(j.id) ?? [] }));
}

/**
 * A ref's finished (passed or failed) top-level pipelines, newest `limit`, returned oldest first,
 * each with GitLab's pipeline coverage: the average of its latest jobs' values (SQL AVG skips
 * nulls, as pipelineCoverage does), null when none has one.
 */
export async function coverageTrend(store: Store, input: { repoId: number; ref: string; limit: number }): Promise<CoverageTrendJson> {
  const rows = await store.db
    .selectFrom('pipelines as p')
    .leftJoin('jobs as j', (join) => join.onRef('j.pipeline_id', '=', 'p.id').on('j.retried', '=', 0))
    .select(['p.id', 'p.sha', 'p.status', 'p.created_at', sql<number | null>`avg(j.coverage)`.as('coverage')])
    .where('p.repo_id', '=', input.repoId)
    .where('p.ref', '=', input.ref)
    .where('p.parent_pipeline_id', 'is', null)
    .where('p.status', 'in', FINISHED)
    .groupBy(['p.id', 'p.sha', 'p.status', 'p.created_at'])
    .orderBy('p.id', 'desc')
    .limit(input.limit)
    .execute();
  const points = rows.reverse().map((r): CoveragePointJson => ({
    pipelineId: Number(r.id),
    sha: r.sha,
    status: r.status,
    createdAt: new Date(Number(r.created_at)).toISOString(),
    coverage: r.coverage === null ? null : Number(r.coverage),
  }));
  return { ref: input.ref, points };
}

/**
 * The coverage badge's value (GitLab's coverage badge): the coverage of the ref's newest finished
 * top-level pipeline that has one, or of its job named `job` (its latest attempt); null when none.
 */
export async function latestCoverage(store: Store, input: { repoId: number; ref: string; job?: string }): Promise<number | null> {
  let q = store.db
    .selectFrom('pipelines as p')
    .innerJoin('jobs as j', 'j.pipeline_id', 'p.id')
    .select(['p.id', sql<number>`avg(j.coverage)`.as('coverage')])
    .where('p.repo_id', '=', input.repoId)
    .where('p.ref', '=', input.ref)
    .where('p.parent_pipeline_id', 'is', null)
    .where('p.status', 'in', FINISHED)
    .where('j.retried', '=', 0)
    .where('j.coverage', 'is not', null);
  if (input.job !== undefined) q = q.where('j.name', '=', input.job);
  const row = await q.groupBy('p.id').orderBy('p.id', 'desc').limit(1).executeTakeFirst();
  return row ? Number(row.coverage) : null;
}
