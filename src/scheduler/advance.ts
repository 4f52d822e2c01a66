// The pipeline state machine: release 'created' jobs whose predecessors are done, then derive the
// pipeline's status. Runs inside the caller's transaction so a completion and its consequences
// commit together.
import { sql, type Kysely } from 'kysely';
import { USER_FAILURE_REASONS } from '../monitor/index.js';
import type { CompiledJob } from '../pipeline/index.js';
import { forUpdate, type Store } from '../store/index.js';
import type { Database, Job, JobStatus, JobUpdate, Pipeline, PipelineStatus } from '../store/index.js';
import { readJobSpec } from './columns.js';
import { SchedulerError } from './errors.js';
import { ChangeLog, type StatusChange } from './events.js';
import { mirrorDownstream } from './sql/trigger-jobs.js';
import {
  decideCreated,
  isFinished,
  isPipelineFinished,
  NO_PREDECESSORS,
  pipelineStatus,
  withPredecessor,
  type JobFacts,
  type Predecessors,
} from './rules.js';

/**
 * Visits every job after the jobs it waits for (its `needs`, else every job of an earlier stage),
 * handing `visit` those predecessors folded by `add` as they are when it is called, so a visit may
 * change a job that later ones read. Time linear in jobs plus needs: stage predecessors are folded
 * once per stage, not once per job (100,000 jobs made the quadratic version hold the server).
 */
export function walkInDependencyOrder<T>(
  latest: Job[],
  empty: T,
  add: (acc: T, job: Job) => T,
  visit: (job: Job, spec: CompiledJob, preds: T) => void,
): void {
  const byName = new Map<string, Job[]>();
  const byStage = new Map<number, Job[]>();
  const append = <K>(map: Map<K, Job[]>, key: K, job: Job): void => {
    const list = map.get(key);
    if (list) list.push(job);
    else map.set(key, [job]);
  };
  for (const job of latest) {
    append(byName, job.name, job);
    append(byStage, job.stage_index, job);
  }
  const needed = (spec: CompiledJob): Job[] => (spec.needs ?? []).flatMap((n) => byName.get(n.job) ?? []);
  const visited = new Set<number>();
  let earlierStages = empty;
  for (const stage of [...byStage.keys()].sort((a, b) => a - b)) {
    const jobs = byStage.get(stage) as Job[];
    const emit = (job: Job): void => {
      const spec = readJobSpec(job);
      visit(job, spec, spec.needs === null ? earlierStages : needed(spec).reduce(add, empty));
    };
    // Depth first over `needs` inside the stage (they never point at a later one), with an explicit
    // stack: a chain of needs may be as long as the pipeline.
    for (const root of jobs) {
      const stack: { job: Job; expanded: boolean }[] = [{ job: root, expanded: false }];
      while (stack.length > 0) {
        const top = stack[stack.length - 1];
        if (top.expanded) {
          stack.pop();
          emit(top.job);
          continue;
        }
        if (visited.has(top.job.id)) {
          stack.pop();
          continue;
        }
        visited.add(top.job.id);
        top.expanded = true;
        for (const target of needed(readJobSpec(top.job))) {
          if (!visited.has(target.id) && target.stage_index <= stage) stack.push({ job: target, expanded: false });
        }
      }
    }
    earlierStages = jobs.reduce(add, earlierStages);
  }
}

/** `lock`: the caller is about to change these jobs by what it reads (row locks on PostgreSQL, in id order). */
export async function latestJobs(trx: Kysely<Database>, pipelineId: number, options: { lock?: boolean } = {}): Promise<Job[]> {
  const q = trx.selectFrom('jobs').selectAll().where('pipeline_id', '=', pipelineId).where('retried', '=', 0).orderBy('id');
  return (options.lock ? forUpdate(trx, q) : q).execute();
}

/**
 * Locks the pipeline row (PostgreSQL) so that its jobs are read and its status derived one
 * transaction at a time: two completions in one pipeline must not each miss the other's job and
 * leave the next stage waiting forever.
 */
