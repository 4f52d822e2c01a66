// Fair claims across repositories (issue 21): a claim first chooses the repository (fewest running
// jobs), then that repository's oldest runnable job, so one repository's 2,000 queued jobs no longer
// hold back every other repository. repos.max_concurrent_jobs caps how many of a repository's jobs
// run at once (null: no cap). jobs_claim (status, repo_id, id) serves each step of the claim with an
// index seek: the repositories that have pending jobs, a repository's running count, and its oldest
// pending job, so a claim costs about one seek per repository with work, not one row per queued job.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('repos').addColumn('max_concurrent_jobs', 'integer').execute();
  await db.schema.createIndex('jobs_claim').on('jobs').columns(['status', 'repo_id', 'id']).execute();
}
