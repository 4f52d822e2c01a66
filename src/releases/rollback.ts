// A rollback asked for by a person (API, CLI) or by an alert: a pipeline of one job that makes an
// older release live again from its stored files and deploy block. It needs neither the pipeline
// file nor the git remote (the job skips the checkout), runs on an agent with the deploy job's tags,
// and takes the environment's deploy lock like any deploy.
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { ROLLBACK_OF_VARIABLE } from '../api/index.js';
import { DomainError } from '../errors.js';
import { compiledJob } from '../pipeline/index.js';
import type { CompiledJob, CompiledPipeline } from '../pipeline/index.js';
import { createPipeline, playJob, type StatusChange } from '../scheduler/index.js';
import { readReleaseDeploySpec, readReleaseTags, type Store } from '../store/index.js';
import type { Database, Environment, Release, Repo } from '../store/index.js';
import { requireEnvironment } from './environments.js';
import { restoredContent } from './releases.js';
import { liveRelease } from './start-release.js';

/** What a rollback needs besides its input: the store, the limits it applies, and the log it writes to. */
export interface RollbackContext {
  store: Store;
  config: { jobTimeoutSeconds: number; alertRollbackWindowSeconds: number };
  log: Pick<Logger, 'info'>;
}

function rollbackJob(environment: Environment, target: Release): CompiledJob {
  return compiledJob({
    name: `rollback ${environment.name}`,
    stage: 'deploy',
    stageIndex: 0,
    variables: { GIT_STRATEGY: 'none', [ROLLBACK_OF_VARIABLE]: String(target.id) },
    dependencies: [],
    environment: {
      name: environment.name,
      action: 'start',
      extra: {},
      ...(environment.url ? { url: environment.url } : {}),
      ...(environment.tier ? { deploymentTier: environment.tier } : {}),
    },
    deploy: readReleaseDeploySpec(target),
    tags: readReleaseTags(target),
    position: { file: '(rollback)', line: 1, column: 1 },
  });
}

/** The release to go back to: the one named, else the newest earlier release that served other files. */
async function rollbackTarget(
  db: Kysely<Database>,
  environment: Environment,
  live: Release | null,
  to: number | undefined,
): Promise<Release> {
  if (to !== undefined) {
    const named = await db
      .selectFrom('releases')
      .selectAll()
      .where('id', '=', to)
      .where('environment_id', '=', environment.id)
      .executeTakeFirst();
    if (!named) throw new DomainError('not_found', `environment ${environment.name} has no release ${to}`);
    if (live && named.digest === live.digest)
      throw new DomainError('conflict', `release ${to} has the same files as the live release ${live.id}: nothing to roll back`);
    return named;
  }
  let query = db
    .selectFrom('releases')
    .selectAll()
    .where('environment_id', '=', environment.id)
    .where('status', '=', 'superseded')
    .orderBy('id', 'desc')
    .limit(1);
  if (live) query = query.where('id', '<', live.id).where('digest', '!=', live.digest);
  const earlier = await query.executeTakeFirst();
  if (!earlier) throw new DomainError('conflict', `environment ${environment.name} has no earlier release to roll back to`);
  return earlier;
}

/** The environment an alert names: by its name, and its repository's when several have one of that name. */
export async function environmentOfAlert(
  db: Kysely<Database>,
  input: { environment: string; repo: string | undefined },
): Promise<(Environment & { repo_name: string }) | null> {
  const { environment, repo } = input;
  let envs = await db
    .selectFrom('environments')
    .innerJoin('repos', 'repos.id', 'environments.repo_id')
    .selectAll('environments')
    .select('repos.name as repo_name')
    .where('environments.name', '=', environment)
    .execute();
  if (repo) envs = envs.filter((e) => e.repo_name === repo);
  if (envs.length > 1)
    throw new DomainError(
      'invalid',
      `alert for environment "${environment}": ${envs.length} repositories have it; add the label tandem_repo`,
    );
  return envs[0] ?? null;
}

export interface AlertRollbackOutcome {
  repo: string;
  environment: string;
  /** "rollback", or why nothing was done ("ignored: ..."). */
  action: string;
  releaseId?: number;
  pipelineId?: number;
}

/**
 * What an alert about an environment does (an Alertmanager alert through the webhook, or one of
 * Tandem's own SLO alerts): roll back the deploy that went live within alertRollbackWindowSeconds,
 * unless nothing is live from a deploy, the deploy is older, or a release is in progress.
 */
