import { Readable } from 'node:stream';
import { z } from 'zod';
import { manifestToTarGz, safeRelativePath, BlobNotFoundError } from '../../artifacts/index.js';
import { createMasker, maskText } from '../../executor/index.js';
import {
  approvePipeline,
  artifactFilesOf,
  cancelJob,
  cancelPipeline,
  findArtifactFile,
  getJob,
  getPipeline,
  jobAttempts,
  linkedPipelines,
  listJobArtifacts,
  listPipelines,
  type LinkedPipeline,
  playJob,
  readJobSpec,
  readLogPages,
  retriedWithPipeline,
  retryJob,
  retryPipeline,
  busySeconds,
  pipelineRunSeconds,
  agentName,
} from '../../scheduler/index.js';
import { recordFreezeOverride } from '../../releases/index.js';
import { maskedVariableValues } from '../../repos/index.js';
import type { ServerContext } from '../context.js';
import { FINISHED_STATUSES, type PipelineJson } from '../../api/index.js';
import type { Principal } from '../../auth/index.js';
import { requireJobRefRole, requireJobStartRights, requireProtectedRefRole, visibleRepoIds } from '../auth.js';
import { jobArtifactsView } from '../artifact-views.js';
import { attachmentDisposition } from '../download.js';
import { jobReproduction } from '../job-reproduction.js';
import { actorOf } from '../../auth/index.js';
import { repoNames } from '../../auth/index.js';
import { ApiError, type RouteTable } from '../http.js';
import { pageParams, PIPELINE_PAGE, idParam } from '../query.js';
import { publishChanges } from '../notify.js';
import { openSse } from '../sse.js';
import { jobDetailView, jobView, linkedPipelineView, pipelineCoverage, pipelineView } from '../presenters.js';

/**
 * Event streams are pushed by the hub and read the database only on an event, and on this slow
 * timer in case a notification was lost (a database failover): thousands of open streams must not
 * each poll the database every few seconds.
 */
const STREAM_REPAIR_MS = 30_000;

async function loadPipeline(ctx: ServerContext, id: number) {
  const found = await getPipeline(ctx.store, id);
  if (!found) throw new ApiError(404, `no pipeline ${id}`);
  return found;
}

async function loadJob(ctx: ServerContext, id: number) {
  const job = await getJob(ctx.store, id);
  if (!job) throw new ApiError(404, `no job ${id}`);
  return job;
}

/** A pipeline with its jobs and the pipelines linked to it by trigger jobs (those of repositories the caller sees). */
async function pipelineJson(
  ctx: ServerContext,
  principal: Principal,
  pipeline: LinkedPipeline['pipeline'],
  jobs: Parameters<typeof jobView>[0][],
): Promise<PipelineJson> {
  const visible = await visibleRepoIds(ctx, principal);
  const seen = (l: LinkedPipeline) => visible === null || visible.includes(l.pipeline.repo_id);
  const { parent, downstream } = await linkedPipelines(ctx.store, pipeline);
  return {
    ...pipelineView(pipeline, await repoNameOf(ctx, pipeline.repo_id), busySeconds(jobs)),
    jobs: jobs.map(jobView),
    coverage: pipelineCoverage(jobs),
    parent: parent && seen(parent) ? linkedPipelineView(parent) : null,
    downstream: downstream.filter(seen).map(linkedPipelineView),
  };
}

async function repoNameOf(ctx: ServerContext, repoId: number): Promise<string> {
  return (await repoNames(ctx.store.db, [repoId])).get(repoId) ?? `#${repoId}`;
}

/** `artifacts:name` when it is a plain name (GitLab's default is "artifacts"; the job id keeps downloads apart). */
function archiveName(job: { id: number; spec: string }): string {
  const name = readJobSpec(job).artifacts?.name;
  return name && /^[\w.@+-]{1,200}$/.test(name) ? name : `job-${job.id}-artifacts`;
}

/** POST /jobs/:id/play: why (an approver's note on a deploy), kept with the job. */
const playBody = z.object({ comment: z.string().trim().max(1000, 'at most 1000 characters').optional() }).strict();

function playComment(body: unknown): string | null {
  const comment = (body as z.infer<typeof playBody> | undefined)?.comment;
  return comment ? comment : null;
}