export async function lockPipeline(trx: Kysely<Database>, pipelineId: number): Promise<Pipeline> {
  const pipeline = await forUpdate(trx, trx.selectFrom('pipelines').selectAll().where('id', '=', pipelineId)).executeTakeFirst();
  if (!pipeline) throw new SchedulerError('not_found', `pipeline ${pipelineId} not found`);
  return pipeline;
}

/**
 * What changed since the pipeline was last advanced: 'all' decides every waiting job again (after
 * a retry, an approval, a cancel: rare calls that may change many jobs); a list names the jobs
 * whose status changed (a claim, a completion: the hot path), and then only the jobs that may move
 * with them are read, so advancing costs the same in a pipeline of 20 jobs or 2,000.
 */
export type Touched = 'all' | readonly Pick<Job, 'name'>[];

export async function advanceInTransaction(
  trx: Kysely<Database>,
  pipelineId: number,
  now: number,
  changes: ChangeLog,
  touched: Touched = 'all',
): Promise<PipelineStatus> {
  const pipeline = await lockPipeline(trx, pipelineId);
  if (pipeline.error !== null) return pipeline.status;

  // A fork's pipeline waiting for a maintainer releases nothing until approved.
  const awaitingApproval = pipeline.approval === 'waiting';
  if (!awaitingApproval) await releaseWaitingJobs(trx, pipeline, now, changes, touched);

  const present = await presentFacts(trx, pipelineId);
  const derived = pipelineStatus(present);
  // Waiting for an approval shows as manual (blocked), as a pipeline waiting for a manual job does.
  const status: PipelineStatus = awaitingApproval && derived === 'created' ? 'manual' : derived;
  const started = status === 'running' && pipeline.started_at === null ? now : pipeline.started_at;
  const finished = isPipelineFinished(status) ? (pipeline.finished_at ?? now) : null;
  if (status !== pipeline.status || started !== pipeline.started_at || finished !== pipeline.finished_at) {
    await trx.updateTable('pipelines').set({ status, started_at: started, finished_at: finished }).where('id', '=', pipelineId).execute();
    if (status !== pipeline.status) {
      changes.pipeline(pipeline, status, status === 'failed' ? await failingReason(trx, pipelineId) : undefined);
    }
    // A downstream pipeline that ends ends its `strategy: depend` trigger job, which moves its own pipeline on.
    if (status !== pipeline.status && pipeline.trigger_job_id !== null && isPipelineFinished(status)) {
      const upstream = await mirrorDownstream(trx, pipeline.trigger_job_id, status, now, changes);
      if (upstream !== null) await advanceInTransaction(trx, upstream, now, changes);
    }
  }
  return status;
}

/**
 * Decides the 'created' jobs that can move, round by round until none can: a job decided skipped
 * (or an optional manual one) may release its dependants and the next stage in turn. Each round
 * reads only its candidates, the facts of their predecessors, and the stage frontier.
 */
