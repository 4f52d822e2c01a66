// A pipeline and all its jobs are written in one transaction (a crash never leaves half a
// pipeline), then the state machine queues the jobs that can start.
import type { CommitInfo, CompiledJob, CompiledPipeline } from '../../pipeline/index.js';
import type { Kysely } from 'kysely';
import type { Database, Store } from '../../store/index.js';
import type { NewJob, NewJobNeed, PipelineMergeRequest, PipelineSource } from '../../store/index.js';
import { advanceInTransaction } from '../advance.js';
import { DuplicateDeliveryError, SchedulerError } from '../errors.js';
import { ChangeLog, type StatusChange } from '../events.js';
import { recordDelivery, type Delivery } from './deliveries.js';
import { startTriggerJob } from './trigger-jobs.js';

export interface CreatePipelineInput {
  repoId: number;
  ref: string;
  isTag: boolean;
  sha: string;
  beforeSha: string | null;
  /** The commit's message, author and date (CI_COMMIT_MESSAGE...); null when git could not tell. */
  commit?: CommitInfo | null;
  source: PipelineSource;
  /** null when the pipeline file could not be compiled: the pipeline is stored failed with `error`. */
  compiled: CompiledPipeline | null;
  error?: string;
  /** The file that was read, for a pipeline whose file did not compile. */
  configPath?: string;
  /**
   * The webhook delivery or poll that started the pipeline: recorded in the same transaction, so a
   * delivery is either recorded with its pipeline or not at all (a replica dying in between cannot
   * leave a delivery that later copies are refused as duplicates of). A delivery already recorded
   * rolls everything back with DuplicateDeliveryError.
   */
  event?: Delivery;
  /** The merge request of a merge request pipeline (it decides whether the pipeline is protected). */
  mergeRequest?: PipelineMergeRequest;
  /** No job starts before `approvePipeline` (a fork's pipeline, by the repository's setting). */
  awaitingApproval?: boolean;
  /**
   * A downstream pipeline: the pipeline and trigger job that start it. The trigger job (still
   * pending) is started in the same transaction, so it has at most one downstream pipeline.
   */
  upstream?: { pipelineId: number; triggerJobId: number };
  /** Trigger variables; they override the file's global variables. */
  variables?: Record<string, string>;
  /**
   * Runs in the pipeline's transaction with its id, ref and commit, before its jobs are written;
   * throwing rolls the pipeline back. A schedule claims its due time here (src/schedules).
   */
  claim?: (trx: Kysely<Database>, pipeline: { id: number; ref: string; sha: string }) => Promise<void>;
  defaultTimeoutSeconds: number;
  now: number;
}

/**
 * The environment a job deploys to: one with a `deploy:` block and an environment to start. Such
 * jobs share a resource group per environment (one deploy at a time) unless the file names one.
 */
function deployEnvironment(spec: CompiledJob): string | null {
  if (spec.deploy === null || spec.environment === null || spec.environment.action !== 'start') return null;
  return spec.environment.name;
}

// Keeps each multi-row INSERT well under SQLite's bound-parameter limit.
const INSERT_BATCH = 200;