export async function rollbackOnAlert(
  ctx: RollbackContext,
  input: { environment: Environment & { repo_name: string }; by: string; now: number },
): Promise<{ outcome: AlertRollbackOutcome; changes: StatusChange[] }> {
  const { environment: env, by, now } = input;
  const outcome = { repo: env.repo_name, environment: env.name };
  const ignored = (action: string) => ({ outcome: { ...outcome, action }, changes: [] });
  const live = await liveRelease(ctx.store.db, env.id);
  const open = await ctx.store.db
    .selectFrom('releases')
    .select('id')
    .where('environment_id', '=', env.id)
    .where('status', 'in', ['queued', 'deploying', 'verifying', 'paused'])
    .executeTakeFirst();
  if (!live || live.kind !== 'deploy' || live.finished_at === null) return ignored('ignored: no deploy is live');
  if (now - live.finished_at > ctx.config.alertRollbackWindowSeconds * 1000)
    return ignored(`ignored: release ${live.id} went live more than ${ctx.config.alertRollbackWindowSeconds} s ago`);
  if (open) return ignored(`ignored: release ${open.id} is in progress`);
  const repo = await ctx.store.db.selectFrom('repos').selectAll().where('id', '=', env.repo_id).executeTakeFirstOrThrow();
  const { release, pipelineId, changes } = await requestRollback(ctx, { repo, environment: env.name, by, now });
  return { outcome: { ...outcome, action: 'rollback', releaseId: release.id, pipelineId }, changes };
}

export interface RollbackRequest {
  repo: Repo;
  /** The environment's name. */
  environment: string;
  /** The release to go back to; default: the newest earlier release that served other files. */
  to?: number;
  /** Who asked: "api", "alertmanager: HighErrorRate", ... */
  by: string;
  now: number;
}

/** The rollback pipeline and its release; the status changes are for the caller to publish. */
export async function requestRollback(
  ctx: RollbackContext,
  request: RollbackRequest,
): Promise<{ release: Release; pipelineId: number; changes: StatusChange[] }> {
  const { repo, now } = request;
  const environment = await requireEnvironment(ctx.store.db, repo, request.environment);
  const live = await liveRelease(ctx.store.db, environment.id);
  const target = await rollbackTarget(ctx.store.db, environment, live, request.to);
  const compiled: CompiledPipeline = {
    configPath: '(rollback)',
    stages: ['deploy'],
    variables: {},
    jobs: [rollbackJob(environment, target)],
    name: `Roll ${environment.name} back to ${target.version} (release #${target.id})`,
    warnings: [],
  };
  const created = await createPipeline(ctx.store, {
    repoId: repo.id,
    ref: target.ref,
    isTag: false,
    sha: target.sha,
    beforeSha: null,
    source: 'rollback',
    compiled,
    defaultTimeoutSeconds: ctx.config.jobTimeoutSeconds,
    now,
  });
  const changes = [...created.changes];
  const jobId = created.jobIds[0];
  // Asking for the rollback is the approval a protected environment wants.
  const job = await ctx.store.db.selectFrom('jobs').select('status').where('id', '=', jobId).executeTakeFirstOrThrow();
  if (job.status === 'manual') changes.push(...(await playJob(ctx.store, jobId, now, { actor: request.by, comment: null })).changes);
  // An agent may have claimed the job and started its release already: then that row is the one.
  await ctx.store.db
    .insertInto('releases')
    .values({
      environment_id: environment.id,
      repo_id: repo.id,
      pipeline_id: created.pipelineId,
      job_id: jobId,
      kind: 'rollback',
      ...restoredContent(target),
      fencing_token: null,
      status: 'queued',
      status_reason: null,
      decision: null,
      created_by: request.by,
      created_at: now,
      finished_at: null,
    })
    .onConflict((oc) => oc.column('job_id').doNothing())
    .execute();
  const release = await ctx.store.db.selectFrom('releases').selectAll().where('job_id', '=', jobId).executeTakeFirstOrThrow();
  ctx.log.info(
    { repo: repo.name, environment: environment.name, to: target.id, by: request.by, pipelineId: created.pipelineId },
    'rollback requested',
  );
  return { release, pipelineId: created.pipelineId, changes };
}
