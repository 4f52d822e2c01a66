// Marks test cases flaky when a job's run shows one passing where the previous run of the same commit
// failed: a retried attempt of the job, or a later pipeline of the same sha. Called in the transaction
// that completes the job (its report is handed in while it runs), so every flip is counted once, by the
// job whose passing run made it. Reads stay bounded: the failing cases of earlier runs at this sha are
// few (found through pipelines (repo_id, sha) and test_cases (job_id, status)), and only those keys
// are looked up among this job's cases.
import type { Kysely } from 'kysely';
import type { Database } from '../store/index.js';

export interface RecordFlakyTestsInput {
  jobId: number;
  now: number;
}

/** Failing case keys at one commit looked at per job; past it a job's flips are counted for these only. */
export const MAX_FLAKY_CANDIDATES = 5000;
/** Keys per `IN (...)` list. */
const KEYS_PER_QUERY = 500;

const FAILING = ['failed', 'error'] as const;

/** Returns how many of the job's cases flipped from failing to passing. */
export async function recordFlakyTests(db: Kysely<Database>, input: RecordFlakyTestsInput): Promise<number> {
  const job = await db
    .selectFrom('jobs')
    .innerJoin('pipelines', 'pipelines.id', 'jobs.pipeline_id')
    .select(['jobs.repo_id', 'jobs.pipeline_id', 'pipelines.sha'])
    .where('jobs.id', '=', input.jobId)
    // Every job completes through here: one with no passing case (most have no report) flips nothing,
    // so it stops at this query, answered from test_cases (job_id, status).
    .where(({ exists, selectFrom }) =>
      exists(
        selectFrom('test_cases')
          .select('test_cases.id')
          .where('test_cases.job_id', '=', input.jobId)
          .where('test_cases.status', '=', 'passed'),
      ),
    )
    .executeTakeFirst();
  if (!job) return 0;
  // Earlier runs of this commit in the repository: jobs of its pipelines created before this one.
  const earlier = db
    .selectFrom('pipelines')
    .innerJoin('jobs', 'jobs.pipeline_id', 'pipelines.id')
    .innerJoin('test_cases', 'test_cases.job_id', 'jobs.id')
    .where('pipelines.repo_id', '=', job.repo_id)
    .where('pipelines.sha', '=', job.sha)
    .where('jobs.id', '<', input.jobId);
  const candidates = await earlier
    .select('test_cases.case_key')
    .where('test_cases.status', 'in', FAILING)
    .groupBy('test_cases.case_key')
    .limit(MAX_FLAKY_CANDIDATES)
    .execute();
  let flips = 0;
  for (let i = 0; i < candidates.length; i += KEYS_PER_QUERY) {
    const keys = candidates.slice(i, i + KEYS_PER_QUERY).map((c) => c.case_key);
    const passed = await db
      .selectFrom('test_cases')
      .select(['case_key', 'suite', 'classname', 'name'])
      .where('job_id', '=', input.jobId)
      .where('status', '=', 'passed')
      .where('case_key', 'in', keys)
      .execute();
    if (passed.length === 0) continue;
    // A flip needs the case's latest earlier run at this commit to have failed: a third green run
    // after one red one is no new flip.
    const runs = await earlier
      .select(['test_cases.case_key', 'test_cases.job_id', 'test_cases.status'])
      .where(
        'test_cases.case_key',
        'in',
        passed.map((p) => p.case_key),
      )
      .execute();
    const latest = new Map<string, { jobId: number; failed: boolean }>();
    for (const r of runs) {
      const jobId = Number(r.job_id);
      const failed = (FAILING as readonly string[]).includes(r.status);
      const seen = latest.get(r.case_key);
      if (!seen || jobId > seen.jobId) latest.set(r.case_key, { jobId, failed });
      else if (jobId === seen.jobId && failed) seen.failed = true;
    }
    const flipped = new Map<string, (typeof passed)[number]>();
    for (const p of passed) if (latest.get(p.case_key)?.failed) flipped.set(p.case_key, p);
    if (flipped.size === 0) continue;
    const rows = [...flipped.values()].map((p) => ({
      repo_id: job.repo_id,
      case_key: p.case_key,
      suite: p.suite,
      classname: p.classname,
      name: p.name,
      flips: 1,
      first_seen_at: input.now,
      last_seen_at: input.now,
      last_job_id: input.jobId,
      last_pipeline_id: job.pipeline_id,
      last_sha: job.sha,
    }));
    await db
      .insertInto('flaky_tests')
      .values(rows)
      .onConflict((oc) =>
        oc.columns(['repo_id', 'case_key']).doUpdateSet((eb) => ({
          flips: eb(eb.ref('flaky_tests.flips'), '+', 1),
          last_seen_at: eb.ref('excluded.last_seen_at'),
          last_job_id: eb.ref('excluded.last_job_id'),
          last_pipeline_id: eb.ref('excluded.last_pipeline_id'),
          last_sha: eb.ref('excluded.last_sha'),
        })),
      )
      .execute();
    flips += rows.length;
  }
  return flips;
}
