// Hands an agent a job: the oldest runnable one of the repository running the fewest jobs, within
// that repository's max_concurrent_jobs (docs/architecture.md, "Fair claims"). One transaction:
// choose (and, on PostgreSQL, lock) the job, take a fencing token, issue its CI_JOB_TOKEN, mark it
// and its pipeline running.
// How the job is chosen safely differs by backend, visibly below: SQLite's transaction holds the
// database's write lock from its start, so a plain read cannot race; PostgreSQL claimers run side by
// side and pass each other by with FOR UPDATE SKIP LOCKED, and take advisory locks where a count
// (a resource group's, a repository's limit) decides.
import { sql, type CompiledQuery, type ExpressionBuilder, type Kysely } from 'kysely';
import { generateToken, hashToken } from '../../auth/index.js';
import type { CompiledJob } from '../../pipeline/index.js';
import type { Store } from '../../store/index.js';
import type { Database, Job, JobStatus, Pipeline, Repo } from '../../store/index.js';
import { readJobSpec } from '../columns.js';
import { SchedulerError } from '../errors.js';
import { ChangeLog, type StatusChange } from '../events.js';
import { nextFencingToken } from './next-fencing-token.js';

export interface ClaimInput {
  agentId: number;
  agentTags: string[];
  leaseMs: number;
  now: number;
}

export interface ClaimedJob {
  job: Job;
  spec: CompiledJob;
  pipeline: Pipeline;
  repo: Repo;
  fencingToken: number;
  /**
   * CI_JOB_TOKEN: reads this repository's pipelines, jobs and artifacts while the job runs. Only its
   * hash is stored, with the claim: it replaces an earlier claim's (revoking that token), and the
   * job leaving `running` revokes this one.
   */
  jobToken: string;
  changes: StatusChange[];
}

/**
 * The pending jobs an agent may run, oldest first (GitLab orders by id): its tags among the agent's
 * (matched in SQL, so a claim reads one row however long the queue), and its resource group, if
 * any, running nothing. Tags are a JSON list: jsonb containment on PostgreSQL, json_each on SQLite.
 */
function runnableJobs(trx: Kysely<Database>, dialect: Store['dialect'], agentTags: string[]) {
  return trx.selectFrom('jobs').selectAll().where(runnableBy(dialect, agentTags)).orderBy('id');
}

// Constants as literals, not parameters: PostgreSQL then plans the prepared claim statements once
// per connection (a generic plan) instead of planning again for each claim.
const PENDING = sql.lit<JobStatus>('pending');
const RUNNING = sql.lit<JobStatus>('running');

/** runnableJobs's condition on a row of `jobs`, also for the candidates' correlated subquery. */
function runnableBy(dialect: Store['dialect'], agentTags: string[]) {
  const tagsFit =
    dialect === 'postgres'
      ? sql<boolean>`jobs.tags::jsonb <@ ${JSON.stringify(agentTags)}::jsonb`
      : agentTags.length === 0
        ? sql<boolean>`json_array_length(jobs.tags) = 0`
        : sql<boolean>`not exists (select 1 from json_each(jobs.tags) where json_each.value not in (${sql.join(agentTags)}))`;
  return (eb: ExpressionBuilder<Database, 'jobs'>) =>
    eb.and([
      eb('jobs.status', '=', PENDING),
      eb('jobs.is_trigger', '=', sql.lit(0)),
      tagsFit,
      eb.or([
        eb('jobs.resource_group', 'is', null),
        eb.not(
          eb.exists(
            eb
              .selectFrom('jobs as r')
              .select('r.id')
              .whereRef('r.repo_id', '=', 'jobs.repo_id')
              .whereRef('r.resource_group', '=', 'jobs.resource_group')
              .where('r.status', '=', RUNNING),
          ),
        ),
      ]),
    ]);
}

/**
 * The repositories this agent could take a job from, fairest first (docs/architecture.md, "Fair
 * claims"): fewest running jobs, then oldest runnable job; a repository at its max_concurrent_jobs
 * is left out. Cheap however long one repository's queue: the repositories with pending jobs are
 * found by a loose index scan (one jobs_claim seek per repository, not one row per job), and each
 * one's running count and oldest runnable job are seeks of the same index.
 */
