// Environments and releases: what is live where, the full history, rollbacks on request or on an
// alert, approvals of paused releases; and the agent's side of a deploy (start the release, report
// its progress, read a person's decision), every agent write fenced by the claim's token.
import { z } from 'zod';
import {
  configureEnvironment,
  environmentName,
  environmentOfAlert,
  findRelease,
  latestRelease,
  listEnvironments,
  hostReleases,
  listReleases,
  liveRelease,
  readReleaseFiles,
  recordReleaseDecision,
  releaseOfJob,
  requestRollback,
  requireEnvironment,
  rollbackOnAlert,
  setReleaseStatus,
  startRelease,
  waitingDeployJobs,
  type AlertRollbackOutcome,
} from '../../releases/index.js';
import { requireRepo } from '../../repos/index.js';
import { commitTitles, getPipelineRow, heldJob, playsOf, readJobSpec } from '../../scheduler/index.js';
import type { Release } from '../../releases/index.js';
import type { Repo } from '../../repos/index.js';
import { agentIdOf, uploadedManifest } from '../agent-claims.js';
import type { ServerContext } from '../context.js';
import { requirePermission } from '../auth.js';
import { ApiError, type RouteTable } from '../http.js';
import { publishChanges } from '../notify.js';
import { pageParams, idParam } from '../query.js';
import { MAX_REPORTED_HOSTS, ROLLBACK_OF_VARIABLE } from '../../api/index.js';
import { environmentView, jobView, releaseView } from '../presenters.js';

const fencingToken = z.number().int().positive();
const MAX_RELEASES_PAGE = 500;
/** Waiting deploys are few (a newer one supersedes the older); this bounds a runaway list. */
const MAX_MANUAL_JOBS = 100;

const withFiles = (r: Release) => ({ ...releaseView(r), files: readReleaseFiles(r) });

async function releaseOfEnvironment(ctx: ServerContext, repo: Repo, envName: string, id: number): Promise<Release> {
  const env = await requireEnvironment(ctx.store.db, repo, envName);
  const release = await findRelease(ctx.store.db, { releaseId: id, environmentId: env.id });
  if (!release) throw new ApiError(404, `environment ${envName} has no release ${id}`);
  return release;
}

async function decide(ctx: ServerContext, release: Release, decision: 'promote' | 'abort'): Promise<Release> {
  if (release.status !== 'paused')
    throw new ApiError(409, `release ${release.id} is ${release.status}, not paused: there is nothing to ${decision}`);
  await recordReleaseDecision(ctx.store.db, { releaseId: release.id, decision });
  ctx.log.info({ releaseId: release.id, decision }, 'release decision');
  return { ...release, decision };
}

const alertmanagerBody = z.object({
  alerts: z.array(
    z.object({
      status: z.string(),
      labels: z.record(z.string(), z.string()),
      startsAt: z.string().optional(),
    }),
  ),
});

