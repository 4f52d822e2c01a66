// Hands an agent a job: the oldest runnable one of the repository running the fewest jobs, within
// that repository's max_concurrent_jobs (docs/architecture.md, "Fair claims"). One transaction:
// choose (and, on PostgreSQL, lock) the job, take a fencing token, issue its CI_JOB_TOKEN, mark it
// and its pipeline running; for several agents with the same tags, one after another.
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

/** Claims for several agents with the same tags, in one transaction (see claimJobs). */
export interface ClaimsInput {
  agentIds: number[];
  agentTags: string[];
  leaseMs: number;
  now: number;
}

export interface Claims {
  /** One entry per agent, in order: its job, or null (it was removed meanwhile, or the queue ran out first). */
  jobs: (ClaimedJob | null)[];
  /** Nothing was left for these tags: the agents after the last job got none for that reason. */
  exhausted: boolean;
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
  /** This claim's own changes (a claim of several agents published each with its job). */
  changes: StatusChange[];
}

/**
 * The pending jobs an agent may run, oldest first (GitLab orders by id): its tags among the agent's
 * (matched in SQL, so a claim reads one row however long the queue), and its resource group, if
 * any, running nothing. Tags are a JSON list: jsonb containment on PostgreSQL, json_each on SQLite.
 */
function runnableJobs(trx: Kysely<Database>, dialect: Store['dialect'], agentTags: string[]) {
  return trx.selectFrom('jobs').select(['id', 'repo_id', 'resource_group']).where(runnableBy(dialect, agentTags)).orderBy('id');
}

type Runnable = Pick<Job, 'id' | 'repo_id' | 'resource_group'>;

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
 * runnable job, and its running count against its limit, are safe to act on. Its id is enough: the
 * claim's UPDATE returns the row.
 */
