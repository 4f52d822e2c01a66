// Hands the oldest runnable job to an agent. One transaction: choose (and, on PostgreSQL, lock) the
// job, take a fencing token, mark it and its pipeline running. How the job is chosen safely
// differs by backend, visibly below: SQLite's transaction holds the database's write lock from its
// start, so a plain scan cannot race; PostgreSQL claimers run side by side and pass each other by
// with FOR UPDATE SKIP LOCKED.
import { sql, type Kysely } from 'kysely';
import type { CompiledJob } from '../../pipeline/index.js';
import type { Store } from '../../store/index.js';
import type { Database, Job, Pipeline, Repo } from '../../store/index.js';
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
  changes: StatusChange[];
}

/**
 * The pending jobs an agent may run, oldest first (GitLab orders by id): its tags among the agent's
 * (matched in SQL, so a claim reads one row however long the queue), and its resource group, if
 * any, running nothing. Tags are a JSON list: jsonb containment on PostgreSQL, json_each on SQLite.
 */
function runnableJobs(trx: Kysely<Database>, dialect: Store['dialect'], agentTags: string[]) {
  const tagsFit =
    dialect === 'postgres'
      ? sql<boolean>`jobs.tags::jsonb <@ ${JSON.stringify(agentTags)}::jsonb`
      : agentTags.length === 0
        ? sql<boolean>`json_array_length(jobs.tags) = 0`
        : sql<boolean>`not exists (select 1 from json_each(jobs.tags) where json_each.value not in (${sql.join(agentTags)}))`;
  return trx
    .selectFrom('jobs')
    .selectAll()
    .where('status', '=', 'pending')
    .where('is_trigger', '=', 0)
    .where(tagsFit)
    .where((eb) =>
      eb.or([
        eb('resource_group', 'is', null),
        eb.not(
          eb.exists(
            eb
              .selectFrom('jobs as r')
              .select('r.id')
              .whereRef('r.repo_id', '=', 'jobs.repo_id')
              .whereRef('r.resource_group', '=', 'jobs.resource_group')
              .where('r.status', '=', 'running'),
          ),
        ),
      ]),
    )
    .orderBy('id');
}

/** SQLite: the transaction holds the write lock from its start, so the first runnable job is safe to take. */
async function pickSqlite(trx: Kysely<Database>, agentTags: string[]): Promise<Job | null> {
  return (await runnableJobs(trx, 'sqlite', agentTags).limit(1).executeTakeFirst()) ?? null;
}

// An arbitrary constant: the first key of Tandem's resource-group advisory locks, so they cannot
// collide with other users of advisory locks in the same database (Kysely's migration lock is one).
const RESOURCE_GROUP_LOCK_SPACE = 0x54_41_4e_44;

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
 * PostgreSQL: lock the oldest pending job this agent can run, skipping jobs other claimers hold
 * (FOR UPDATE SKIP LOCKED); runnableJobs's check of the group only skips busy groups cheaply,
 * resourceGroupFree decides under its lock.
 */
async function lockPostgres(trx: Kysely<Database>, agentTags: string[]): Promise<Job | null> {
  for (let afterId = 0; ;) {
    const job = await runnableJobs(trx, 'postgres', agentTags)
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

export async function claimJob(store: Store, input: ClaimInput): Promise<ClaimedJob | null> {
  if (!(input.leaseMs > 0)) throw new SchedulerError('invalid', `claim: leaseMs must be positive, got ${input.leaseMs}`);
  const { now } = input;

  return store.transaction(async (trx) => {
    const job = store.dialect === 'postgres' ? await lockPostgres(trx, input.agentTags) : await pickSqlite(trx, input.agentTags);
    if (!job) return null;
    const changes = new ChangeLog();
    // Taken once the job is secured: a claim that finds nothing uses up no token.
    const row = await trx
      .updateTable('jobs')
      .set({
        status: 'running',
        agent_id: input.agentId,
        fencing_token: await nextFencingToken(trx),
        started_at: now,
        lease_expires_at: now + input.leaseMs,
        deadline_at: now + job.timeout_seconds * 1000,
      })
      .where('id', '=', job.id)
      .where('status', '=', 'pending')
      .returningAll()
      .executeTakeFirst();
    // Cannot happen while the job is locked (see above); refuse rather than hand out a job twice.
    if (!row) throw new Error(`claim: job ${job.id} changed while it was being claimed`);
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
    return { job: row, spec: readJobSpec(row), pipeline, repo, fencingToken, changes: await changes.commit(trx, now) };
  });
}
