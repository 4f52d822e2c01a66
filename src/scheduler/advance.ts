// The pipeline state machine: release 'created' jobs whose predecessors are done, then derive the
// pipeline's status. Runs inside the caller's transaction so a completion and its consequences
// commit together.
import type { Kysely } from 'kysely';
import { USER_FAILURE_REASONS } from '../monitor/index.js';
import type { CompiledJob } from '../pipeline/index.js';
import { forUpdate, type Store } from '../store/index.js';
import type { Database, Job, JobStatus, JobUpdate, Pipeline, PipelineStatus } from '../store/index.js';
import { readJobSpec } from './columns.js';
import { SchedulerError } from './errors.js';
import { ChangeLog, type StatusChange } from './events.js';
import { mirrorDownstream } from './sql/trigger-jobs.js';
import { decideCreated, isPipelineFinished, NO_PREDECESSORS, pipelineStatus, withPredecessor, type JobFacts } from './rules.js';

function facts(job: Job): JobFacts {
  return { status: job.status, allowFailure: job.allow_failure === 1 };
}

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

export async function advanceInTransaction(
  trx: Kysely<Database>,
  pipelineId: number,
  now: number,
  changes: ChangeLog,
): Promise<PipelineStatus> {
  const pipeline = await lockPipeline(trx, pipelineId);
  const jobs = await latestJobs(trx, pipelineId);
  if (pipeline.error !== null) return pipeline.status;

  // A deploy to a protected or frozen environment waits for an approval, given by playing the job.
  const protectedEnvironments = jobs.some((j) => j.status === 'created' && j.environment !== null)
    ? await environmentsAwaitingApproval(trx, pipeline)
    : new Set<string>();
  // A fork's pipeline waiting for a maintainer releases nothing until approved.
  const awaitingApproval = pipeline.approval === 'waiting';
  // A skipped job is done and may release (skip) its dependants: deciding in dependency order, each
  // job sees what its predecessors just became.
  const decided = new Map<number, JobStatus>();
  if (!awaitingApproval) {
    walkInDependencyOrder(
      jobs,
      NO_PREDECESSORS,
      (preds, j) => withPredecessor(preds, facts(j)),
      (job, spec, preds) => {
        if (job.status !== 'created') return;
        const when =
          job.environment !== null && protectedEnvironments.has(job.environment) && spec.when === 'on_success' ? 'manual' : spec.when;
        const next = decideCreated(when, job.played_at !== null, preds, spec.needs !== null);
        if (next === null) return;
        job.status = next;
        decided.set(job.id, next);
      },
    );
  }
  for (const job of jobs) {
    const next = decided.get(job.id);
    if (next === undefined) continue;
    const set: JobUpdate = { status: next };
    if (next === 'pending') set.queued_at = now;
    if (next === 'skipped') set.finished_at = now;
    if (next === 'scheduled') set.scheduled_at = now + (readJobSpec(job).startInSeconds ?? 0) * 1000;
    const res = await trx.updateTable('jobs').set(set).where('id', '=', job.id).where('status', '=', 'created').executeTakeFirst();
    if (Number(res.numUpdatedRows) === 1) changes.job(job, next);
    if (next === 'pending' && job.environment !== null) await supersedeWaitingDeploys(trx, job, now, changes);
  }

  const derived = pipelineStatus(jobs.map(facts));
  // Waiting for an approval shows as manual (blocked), as a pipeline waiting for a manual job does.
  const status: PipelineStatus = awaitingApproval && derived === 'created' ? 'manual' : derived;
  const started = status === 'running' && pipeline.started_at === null ? now : pipeline.started_at;
  const finished = isPipelineFinished(status) ? (pipeline.finished_at ?? now) : null;
  if (status !== pipeline.status || started !== pipeline.started_at || finished !== pipeline.finished_at) {
    await trx.updateTable('pipelines').set({ status, started_at: started, finished_at: finished }).where('id', '=', pipelineId).execute();
    if (status !== pipeline.status) changes.pipeline(pipeline, status, status === 'failed' ? failingReason(jobs) : undefined);
    // A downstream pipeline that ends ends its `strategy: depend` trigger job, which moves its own pipeline on.
    if (status !== pipeline.status && pipeline.trigger_job_id !== null && isPipelineFinished(status)) {
      const upstream = await mirrorDownstream(trx, pipeline.trigger_job_id, status, now, changes);
      if (upstream !== null) await advanceInTransaction(trx, upstream, now, changes);
    }
  }
  return status;
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
function failingReason(jobs: Job[]): string {
  const failing = jobs.filter((j) => j.status === 'failed' && j.allow_failure === 0).map((j) => j.failure_reason ?? 'unknown_failure');
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
  for (const pipelineId of new Set(outdated.map((j) => j.pipeline_id))) await advanceInTransaction(trx, pipelineId, now, changes);
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