async function pickSqlite(trx: Kysely<Database>, agentTags: string[]): Promise<number | null> {
  const [fairest] = await candidates(trx, 'sqlite', agentTags);
  return fairest?.oldest ?? null;
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
 * needs no table or row to exist first. The lock is only tried, as a repository's limit's is: a
 * claim of several agents may hold one group's lock while it tries another's, and a claimer that
 * waited there could deadlock with one doing the reverse. A group whose lock another claimer holds
 * is passed by: that claimer is starting the group's job, or finds it busy; should it roll back
 * instead, the dispatcher's repair finds the job still pending. A hash collision only makes two
 * groups pass each other by now and then.
 */
async function resourceGroupFree(trx: Kysely<Database>, job: Runnable): Promise<boolean> {
  const { rows } = await sql<{
    locked: boolean;
  }>`select pg_try_advisory_xact_lock(${RESOURCE_GROUP_LOCK_SPACE}::int, hashtext(${`${job.repo_id}\n${job.resource_group}`})) as locked`.execute(
    trx,
  );
  if (!rows[0]?.locked) return false;
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
async function lockInRepo(trx: Kysely<Database>, agentTags: string[], repoId: number): Promise<number | null> {
  for (let afterId = 0; ;) {
    const job = await runnableJobs(trx, 'postgres', agentTags)
      .where('repo_id', '=', repoId)
      .where('id', '>', afterId)
      .limit(1)
      .forUpdate()
      .skipLocked()
      .executeTakeFirst();
    if (!job) return null;
    if (job.resource_group === null || (await resourceGroupFree(trx, job))) return job.id;
    afterId = job.id;
  }
}

/**
 * PostgreSQL: the candidates, fairest first, were read without locks (claimers run side by side);
 * each is then tried under its locks until one yields a job. A candidate whose jobs other claimers
 * hold just now is passed for the next, so parallel claimers spread over repositories.
 */
async function lockPostgres(trx: Kysely<Database>, agentTags: string[]): Promise<number | null> {
  for (const candidate of await candidates(trx, 'postgres', agentTags)) {
    const limit = candidate.max_concurrent_jobs;
    if (limit !== null && !(await repoHasRoom(trx, candidate.repo_id, limit))) continue;
    const jobId = await lockInRepo(trx, agentTags, candidate.repo_id);
    if (jobId !== null) return jobId;
  }
  return null;
}

/** A claim for one agent: claimJobs for a single agent. */
export async function claimJob(store: Store, { agentId, ...input }: ClaimInput): Promise<ClaimedJob | null> {
  return (await claimJobs(store, { ...input, agentIds: [agentId] })).jobs[0] ?? null;
}

/**
 * Claims a job for each agent in turn, in one transaction: the agents share its BEGIN and COMMIT,
 * and the pipeline and repository rows their jobs have in common. Each claim chooses afresh (the
 * claims before it changed the running counts that fairness and limits go by). The first claim
 * that finds nothing ends the round: the later agents have the same tags, so they would find
 * nothing either.
 */
export async function claimJobs(store: Store, input: ClaimsInput): Promise<Claims> {
  if (!(input.leaseMs > 0)) throw new SchedulerError('invalid', `claim: leaseMs must be positive, got ${input.leaseMs}`);
  return store.transaction(async (trx) => {
    const changes = new ChangeLog();
    const shared: SharedRows = { pipelines: new Map(), repos: new Map() };
    const jobs: (ClaimedJob | null)[] = [];
    let exhausted = false;
    for (const agentId of input.agentIds) {
      const jobId = store.dialect === 'postgres' ? await lockPostgres(trx, input.agentTags) : await pickSqlite(trx, input.agentTags);
      if (jobId === null) {
        exhausted = true;
        break;
      }
      const before = changes.list.length;
      const claimed = await claimFor(trx, { jobId, agentId, leaseMs: input.leaseMs, now: input.now }, changes, shared);
      // The entries are the log's own objects: the commit below marks them in both.
      jobs.push(claimed && { ...claimed, changes: changes.list.slice(before) });
    }
    // The agent that found nothing, and those after it, get nothing.
    while (jobs.length < input.agentIds.length) jobs.push(null);
    await changes.commit(trx, input.now);
    return { jobs, exhausted };
  });
}

/** Pipelines and repositories read (or started) by earlier claims of the same transaction. */
interface SharedRows {
  pipelines: Map<number, Pipeline>;
  repos: Map<number, Repo>;
}

/**
 * Marks the chosen job running for the agent, with a fencing token and a new CI_JOB_TOKEN, and its
 * pipeline running; null when the agent was removed meanwhile.
 */
async function claimFor(
  trx: Kysely<Database>,
  { jobId, agentId, leaseMs, now }: { jobId: number; agentId: number; leaseMs: number; now: number },
  changes: ChangeLog,
  shared: SharedRows,
): Promise<Omit<ClaimedJob, 'changes'> | null> {
  const jobToken = generateToken('tdj');
  // Taken once the job is secured: a claim that finds no job uses up no token (one for an agent
  // removed meanwhile does, and is refused below).
  const fencingToken = await nextFencingToken(trx);
  const job = await trx
    .updateTable('jobs')
    .set({
      status: 'running',
      agent_id: agentId,
      fencing_token: fencingToken,
      started_at: now,
      lease_expires_at: now + leaseMs,
      // Computed by the UPDATE, which returns the row: the job needs no read of its own. In bigint:
      // PostgreSQL would take the parameter for an integer, and a long timeout overflows one too.
      deadline_at: sql<number>`cast(${now} as bigint) + cast(timeout_seconds as bigint) * 1000`,
      job_token_hash: hashToken(jobToken),
    })
    .where('id', '=', jobId)
    .where('status', '=', 'pending')
    // A replica's copy of its agents may lag a removal by seconds (src/server/agent-directory.ts):
    // a revoked agent gets no job, checked here at no extra round trip.
    .where(({ exists, selectFrom }) => exists(selectFrom('agents').select('agents.id').where('agents.id', '=', agentId)))
    .returningAll()
    .executeTakeFirst();
  if (!job) {
    const agent = await trx.selectFrom('agents').select('id').where('id', '=', agentId).executeTakeFirst();
    if (!agent) return null;
    // Cannot happen while the job is locked (see above); refuse rather than hand out a job twice.
    throw new Error(`claim: job ${jobId} changed while it was being claimed`);
  }
  changes.job(job, 'running');
  const pipeline = await pipelineStarted(trx, job.pipeline_id, now, changes, shared);
  let repo = shared.repos.get(job.repo_id);
  if (!repo) {
    repo = await trx.selectFrom('repos').selectAll().where('id', '=', job.repo_id).executeTakeFirstOrThrow();
    shared.repos.set(repo.id, repo);
  }
  // The UPDATE set it, so it is there: a claimed job always holds its token.
  return { job, spec: readJobSpec(job), pipeline, repo, fencingToken: job.fencing_token as number, jobToken };
}

/**
 * The claimed job's pipeline, running. Pending to running releases no job (both are unfinished), and
 * a running job makes its pipeline running whatever the others are (rules.ts's pipelineStatus): so a
 * claim neither advances the pipeline nor takes its lock, and claimers of one pipeline do not queue
 * behind each other.
 */
async function pipelineStarted(
  trx: Kysely<Database>,
  pipelineId: number,
  now: number,
  changes: ChangeLog,
  shared: SharedRows,
): Promise<Pipeline> {
  const known = shared.pipelines.get(pipelineId);
  if (known) return known;
  let pipeline = await trx.selectFrom('pipelines').selectAll().where('id', '=', pipelineId).executeTakeFirstOrThrow();
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
    pipeline = started ?? (await trx.selectFrom('pipelines').selectAll().where('id', '=', pipelineId).executeTakeFirstOrThrow());
  }
  shared.pipelines.set(pipeline.id, pipeline);
  return pipeline;
}