export async function createPipeline(
  store: Store,
  input: CreatePipelineInput,
): Promise<{ pipelineId: number; jobIds: number[]; changes: StatusChange[] }> {
  const { compiled, now } = input;
  if (compiled === null && !input.error)
    throw new SchedulerError('invalid', 'createPipeline: a pipeline without compiled jobs needs an error message');
  if (!(input.defaultTimeoutSeconds > 0))
    throw new SchedulerError('invalid', `createPipeline: defaultTimeoutSeconds must be positive, got ${input.defaultTimeoutSeconds}`);
  return store.transaction(async (trx) => {
    const changes = new ChangeLog();
    const failed = compiled === null;
    // First: a trigger job that is no longer pending (started by another replica, canceled) refuses the pipeline.
    if (input.upstream) await startTriggerJob(trx, input.upstream.triggerJobId, failed, now, changes);
    const pipeline = await trx
      .insertInto('pipelines')
      .values({
        repo_id: input.repoId,
        ref: input.ref,
        is_tag: input.isTag ? 1 : 0,
        sha: input.sha,
        before_sha: input.beforeSha,
        source: input.source,
        status: failed ? 'failed' : 'created',
        name: compiled?.name ?? null,
        config_path: compiled?.configPath ?? input.configPath ?? null,
        error: failed ? (input.error ?? null) : null,
        variables: JSON.stringify({ ...compiled?.variables, ...input.variables }),
        stages: JSON.stringify(compiled?.stages ?? []),
        created_at: now,
        started_at: null,
        finished_at: failed ? now : null,
        merge_request: input.mergeRequest ? JSON.stringify(input.mergeRequest) : null,
        approval: input.awaitingApproval && !failed ? 'waiting' : null,
        commit_message: input.commit?.message ?? null,
        commit_author: input.commit?.author ?? null,
        commit_timestamp: input.commit?.timestamp ?? null,
        parent_pipeline_id: input.upstream?.pipelineId ?? null,
        trigger_job_id: input.upstream?.triggerJobId ?? null,
      })
      .returning(['id', 'repo_id'])
      .executeTakeFirstOrThrow();
    if (failed) changes.pipeline(pipeline, 'failed', 'config_error');
    else changes.pipeline(pipeline, 'created');
    if (input.event && !(await recordDelivery(trx, { repoId: input.repoId, delivery: input.event, pipelineId: pipeline.id, now }))) {
      throw new DuplicateDeliveryError(input.event.provider, input.event.deliveryId);
    }
    await input.claim?.(trx, { id: pipeline.id, ref: input.ref, sha: input.sha });

    const rows: NewJob[] = (compiled?.jobs ?? []).map((spec) => {
      const environment = deployEnvironment(spec);
      return {
        pipeline_id: pipeline.id,
        repo_id: input.repoId,
        name: spec.name,
        stage: spec.stage,
        stage_index: spec.stageIndex,
        status: 'created',
        spec: JSON.stringify(spec),
        is_trigger: spec.trigger ? 1 : 0,
        attempt: 1,
        retry_of: null,
        retried: 0,
        allow_failure: spec.allowFailure ? 1 : 0,
        resource_group: spec.resourceGroup ?? (environment === null ? null : `environment:${environment}`),
        interruptible: spec.interruptible ? 1 : 0,
        tags: JSON.stringify(spec.tags),
        timeout_seconds: spec.timeoutSeconds ?? input.defaultTimeoutSeconds,
        cancel_requested: 0,
        environment,
        created_at: now,
        has_needs: spec.needs === null ? 0 : 1,
      };
    });
    // Who needs whom, so that a job's completion finds its dependants without reading the pipeline.
    const needs: NewJobNeed[] = (compiled?.jobs ?? []).flatMap((spec) =>
      (spec.needs ?? []).map((n) => ({ pipeline_id: pipeline.id, name: spec.name, need: n.job })),
    );
    const jobIds: number[] = [];
    for (let i = 0; i < rows.length; i += INSERT_BATCH) {
      const inserted = await trx
        .insertInto('jobs')
        .values(rows.slice(i, i + INSERT_BATCH))
        .returning('id')
        .execute();
      jobIds.push(...inserted.map((r) => r.id).sort((a, b) => a - b));
    }
    for (let i = 0; i < needs.length; i += INSERT_BATCH) {
      await trx
        .insertInto('job_needs')
        .values(needs.slice(i, i + INSERT_BATCH))
        .execute();
    }
    if (!failed) await advanceInTransaction(trx, pipeline.id, now, changes);
    if (input.upstream) await advanceInTransaction(trx, input.upstream.pipelineId, now, changes);
    return { pipelineId: pipeline.id, jobIds, changes: await changes.commit(trx, now) };
  });
}