export function registerPipelineRoutes(routes: RouteTable, ctx: ServerContext): void {
  routes.add({
    method: 'GET',
    url: '/api/v1/pipelines',
    summary: 'Recent pipelines of every repository the caller may see, newest first (?limit, ?before: a pipeline id)',
    tag: 'pipelines',
    access: 'user',
    async handler({ principal, query }) {
      const visible = await visibleRepoIds(ctx, principal);
      const rows = await listPipelines(ctx.store, { repoIds: visible ?? undefined, ...pageParams(query, PIPELINE_PAGE) });
      const names = await repoNames(ctx.store.db, [...new Set(rows.map((p) => p.repo_id))]);
      const ran = await pipelineRunSeconds(
        ctx.store,
        rows.map((p) => p.id),
      );
      return rows.map((p) => pipelineView(p, names.get(p.repo_id) ?? `#${p.repo_id}`, ran.get(p.id) ?? 0));
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/pipelines/:id',
    summary: 'Show a pipeline with its jobs',
    tag: 'pipelines',
    access: 'user',
    async handler({ params, principal }) {
      const { pipeline, jobs } = await loadPipeline(ctx, idParam(params.id, 'id'));
      return await pipelineJson(ctx, principal, pipeline, jobs);
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/pipelines/:id/cancel',
    summary: 'Cancel a pipeline: waiting jobs at once, running jobs are killed by their agents',
    tag: 'pipelines',
    access: 'user',
    async handler({ params, principal }) {
      const id = idParam(params.id, 'id');
      const { pipeline: found } = await loadPipeline(ctx, id);
      await requireProtectedRefRole(ctx, principal, found, 'pipeline.cancel');
      publishChanges(ctx, (await cancelPipeline(ctx.store, id, ctx.clock.now())).changes);
      const { pipeline, jobs } = await loadPipeline(ctx, id);
      return await pipelineJson(ctx, principal, pipeline, jobs);
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/pipelines/:id/retry',
    summary:
      "Retry a pipeline's failed and canceled jobs (GitLab's pipeline retry): each gets a new attempt, and the jobs they skipped run again",
    tag: 'pipelines',
    access: 'user',
    async handler({ params, principal, audit }) {
      const id = idParam(params.id, 'id');
      const { jobs } = await loadPipeline(ctx, id);
      const targets = jobs.filter(retriedWithPipeline);
      // The rights of each job's own retry: its branch's role, and a protected environment's approval.
      for (const job of targets) await requireJobStartRights(ctx, principal, job, 'pipeline.retry');
      const result = await retryPipeline(ctx.store, { pipelineId: id, jobIds: targets.map((j) => j.id), now: ctx.clock.now() });
      publishChanges(ctx, result.changes);
      audit({ pipelineId: id, retried: result.retried });
      const { pipeline, jobs: after } = await loadPipeline(ctx, id);
      return await pipelineJson(ctx, principal, pipeline, after);
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/pipelines/:id/approve',
    summary: "Let a fork's merge request pipeline run: it waits for a maintainer when the repository's forkPullRequests is 'approval'",
    tag: 'pipelines',
    access: 'user',
    async handler({ params, principal, audit }) {
      const id = idParam(params.id, 'id');
      const by = actorOf(principal).name;
      publishChanges(ctx, (await approvePipeline(ctx.store, { pipelineId: id, by, now: ctx.clock.now() })).changes);
      audit({ pipelineId: id });
      const { pipeline, jobs } = await loadPipeline(ctx, id);
      return await pipelineJson(ctx, principal, pipeline, jobs);
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/pipelines/:id/events',
    summary: 'Live pipeline and job status changes (Server-Sent Events)',
    tag: 'pipelines',
    access: 'user',
    produces: 'text/event-stream',
    async handler({ params, principal, request, reply }) {
      const id = idParam(params.id, 'id');
      const { pipeline, jobs } = await loadPipeline(ctx, id);
      const release = ctx.eventStreams.admit(principal);
      const sse = openSse(request, reply);
      const unsubscribe = ctx.hub.subscribe(`pipeline:${id}`, (event) => {
        sse.send(event.type, event);
        if (event.type === 'pipeline' && FINISHED_STATUSES.has(event.status)) sse.close();
      });
      // Notifications can be lost (a database failover): a final status is also found by looking.
      const safetyNet = setInterval(() => {
        loadPipeline(ctx, id)
          .then((current) => {
            if (!FINISHED_STATUSES.has(current.pipeline.status)) return;
            sse.send('pipeline', { type: 'pipeline', pipelineId: id, repoId: current.pipeline.repo_id, status: current.pipeline.status });
            sse.close();
          })
          .catch(() => undefined);
      }, STREAM_REPAIR_MS);
      sse.signal.addEventListener('abort', () => {
        clearInterval(safetyNet);
        unsubscribe();
        release();
      });
      sse.send('snapshot', await pipelineJson(ctx, principal, pipeline, jobs));
      if (FINISHED_STATUSES.has(pipeline.status)) sse.close();
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/pipelines/:id/artifacts',
    summary: 'List the artifacts of every job of a pipeline',
    tag: 'artifacts',
    access: 'user',
    async handler({ params }) {
      const { jobs } = await loadPipeline(ctx, idParam(params.id, 'id'));
      const listed = await listJobArtifacts(ctx.store.db, jobs);
      return jobs.flatMap((j) => {
        const entries = listed.get(j.id);
        if (entries === undefined) return [];
        const files = entries.map(({ file, report }) => ({
          path: file.path,
          size: file.size,
          digest: file.digest,
          expiresAt: file.expires_at === null ? null : new Date(file.expires_at).toISOString(),
          // The artifacts:reports type that collected it (stored, not interpreted), or null.
          report,
        }));
        return [{ jobId: j.id, job: j.name, files }];
      });
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/jobs/:id',
    summary: 'Show a job, with every attempt of it (`attempts`, first to latest)',
    tag: 'jobs',
    access: 'user',
    async handler({ params }) {
      const job = await loadJob(ctx, idParam(params.id, 'id'));
      const ranOn = job.agent_id === null ? null : await agentName(ctx.store.db, job.agent_id);
      return jobDetailView(job, await jobAttempts(ctx.store, job), ranOn);
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/jobs/:id/reproduce',
    summary:
      'What running the job again elsewhere needs (tandem exec --from-job): commit, pipeline file, non-secret variables, dependency artifacts',
    tag: 'jobs',
    access: 'user',
    async handler({ params }) {
      return await jobReproduction(ctx, await loadJob(ctx, idParam(params.id, 'id')));
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/jobs/:id/log',
    summary: 'The job log as plain text, with masked variables hidden',
    tag: 'jobs',
    access: 'user',
    produces: 'text/plain',
    async handler({ params, reply }) {
      const job = await loadJob(ctx, idParam(params.id, 'id'));
      const secrets = await maskedVariableValues(ctx, job.repo_id);
      reply.type('text/plain; charset=utf-8');
      // Streamed a page of chunks at a time: a log of hundreds of megabytes is never one string.
      return Readable.from(maskedLog(ctx, job.id, secrets));
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/jobs/:id/log/stream',
    summary: 'Follow a job log live (Server-Sent Events; resumes after Last-Event-ID)',
    tag: 'jobs',
    access: 'user',
    produces: 'text/event-stream',
    async handler({ params, principal, request, reply }) {
      const job = await loadJob(ctx, idParam(params.id, 'id'));
      const secrets = await maskedVariableValues(ctx, job.repo_id);
      const lastEventId = request.headers['last-event-id'];
      let sentSeq = lastEventId !== undefined ? Number(lastEventId) : -1;
      const release = ctx.eventStreams.admit(principal);
      const sse = openSse(request, reply);
      const emit = (seq: number, data: string) => {
        if (seq <= sentSeq) return;
        sentSeq = seq;
        sse.send('log', maskText(data, secrets), seq);
      };
      // Reads of the backlog run one at a time, so chunks go out in order and exactly once.
      let reading: Promise<void> = Promise.resolve();
      let ended = false;
      const catchUp = (thenEndIfFinished: boolean) => {
        reading = reading
          .then(async () => {
            if (ended) return;
            // From the rows while the job runs, from its blob once the log moved (src/scheduler/sql/read-log.ts).
            for await (const page of readLogPages(ctx.store, ctx.blobs, job.id, { afterSeq: sentSeq })) {
              if (sse.signal.aborted) return;
              for (const c of page) emit(c.seq, c.data);
            }
            if (!thenEndIfFinished) return;
            const current = await loadJob(ctx, job.id);
            if (!FINISHED_STATUSES.has(current.status)) return;
            ended = true;
            sse.send('end', { status: current.status });
            sse.close();
          })
          .catch((err: unknown) => request.log.warn({ err }, 'log stream read failed'));
      };
      // A live chunk that follows the last one sent goes out at once; anything else (a gap, a chunk
      // relayed without its data from another replica) is read from the database.
      const unsubscribeLog = ctx.hub.subscribe(`log:${job.id}`, (event) => {
        if (event.type !== 'log') return;
        if (event.data !== undefined && event.seq === sentSeq + 1) emit(event.seq, event.data);
        else catchUp(false);
      });
      const unsubscribeJob = ctx.hub.subscribe(`job:${job.id}`, (event) => {
        if (event.type === 'job' && FINISHED_STATUSES.has(event.status)) catchUp(true);
      });
      const safetyNet = setInterval(() => catchUp(true), STREAM_REPAIR_MS);
      sse.signal.addEventListener('abort', () => {
        clearInterval(safetyNet);
        unsubscribeLog();
        unsubscribeJob();
        release();
      });
      catchUp(true);
    },
  });

  for (const action of ['cancel', 'retry', 'play'] as const) {
    routes.add({
      method: 'POST',
      url: `/api/v1/jobs/:id/${action}`,
      summary: {
        cancel: 'Cancel a job',
        retry: 'Retry a finished job as a new attempt',
        play: "Start a manual job (on a protected environment: approve its deploy); optional comment, shown in the release's timeline",
      }[action],
      tag: 'jobs',
      access: 'user',
      ...(action === 'play' ? { body: playBody } : {}),
      async handler({ params, principal, audit, body }) {
        const job = await loadJob(ctx, idParam(params.id, 'id'));
        if (action === 'cancel') await requireJobRefRole(ctx, principal, job, 'job.cancel');
        else await requireJobStartRights(ctx, principal, job, `job.${action}`);
        const now = ctx.clock.now();
        let shownId = job.id;
        // Playing a deploy to a frozen environment is a maintainer's override: recorded before it starts.
        if (action === 'play') {
          const comment = playComment(body);
          if (comment !== null) audit({ comment });
          const override = await recordFreezeOverride(ctx.store.db, { job, actor: actorOf(principal).name, now });
          if (override) {
            ctx.log.warn(override, 'deploy freeze overridden');
            audit({ freezeOverride: { environment: override.environment, slos: override.slos } });
          }
        }
        if (action === 'retry') {
          const retried = await retryJob(ctx.store, job.id, now);
          shownId = retried.jobId;
          publishChanges(ctx, retried.changes);
        } else {
          publishChanges(
            ctx,
            (action === 'cancel'
              ? await cancelJob(ctx.store, job.id, now)
              : await playJob(ctx.store, job.id, now, { actor: actorOf(principal).name, comment: playComment(body) })
            ).changes,
          );
        }
        return jobView(await loadJob(ctx, shownId));
      },
    });
  }

  routes.add({
    method: 'GET',
    url: '/api/v1/jobs/:id/artifact-files',
    summary: "List a job's artifact files: path, size, sha256, and the report type of files an artifacts:reports key collected",
    tag: 'artifacts',
    access: 'user',
    async handler({ params }) {
      const job = await loadJob(ctx, idParam(params.id, 'id'));
      return jobArtifactsView(job, (await listJobArtifacts(ctx.store.db, [job])).get(job.id) ?? []);
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/jobs/:id/artifacts',
    summary: 'Download all artifacts of a job as .tar.gz',
    tag: 'artifacts',
    access: 'user',
    produces: 'application/gzip',
    async handler({ params, reply }) {
      const job = await loadJob(ctx, idParam(params.id, 'id'));
      const files = await artifactFilesOf(ctx.store.db, [job.id]);
      if (files.length === 0) throw new ApiError(404, `job ${job.id} has no artifacts`);
      reply.type('application/gzip').header('content-disposition', attachmentDisposition(`${archiveName(job)}.tar.gz`));
      // Returned as it is: a blob found corrupt on the way destroys it, and the response is aborted.
      return manifestToTarGz(files, (digest) => ctx.blobs.get(digest));
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/jobs/:id/artifacts/*',
    summary: 'Download one artifact file of a job',
    tag: 'artifacts',
    access: 'user',
    produces: 'application/octet-stream',
    async handler({ params, reply }) {
      const job = await loadJob(ctx, idParam(params.id, 'id'));
      const path = params['*'] ?? '';
      // The same rule as on upload; the path is only looked up, but a clear 400 beats a puzzling 404.
      try {
        safeRelativePath(path);
      } catch (err) {
        throw new ApiError(400, (err as Error).message);
      }
      const file = await findArtifactFile(ctx.store.db, { jobId: job.id, path });
      if (!file) throw new ApiError(404, `job ${job.id} has no artifact "${path}"`);
      try {
        const stream = await ctx.blobs.get(file.digest);
        // No content-length: with it, Fastify keeps the connection busy after a piped stream ends,
        // which stalls graceful shutdown; the client checks the size by the manifest instead.
        reply.type('application/octet-stream').header('x-tandem-size', String(file.size));
        reply.header('content-disposition', attachmentDisposition(path.split('/').pop() || 'artifact'));
        return stream;
      } catch (err) {
        if (err instanceof BlobNotFoundError)
          throw new ApiError(410, `artifact "${path}" of job ${job.id} is gone from the artifact store`);
        throw err;
      }
    },
  });
}

/** The stored log, masked as it streams (a secret split across chunks is still masked). */
async function* maskedLog(ctx: ServerContext, jobId: number, secrets: string[]): AsyncGenerator<string> {
  const masker = createMasker(secrets);
  for await (const page of readLogPages(ctx.store, ctx.blobs, jobId)) {
    const text = masker.push(page.map((c) => c.data).join(''));
    if (text) yield text;
  }
  const rest = masker.flush();
  if (rest) yield rest;
}