async function releaseWaitingJobs(
  trx: Kysely<Database>,
  pipeline: Pipeline,
  now: number,
  changes: ChangeLog,
  touched: Touched,
): Promise<void> {
  const known = new Map<string, JobFacts>();
  let protectedEnvironments: Set<string> | null = null;
  let candidates = touched === 'all' ? await waiting(trx, pipeline.id).execute() : await candidatesAfter(trx, pipeline.id, touched);
  while (candidates.length > 0) {
    const needsJobs = candidates.filter((j) => j.has_needs === 1);
    const stageJobs = candidates.filter((j) => j.has_needs === 0);
    await learnFacts(
      trx,
      pipeline.id,
      needsJobs.flatMap((j) => (readJobSpec(j).needs ?? []).map((n) => n.job)).filter((name) => !known.has(name)),
      known,
    );
    const beforeStage =
      stageJobs.length > 0 ? await stagePredecessors(trx, pipeline.id, Math.max(...stageJobs.map((j) => j.stage_index))) : null;
    if (protectedEnvironments === null && candidates.some((j) => j.environment !== null)) {
      // A deploy to a protected or frozen environment waits for an approval, given by playing the job.
      protectedEnvironments = await environmentsAwaitingApproval(trx, pipeline);
    }
    const decided: { job: Job; next: JobStatus }[] = [];
    for (const job of candidates.sort((x, y) => x.stage_index - y.stage_index || x.id - y.id)) {
      const spec = readJobSpec(job);
      const preds =
        spec.needs === null
          ? (beforeStage?.(job.stage_index) ?? NO_PREDECESSORS)
          : spec.needs.reduce((acc, n) => {
              const need = known.get(n.job);
              return need === undefined ? acc : withPredecessor(acc, need);
            }, NO_PREDECESSORS);
      const when =
        job.environment !== null && protectedEnvironments?.has(job.environment) && spec.when === 'on_success' ? 'manual' : spec.when;
      const next = decideCreated(when, job.played_at !== null, preds, spec.needs !== null);
      if (next === null) continue;
      // Later candidates of this round that need this job see what it just became.
      known.set(job.name, { status: next, allowFailure: job.allow_failure === 1 });
      decided.push({ job, next });
    }
    const moved = await setDecided(trx, decided, now, changes);
    for (const job of moved) {
      if (job.status === 'pending' && job.environment !== null) await supersedeWaitingDeploys(trx, job, now, changes);
    }
    // Only a job that is now done (or an optional manual one) can release others; pending ones cannot.
    const releasing = moved.filter((j) => isFinished(j.status) || j.status === 'manual');
    candidates = releasing.length > 0 ? await candidatesAfter(trx, pipeline.id, releasing) : [];
  }
}

/**
 * Applies the round's decisions, one UPDATE per outcome (releasing a stage of 500 jobs is a
 * statement, not 500); returns the jobs as they now are, leaving out any another transaction moved first.
 */
async function setDecided(
  trx: Kysely<Database>,
  decided: { job: Job; next: JobStatus }[],
  now: number,
  changes: ChangeLog,
): Promise<Job[]> {
  const groups = new Map<string, { next: JobStatus; set: JobUpdate; jobs: Job[] }>();
  for (const { job, next } of decided) {
    const set: JobUpdate = { status: next };
    if (next === 'pending') set.queued_at = now;
    if (next === 'skipped') set.finished_at = now;
    if (next === 'scheduled') set.scheduled_at = now + (readJobSpec(job).startInSeconds ?? 0) * 1000;
    const key = JSON.stringify(set);
    const group = groups.get(key) ?? { next, set, jobs: [] };
    group.jobs.push(job);
    groups.set(key, group);
  }
  const moved: Job[] = [];
  for (const { next, set, jobs } of groups.values()) {
    for (const chunk of chunks(jobs)) {
      const updated = await trx
        .updateTable('jobs')
        .set(set)
        .where(
          'id',
          'in',
          chunk.map((j) => j.id),
        )
        .where('status', '=', 'created')
        .returning('id')
        .execute();
      const ids = new Set(updated.map((u) => u.id));
      for (const job of chunk) {
        if (!ids.has(job.id)) continue;
        changes.job(job, next);
        moved.push({ ...job, status: next });
      }
    }
  }
  return moved;
}

// Names per IN list: well under SQLite's bound-parameter limit.
const NAMES_PER_QUERY = 500;

function chunks<T>(list: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += NAMES_PER_QUERY) out.push(list.slice(i, i + NAMES_PER_QUERY));
  return out;
}

/** The pipeline's waiting jobs (latest attempts still 'created'), for the caller to narrow. */
function waiting(trx: Kysely<Database>, pipelineId: number) {
  return trx.selectFrom('jobs').selectAll().where('pipeline_id', '=', pipelineId).where('retried', '=', 0).where('status', '=', 'created');
}

/**
 * The waiting jobs that may move now that `changed` moved: their dependants by `needs`, and the
 * stage-ordered jobs no unfinished job is ahead of. The lowest stage holding an unfinished job is
 * found through the status index (a job is unfinished as in rules.ts's withPredecessor: not done,
 * and not an optional manual job), so neither query reads the pipeline's other jobs.
 */