export function registerEnvironmentRoutes(routes: RouteTable, ctx: ServerContext): void {
  routes.add({
    method: 'GET',
    url: '/api/v1/repos/:name/environments',
    summary: 'List environments with their current release',
    tag: 'deployments',
    access: 'user',
    async handler({ params }) {
      const repo = await requireRepo(ctx.store, params.name!);
      const envs = await listEnvironments(ctx.store.db, repo.id);
      const hosts = await hostReleases(
        ctx.store.db,
        envs.map((env) => env.id),
      );
      return Promise.all(
        envs.map(async (env) =>
          environmentView(env, await liveRelease(ctx.store.db, env.id), await latestRelease(ctx.store.db, env.id), hosts.get(env.id) ?? []),
        ),
      );
    },
  });

  routes.add({
    method: 'PUT',
    url: '/api/v1/repos/:name/environments/:env',
    summary: 'Create or change an environment (protected: deploys wait for an approval)',
    tag: 'deployments',
    access: 'user',
    body: z
      .object({
        protected: z.boolean().optional(),
        url: z.string().url().nullable().optional(),
        tier: z.enum(['production', 'staging', 'testing', 'development', 'other']).nullable().optional(),
      })
      .strict(),
    async handler({ params, body }) {
      const repo = await requireRepo(ctx.store, params.name!);
      const name = params.env!;
      if (!/^[\w.\-/ ]{1,200}$/.test(name))
        throw new ApiError(400, `environment "${name}": use letters, digits, spaces, "_", "-", "." and "/" (at most 200)`);
      await configureEnvironment(ctx.store.db, { repoId: repo.id, name, settings: body, now: ctx.clock.now() });
      const env = await requireEnvironment(ctx.store.db, repo, name);
      return environmentView(
        env,
        await liveRelease(ctx.store.db, env.id),
        null,
        (await hostReleases(ctx.store.db, [env.id])).get(env.id) ?? [],
      );
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/repos/:name/environments/:env/manual-jobs',
    summary: 'Deploy jobs of an environment waiting to be played (on a protected environment: waiting for an approval), newest first',
    tag: 'deployments',
    access: 'user',
    async handler({ params }) {
      const repo = await requireRepo(ctx.store, params.name!);
      const env = await requireEnvironment(ctx.store.db, repo, params.env!);
      const rows = await waitingDeployJobs(ctx.store.db, { repoId: repo.id, environment: env.name, limit: MAX_MANUAL_JOBS });
      return rows.map(jobView);
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/repos/:name/environments/:env/releases',
    summary: 'Releases of an environment, newest first (?limit, ?before=id for the next page)',
    tag: 'deployments',
    access: 'user',
    async handler({ params, query }) {
      const repo = await requireRepo(ctx.store, params.name!);
      const env = await requireEnvironment(ctx.store.db, repo, params.env!);
      const { limit, before } = pageParams(query, { fallback: 100, max: MAX_RELEASES_PAGE });
      const releases = await listReleases(ctx.store.db, { environmentId: env.id, limit, before });
      const listed = {
        plays: await playsOf(
          ctx.store,
          releases.flatMap((r) => (r.job_id === null ? [] : [r.job_id])),
        ),
        titles: await commitTitles(
          ctx.store,
          repo.id,
          releases.map((r) => r.sha),
        ),
      };
      return releases.map((r) => releaseView(r, listed));
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/repos/:name/environments/:env/releases/:id',
    summary: 'One release, with its files',
    tag: 'deployments',
    access: 'user',
    async handler({ params }) {
      const repo = await requireRepo(ctx.store, params.name!);
      return withFiles(await releaseOfEnvironment(ctx, repo, params.env!, idParam(params.id, 'id')));
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/repos/:name/environments/:env/rollback',
    summary: 'Roll the environment back to an earlier release (default: the one live before the current), from its stored files',
    tag: 'deployments',
    access: 'user',
    body: z.object({ to: z.number().int().positive().optional() }).strict(),
    async handler({ params, body, reply, principal }) {
      const repo = await requireRepo(ctx.store, params.name!);
      // Asking for a rollback approves its deploy: on a protected environment that is a maintainer's call.
      if ((await requireEnvironment(ctx.store.db, repo, params.env!)).protected === 1)
        await requirePermission(ctx, principal, 'deployment.approve', repo);
      const { release, pipelineId, changes } = await requestRollback(ctx, {
        repo,
        environment: params.env!,
        to: body.to,
        by: principal.kind === 'user' ? principal.username : 'api',
        now: ctx.clock.now(),
      });
      publishChanges(ctx, changes);
      reply.code(201);
      return { ...releaseView(release), pipelineId };
    },
  });

  for (const decision of ['promote', 'abort'] as const) {
    routes.add({
      method: 'POST',
      url: `/api/v1/repos/:name/environments/:env/releases/:id/${decision}`,
      summary:
        decision === 'promote' ? 'Let a paused release go on (canary promote, no-data pause)' : 'Stop a paused release: it is rolled back',
      tag: 'deployments',
      access: 'user',
      body: z.object({}).strict(),
      async handler({ params, principal }) {
        const repo = await requireRepo(ctx.store, params.name!);
        if ((await requireEnvironment(ctx.store.db, repo, params.env!)).protected === 1)
          await requirePermission(ctx, principal, 'deployment.approve', repo);
        return releaseView(await decide(ctx, await releaseOfEnvironment(ctx, repo, params.env!, idParam(params.id, 'id')), decision));
      },
    });
  }

  routes.add({
    method: 'POST',
    url: '/api/v1/hooks/alertmanager',
    summary:
      'Alertmanager webhook: a firing alert labelled tandem_environment (and tandem_repo) within the guard window after a deploy rolls it back',
    tag: 'deployments',
    access: 'user',
    body: alertmanagerBody,
    // Alertmanager batches every alert of a group into one delivery.
    bodyLimit: 'bulk',
    async handler({ body, principal }) {
      const outcomes: AlertRollbackOutcome[] = [];
      const seen = new Set<number>();
      for (const alert of body.alerts) {
        const envName = alert.labels.tandem_environment;
        if (alert.status !== 'firing' || !envName) continue;
        const env = await environmentOfAlert(ctx.store.db, { environment: envName, repo: alert.labels.tandem_repo });
        if (!env || seen.has(env.id)) continue;
        seen.add(env.id);
        // The token Alertmanager sends must be allowed to roll this environment back.
        await requirePermission(
          ctx,
          principal,
          env.protected === 1 ? 'deployment.approve' : 'environment.rollback',
          await requireRepo(ctx.store, env.repo_name),
        );
        const by = `alertmanager: ${alert.labels.alertname ?? 'alert'}`;
        const { outcome, changes } = await rollbackOnAlert(ctx, { environment: env, by, now: ctx.clock.now() });
        publishChanges(ctx, changes);
        outcomes.push(outcome);
      }
      return { outcomes };
    },
  });

  // ---- The agent's side ----

  routes.add({
    method: 'POST',
    url: '/api/v1/agent/jobs/:id/release',
    summary: "Start the deploy job's release (idempotent per job); returns it and the release live before it",
    tag: 'agent protocol',
    access: 'agent',
    body: z
      .object({
        fencingToken,
        files: z.array(z.unknown()).optional(),
        image: z
          .string()
          .max(512)
          .regex(/^\S+@sha256:[0-9a-f]{64}$/, 'expected an image pinned by digest (name@sha256:...)')
          .optional(),
        version: z.string().min(1).max(200).optional(),
      })
      .strict(),
    async handler({ principal, params, body }) {
      const jobId = idParam(params.id, 'id');
      const job = await heldJob(ctx.store.db, { jobId, agentId: agentIdOf(principal), fencingToken: body.fencingToken });
      const spec = readJobSpec(job);
      if (spec.environment === null || spec.deploy === null) throw new ApiError(422, `job ${jobId} has no environment and deploy block`);
      const pipeline = await getPipelineRow(ctx.store, job.pipeline_id);
      if (!pipeline) throw new ApiError(404, `pipeline ${job.pipeline_id} not found`);
      const rollbackOf = spec.variables[ROLLBACK_OF_VARIABLE] ? Number(spec.variables[ROLLBACK_OF_VARIABLE]) : null;
      const files = rollbackOf === null ? await uploadedManifest(ctx.blobs, body.files ?? []) : null;
      const started = await startRelease(ctx.store, {
        jobId,
        repoId: job.repo_id,
        pipelineId: job.pipeline_id,
        environment: { name: spec.environment.name, url: spec.environment.url ?? null, tier: spec.environment.deploymentTier ?? null },
        sha: pipeline.sha,
        ref: pipeline.ref,
        version: body.version ?? (pipeline.is_tag === 1 ? pipeline.ref : pipeline.sha.slice(0, 8)),
        files,
        image: rollbackOf === null ? (body.image ?? null) : null,
        rollbackOf,
        deploySpec: spec.deploy,
        tags: spec.tags,
        fencingToken: body.fencingToken,
        createdBy: `${rollbackOf === null ? 'pipeline' : 'rollback pipeline'} #${pipeline.id}`,
        now: ctx.clock.now(),
      });
      return {
        environment: { name: started.environment.name, url: started.environment.url },
        release: withFiles(started.release),
        previous: started.previous ? withFiles(started.previous) : null,
      };
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/agent/jobs/:id/release/status',
    summary: "Report the deploy job's release progress: deploying, verifying, paused, live, failed, rolled_back",
    tag: 'agent protocol',
    access: 'agent',
    body: z
      .object({
        fencingToken,
        status: z.enum(['deploying', 'verifying', 'paused', 'live', 'failed', 'rolled_back']),
        reason: z.string().max(4000).nullable().optional(),
        restoredReleaseId: z.number().int().positive().nullable().optional(),
        hosts: z
          .array(z.object({ name: z.string().min(1).max(500), releaseId: z.number().int().positive() }).strict())
          .max(MAX_REPORTED_HOSTS)
          .optional(),
      })
      .strict(),
    async handler({ principal, params, body }) {
      const jobId = idParam(params.id, 'id');
      await heldJob(ctx.store.db, { jobId, agentId: agentIdOf(principal), fencingToken: body.fencingToken });
      const release = await releaseOfJob(ctx.store.db, jobId);
      if (!release) throw new ApiError(404, `job ${jobId} has not started a release`);
      const result = await setReleaseStatus(ctx.store, {
        releaseId: release.id,
        status: body.status,
        reason: body.reason ?? null,
        restoredReleaseId: body.restoredReleaseId ?? null,
        hosts: body.hosts?.map((h) => ({ host: h.name, releaseId: h.releaseId })),
        now: ctx.clock.now(),
      });
      if (result.changed && (body.status === 'live' || body.status === 'failed' || body.status === 'rolled_back')) {
        const environment = await environmentName(ctx.store.db, result.release.environment_id);
        ctx.metrics.deployments.inc({ environment, result: body.status });
        if (body.status === 'rolled_back' || (body.status === 'live' && result.release.kind === 'rollback'))
          ctx.metrics.rollbacks.inc({ environment });
      }
      return { release: releaseView(result.release), rollback: result.rollback ? releaseView(result.rollback) : null };
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/agent/jobs/:id/release/decision',
    summary: "A person's decision on the job's paused release (null while none was made)",
    tag: 'agent protocol',
    access: 'agent',
    body: z.object({ fencingToken }).strict(),
    async handler({ principal, params, body }) {
      const jobId = idParam(params.id, 'id');
      await heldJob(ctx.store.db, { jobId, agentId: agentIdOf(principal), fencingToken: body.fencingToken });
      const release = await releaseOfJob(ctx.store.db, jobId);
      if (!release) throw new ApiError(404, `job ${jobId} has not started a release`);
      return { releaseId: release.id, status: release.status, decision: release.decision };
    },
  });
}