function candidatesQuery(db: Kysely<Database>, dialect: Store['dialect'], agentTags: string[]): CompiledQuery<Candidate> {
  const query = db
    .withRecursive('pending_repos(repo_id)', (db) =>
      db
        .selectFrom('jobs')
        .select((eb) => eb.fn.min<number | null>('repo_id').as('repo_id'))
        .where('status', '=', PENDING)
        .unionAll((db) =>
          db
            .selectFrom('pending_repos as p')
            .select((eb) =>
              eb
                .selectFrom('jobs as n')
                .select((n) => n.fn.min('n.repo_id').as('next'))
                .where('n.status', '=', PENDING)
                .whereRef('n.repo_id', '>', 'p.repo_id')
                .as('repo_id'),
            )
            .where('p.repo_id', 'is not', null),
        ),
    )
    // Materialized: each repository's subqueries run once, not again for the filter and the order.
    .with(
      (cte) => cte('c').materialized(),
      (db) =>
        db
          .selectFrom('pending_repos as p')
          .innerJoin('repos', 'repos.id', 'p.repo_id')
          .select((eb) => [
            'repos.id as repo_id',
            'repos.max_concurrent_jobs',
            eb
              .selectFrom('jobs as busy')
              .select((b) => b.fn.countAll<number>().as('n'))
              .whereRef('busy.repo_id', '=', 'repos.id')
              .where('busy.status', '=', RUNNING)
              .as('running'),
            eb
              .selectFrom('jobs')
              .select('jobs.id')
              .whereRef('jobs.repo_id', '=', 'repos.id')
              .where(runnableBy(dialect, agentTags))
              .orderBy('jobs.id')
              .limit(sql.lit(1))
              .as('oldest'),
          ]),
    )
    .selectFrom('c')
    .selectAll('c')
    .where('c.oldest', 'is not', null)
    .where((eb) => eb.or([eb('c.max_concurrent_jobs', 'is', null), eb('c.running', '<', eb.ref('c.max_concurrent_jobs'))]))
    .orderBy('c.running')
    .orderBy('c.oldest');
  // SQLite acts on the first only (see pickSqlite); PostgreSQL may need to go down the list.
  return (dialect === 'sqlite' ? query.limit(sql.lit(1)) : query).compile();
}

interface Candidate {
  repo_id: number;
  max_concurrent_jobs: number | null;
  running: number;
  oldest: number;
}

/** Compiled candidate queries by dialect and tag set (agents come in few kinds), at most this many. */
const CACHED_CANDIDATE_QUERIES = 1000;
const candidateQueries = new Map<string, CompiledQuery<Candidate>>();

/**
 * The candidates, fairest first. Their query is built once per tag set: building it with Kysely cost
 * more than running it (0.2-0.9 ms against 0.03-0.14 ms on SQLite, measured with bench/claim-cost.ts).
 */
async function candidates(trx: Kysely<Database>, dialect: Store['dialect'], agentTags: string[]): Promise<Candidate[]> {
  const key = `${dialect}\n${JSON.stringify(agentTags)}`;
  let query = candidateQueries.get(key);
  if (!query) {
    query = candidatesQuery(trx, dialect, agentTags);
    if (candidateQueries.size >= CACHED_CANDIDATE_QUERIES) candidateQueries.delete(candidateQueries.keys().next().value as string);
    candidateQueries.set(key, query);
  }
  return (await trx.executeQuery(query)).rows;
}

/**
 * SQLite: the transaction holds the write lock from its start, so the fairest repository's oldest
 * runnable job, and its running count against its limit, are safe to act on.
 */
async function pickSqlite(trx: Kysely<Database>, agentTags: string[]): Promise<Job | null> {
  const [fairest] = await candidates(trx, 'sqlite', agentTags);
  if (!fairest) return null;
  return await trx.selectFrom('jobs').selectAll().where('id', '=', fairest.oldest).executeTakeFirstOrThrow();
}

// Arbitrary constants: the first keys of Tandem's advisory locks, so they cannot collide with other
// users of advisory locks in the same database (Kysely's migration lock is one) or with each other.
const RESOURCE_GROUP_LOCK_SPACE = 0x54_41_4e_44;
const REPO_LIMIT_LOCK_SPACE = 0x54_41_4e_45;

/**
 * PostgreSQL: two claimers may each lock a pending job of the same resource group, and under READ
 * COMMITTED both would see no running job in it. A transaction-scoped advisory lock per (repository,
 * group), held until commit, makes that check-then-claim one at a time per group, so the next
 * claimer's check sees the job that just started. Chosen over locking a row per group because it
 * needs no table or row to exist first; a hash collision only makes two groups wait for each other.
 */
async function resourceGroupFree(trx: Kysely<Database>, job: Job): Promise<boolean> {
  await sql`select pg_advisory_xact_lock(${RESOURCE_GROUP_LOCK_SPACE}::int, hashtext(${`${job.repo_id}\n${job.resource_group}`}))`.execute(
    trx,
  );
  const running = await trx
    .selectFrom('jobs')
    .select('id')
    .where('repo_id', '=', job.repo_id)
    .where('resource_group', '=', job.resource_group)
    .where('status', '=', 'running')
    .executeTakeFirst();
  return running === undefined;
}

/**
 * PostgreSQL: the same race as a resource group's, for a repository's max_concurrent_jobs: two
 * claimers could each count one slot left. Under a transaction-scoped advisory lock per repository
 * the count is taken again (READ COMMITTED: a new snapshot, which sees the claim the last holder
 * committed). The lock is only tried: a repository another claimer is claiming from right now is
 * passed by, as SKIP LOCKED passes a locked row, so a claimer never waits on one repository's lock
 * while holding another's (no deadlock), and the next claim or dispatch round comes back to it. A
 * hash collision only makes two repositories pass each other by now and then.
 */