async function candidatesAfter(trx: Kysely<Database>, pipelineId: number, changed: readonly Pick<Job, 'name'>[]): Promise<Job[]> {
  const frontier = waiting(trx, pipelineId)
    .where('has_needs', '=', 0)
    .where('stage_index', '<=', (eb) =>
      eb
        .selectFrom('jobs as u')
        .select((u) => u.fn.min('u.stage_index').as('stage'))
        .where('u.pipeline_id', '=', pipelineId)
        .where('u.retried', '=', 0)
        .where((u) =>
          u.or([
            u('u.status', 'in', ['created', 'pending', 'running', 'scheduled']),
            u.and([u('u.status', '=', 'manual'), u('u.allow_failure', '=', 0)]),
          ]),
        ),
    );
  const dependants = (names: string[]) =>
    waiting(trx, pipelineId).where('name', 'in', (eb) =>
      eb
        .selectFrom('job_needs')
        .select('job_needs.name')
        .where('job_needs.pipeline_id', '=', pipelineId)
        .where('job_needs.need', 'in', names),
    );
  // One statement in the usual case (a job or a few changed): each is a round trip on PostgreSQL.
  const [first, ...rest] = chunks([...new Set(changed.map((j) => j.name))]);
  const found = new Map<number, Job>();
  for (const job of await (first === undefined ? frontier : dependants(first).union(frontier)).execute()) found.set(job.id, job);
  for (const names of rest) for (const job of await dependants(names).execute()) found.set(job.id, job);
  return [...found.values()];
}

/** Adds the status of the named jobs (their latest attempts) to `known`. */
async function learnFacts(trx: Kysely<Database>, pipelineId: number, names: string[], known: Map<string, JobFacts>): Promise<void> {
  for (const chunk of chunks([...new Set(names)])) {
    const rows = await trx
      .selectFrom('jobs')
      .select(['name', 'status', 'allow_failure'])
      .where('pipeline_id', '=', pipelineId)
      .where('retried', '=', 0)
      .where('name', 'in', chunk)
      .execute();
    for (const row of rows) known.set(row.name, { status: row.status, allowFailure: row.allow_failure === 1 });
  }
}

/**
 * What the stages before each stage up to `lastStage` amount to, as a stage-ordered job sees its
 * predecessors. Read as the distinct (stage, status, allow_failure) triples, which is all the fold
 * looks at: called only when a stage-ordered job is a candidate, i.e. once per stage boundary.
 */
async function stagePredecessors(trx: Kysely<Database>, pipelineId: number, lastStage: number): Promise<(stage: number) => Predecessors> {
  const rows = await trx
    .selectFrom('jobs')
    .select(['stage_index', 'status', 'allow_failure'])
    .where('pipeline_id', '=', pipelineId)
    .where('retried', '=', 0)
    .where('stage_index', '<', lastStage)
    .groupBy(['stage_index', 'status', 'allow_failure'])
    .orderBy('stage_index')
    .execute();
  return (stage) =>
    rows
      .filter((r) => r.stage_index < stage)
      .reduce((acc, r) => withPredecessor(acc, { status: r.status, allowFailure: r.allow_failure === 1 }), NO_PREDECESSORS);
}

const STATUSES: readonly JobStatus[] = ['created', 'pending', 'running', 'success', 'failed', 'canceled', 'skipped', 'manual', 'scheduled'];

/**
 * One JobFacts per (status, allow_failure) present among the pipeline's latest jobs: the pipeline's
 * status asks only whether some or every job is so, which these answer alike. One statement of
 * EXISTS probes on the status index, so its cost does not grow with the pipeline.
 */