async function repoHasRoom(trx: Kysely<Database>, repoId: number, limit: number): Promise<boolean> {
  const { rows } = await sql<{
    locked: boolean;
  }>`select pg_try_advisory_xact_lock(${REPO_LIMIT_LOCK_SPACE}::int, hashtext(${String(repoId)})) as locked`.execute(trx);
  if (!rows[0]?.locked) return false;
  const { n } = await trx
    .selectFrom('jobs')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('status', '=', 'running')
    .where('repo_id', '=', repoId)
    .executeTakeFirstOrThrow();
  return Number(n) < limit;
}

/**
 * PostgreSQL: lock the repository's oldest pending job this agent can run, skipping jobs other
 * claimers hold (FOR UPDATE SKIP LOCKED); runnableJobs's check of the group only skips busy groups
 * cheaply, resourceGroupFree decides under its lock.
 */
async function lockInRepo(trx: Kysely<Database>, agentTags: string[], repoId: number): Promise<Job | null> {
  for (let afterId = 0; ;) {
    const job = await runnableJobs(trx, 'postgres', agentTags)
      .where('repo_id', '=', repoId)
      .where('id', '>', afterId)
      .limit(1)
      .forUpdate()
      .skipLocked()
      .executeTakeFirst();
    if (!job) return null;
    if (job.resource_group === null || (await resourceGroupFree(trx, job))) return job;
    afterId = job.id;
  }
}

/**
 * PostgreSQL: the candidates, fairest first, were read without locks (claimers run side by side);
 * each is then tried under its locks until one yields a job. A candidate whose jobs other claimers
 * hold just now is passed for the next, so parallel claimers spread over repositories.
 */
async function lockPostgres(trx: Kysely<Database>, agentTags: string[]): Promise<Job | null> {
  for (const candidate of await candidates(trx, 'postgres', agentTags)) {
    const limit = candidate.max_concurrent_jobs;
    if (limit !== null && !(await repoHasRoom(trx, candidate.repo_id, limit))) continue;
    const job = await lockInRepo(trx, agentTags, candidate.repo_id);
    if (job) return job;
  }
  return null;
}

export async function claimJob(store: Store, input: ClaimInput): Promise<ClaimedJob | null> {
  if (!(input.leaseMs > 0)) throw new SchedulerError('invalid', `claim: leaseMs must be positive, got ${input.leaseMs}`);
  const { now } = input;

  return store.transaction(async (trx) => {
    const job = store.dialect === 'postgres' ? await lockPostgres(trx, input.agentTags) : await pickSqlite(trx, input.agentTags);
    if (!job) return null;
    const changes = new ChangeLog();
    const jobToken = generateToken('tdj');
    // Taken once the job is secured: a claim that finds no job uses up no token (one for an agent
    // removed meanwhile does, and is refused below).
    const row = await trx
      .updateTable('jobs')
      .set({
        status: 'running',
        agent_id: input.agentId,
        fencing_token: await nextFencingToken(trx),
        started_at: now,
        lease_expires_at: now + input.leaseMs,
        deadline_at: now + job.timeout_seconds * 1000,
        job_token_hash: hashToken(jobToken),
      })
      .where('id', '=', job.id)
      .where('status', '=', 'pending')
      // A replica's copy of its agents may lag a removal by seconds (src/server/agent-directory.ts):
      // a revoked agent gets no job, checked here at no extra round trip.
      .where(({ exists, selectFrom }) => exists(selectFrom('agents').select('agents.id').where('agents.id', '=', input.agentId)))
      .returningAll()
      .executeTakeFirst();
    if (!row) {
      const agent = await trx.selectFrom('agents').select('id').where('id', '=', input.agentId).executeTakeFirst();
      if (!agent) return null;
      // Cannot happen while the job is locked (see above); refuse rather than hand out a job twice.
      throw new Error(`claim: job ${job.id} changed while it was being claimed`);
    }
    changes.job(job, 'running');
    // Pending to running releases no job (both are unfinished), and a running job makes its pipeline
    // running whatever the others are (rules.ts's pipelineStatus): so a claim neither advances the
    // pipeline nor takes its lock, and claimers of one pipeline do not queue behind each other.
    let pipeline = await trx.selectFrom('pipelines').selectAll().where('id', '=', job.pipeline_id).executeTakeFirstOrThrow();
    if (pipeline.status !== 'running') {
      // Checked again in the UPDATE: of two claimers starting one pipeline, only one reports it.
      const started = await trx
        .updateTable('pipelines')
        .set({ status: 'running', started_at: pipeline.started_at ?? now, finished_at: null })
        .where('id', '=', pipeline.id)
        .where('status', '!=', 'running')
        .returningAll()
        .executeTakeFirst();
      if (started) changes.pipeline(started, 'running');
      pipeline = started ?? (await trx.selectFrom('pipelines').selectAll().where('id', '=', job.pipeline_id).executeTakeFirstOrThrow());
    }
    const repo = await trx.selectFrom('repos').selectAll().where('id', '=', job.repo_id).executeTakeFirstOrThrow();
    // The UPDATE set it, so it is there: a claimed job always holds its token.
    const fencingToken = row.fencing_token as number;
    return { job: row, spec: readJobSpec(row), pipeline, repo, fencingToken, jobToken, changes: await changes.commit(trx, now) };
  });
}