async function presentFacts(trx: Kysely<Database>, pipelineId: number): Promise<JobFacts[]> {
  const pairs = STATUSES.flatMap((status) => [0, 1].map((allowFailure) => ({ status, allowFailure })));
  const probes = pairs.map(
    (p, i) =>
      sql`case when exists (select 1 from jobs where pipeline_id = ${pipelineId} and retried = 0 and status = ${sql.lit(p.status)} and allow_failure = ${sql.lit(p.allowFailure)}) then 1 else 0 end as ${sql.ref(`p${i}`)}`,
  );
  const { rows } = await sql<Record<string, number>>`select ${sql.join(probes)}`.execute(trx);
  return pairs.filter((_, i) => Number(rows[0][`p${i}`]) === 1).map((p) => ({ status: p.status, allowFailure: p.allowFailure === 1 }));
}

/**
 * The environments of the pipeline's repository whose deploys wait for a person: protected ones,
 * and those frozen by an SLO whose error budget is spent (docs/slo.md), except for rollbacks, which
 * the freeze policy lets through.
 */
async function environmentsAwaitingApproval(trx: Kysely<Database>, pipeline: Pipeline): Promise<Set<string>> {
  const names = new Set(
    (await trx.selectFrom('environments').select('name').where('repo_id', '=', pipeline.repo_id).where('protected', '=', 1).execute()).map(
      (e) => e.name,
    ),
  );
  if (pipeline.source !== 'rollback') {
    const frozen = await trx
      .selectFrom('deploy_freezes')
      .innerJoin('repos', 'repos.name', 'deploy_freezes.repo')
      .select('deploy_freezes.environment')
      .where('repos.id', '=', pipeline.repo_id)
      .where('deploy_freezes.lifted_at', 'is', null)
      .execute();
    for (const f of frozen) names.add(f.environment);
  }
  return names;
}

/**
 * Why a failed pipeline failed: the reason of a job that failed it, a system failure first when
 * there is one (monitoring tells Tandem's failures from the pipeline's own).
 */
async function failingReason(trx: Kysely<Database>, pipelineId: number): Promise<string> {
  const rows = await trx
    .selectFrom('jobs')
    .select('failure_reason')
    .where('pipeline_id', '=', pipelineId)
    .where('retried', '=', 0)
    .where('status', '=', 'failed')
    .where('allow_failure', '=', 0)
    .orderBy('id')
    .execute();
  const failing = rows.map((j) => j.failure_reason ?? 'unknown_failure');
  return failing.find((r) => !USER_FAILURE_REASONS.has(r)) ?? failing[0] ?? 'unknown_failure';
}

/**
 * A deploy that starts waiting for its environment supersedes the older ones still waiting: only
 * the newest release is worth deploying (GitLab's "skip outdated deployment jobs").
 */
async function supersedeWaitingDeploys(trx: Kysely<Database>, job: Job, now: number, changes: ChangeLog): Promise<void> {
  const outdated = await forUpdate(
    trx,
    trx
      .selectFrom('jobs')
      .selectAll()
      .where('repo_id', '=', job.repo_id)
      .where('environment', '=', job.environment)
      .where('status', '=', 'pending')
      .where('pipeline_id', '<', job.pipeline_id),
  ).execute();
  for (const old of outdated) {
    await trx
      .updateTable('jobs')
      .set({ status: 'canceled', failure_reason: 'superseded', finished_at: now })
      .where('id', '=', old.id)
      .where('status', '=', 'pending')
      .execute();
    changes.job(old, 'canceled');
  }
  for (const pipelineId of new Set(outdated.map((j) => j.pipeline_id))) {
    await advanceInTransaction(
      trx,
      pipelineId,
      now,
      changes,
      outdated.filter((j) => j.pipeline_id === pipelineId),
    );
  }
}

/** Re-evaluates a pipeline (normally done by every mutating call; exposed for recovery and tests). */
export async function advancePipeline(
  store: Store,
  pipelineId: number,
  now: number,
): Promise<{ status: PipelineStatus; changes: StatusChange[] }> {
  return store.transaction(async (trx) => {
    const changes = new ChangeLog();
    const status = await advanceInTransaction(trx, pipelineId, now, changes);
    return { status, changes: await changes.commit(trx, now) };
  });
}
