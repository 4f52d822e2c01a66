// The agent protocol: registration, long-polling for work, and every write an agent makes while it
// runs a job. Each write names the claim's fencing token and is refused (409) unless the job runs
// under exactly that claim of this very agent: another agent's token, or a stale one, changes nothing.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Readable } from 'node:stream';
import { MAX_JUNIT_REPORT_FILES, type JunitReportsResponse } from '../../api/index.js';
import { isValidDigest, MAX_DOTENV_BYTES, MAX_DOTENV_VARIABLES } from '../../artifacts/index.js';
import { MAX_ARTIFACT_IMAGES } from '../../pipeline/index.js';
import { generateToken, hashToken } from '../../auth/index.js';
import { protectedRoleOfPipeline } from '../../auth/index.js';
import {
  abandonJob,
  claimingAgent,
  announceAgent,
  breakPresence,
  extendLease,
  findCacheEntry,
  heldJob,
  markAgentSeen,
  onlineAgentNamed,
  openPresence,
  readJobSpec,
  registerAgent,
  removeAgent,
  saveCacheEntry,
  setAgentTags,
  saveJobDotenv,
} from '../../scheduler/index.js';
import { saveJunitReports } from '../../reports/index.js';
import { agentIdOf, uploadedManifest } from '../agent-claims.js';
import type { ServerContext } from '../context.js';
import { agentSeenEveryMs } from '../dispatcher.js';
import { ApiError, type RouteTable } from '../http.js';
import { giveBackClaim, handOutJob } from '../job-payload.js';
import { publishChanges } from '../notify.js';
import { recordArtifacts, recordCompletion, recordLog } from '../agent-writes.js';
import { agentRows, runningJobsByAgent } from '../cluster.js';
import { openSse } from '../sse.js';
import { agentView } from '../presenters.js';

const LONG_POLL_MS = 25_000;
const seenEveryMs = (ctx: ServerContext) => agentSeenEveryMs(ctx.config.leaseSeconds);
/**
 * A load balancer keeps its connection to this server open after the agent's side closed (HAProxy
 * waits for its timeouts): only a write reveals the break. Written this often on a presence stream,
 * a dead agent is seen within the disconnect grace (at least 1 s), not the balancer's timeout.
 */
const PRESENCE_HEARTBEAT_MS = 1000;

const agentTags = z.array(z.string().min(1).max(100)).max(50);
const agentAnnouncement = z
  .object({
    name: z.string().min(1).max(100),
    tags: agentTags.default([]),
    concurrency: z.number().int().min(1).max(256).default(1),
    version: z.string().max(50).default('unknown'),
  })
  .strict();
const fencingToken = z.number().int().positive();
const logChunks = z.array(z.object({ seq: z.number().int().min(0), data: z.string().max(1024 * 1024) }).strict()).max(1000);
const artifactManifest = z
  .object({ expireInSeconds: z.number().int().positive().nullable(), files: z.array(z.unknown()).max(100_000) })
  .strict();
/** `artifacts:images` pinned by the agent: the ref as declared (expanded) and `registry/name@sha256:...`. */
const jobImages = z
  .array(
    z
      .object({
        ref: z.string().min(1).max(1024),
        image: z
          .string()
          .max(1024)
          .regex(/^[^\s@]+@sha256:[a-f0-9]{64}$/, 'a pinned image: registry/name@sha256:<64 hex>'),
      })
      .strict(),
  )
  .max(MAX_ARTIFACT_IMAGES);

function cacheKeyParam(key: string | undefined): string {
  if (!key || key.length > 255 || !/^[\w.\-:]+$/.test(key) || key.includes('..')) {
    throw new ApiError(400, `cache key "${key ?? ''}": use letters, digits, "_", "-", "." and ":" (at most 255, no "..")`);
  }
  return key;
}

/**
 * Where a job's cache is stored: pipelines that see protected variables keep theirs apart ("/" is
 * never in a key the agent sends), so an unprotected pipeline (a fork's, a developer's branch)
 * cannot plant a cache that a protected one restores and runs. GitLab's default, cache:unprotect false.
 */
async function storedCacheKey(ctx: ServerContext, job: { pipeline_id: number }, key: string): Promise<string> {
  return (await protectedRoleOfPipeline(ctx.store.db, job.pipeline_id)) === null ? key : `${key}/protected`;
}

/**
 * Two live agents with one name would make logs, the agents list and job history ambiguous: a name
 * is refused while another agent that has it was heard from within a lease. An agent gone longer
 * than that leaves its name free (a host rebuilt with a new work dir registers again).
 */
async function refuseNameInUse(ctx: ServerContext, name: string, self: number | null): Promise<void> {
  const onlineSince = ctx.clock.now() - ctx.config.leaseSeconds * 1000;
  const other = await onlineAgentNamed(ctx.store.db, { name, onlineSince, exceptId: self });
  if (other) {
    throw new ApiError(
      409,
      `agent name "${name}" is in use by agent ${other.id}, online (last seen ${Math.round((ctx.clock.now() - (other.last_seen_at ?? 0)) / 1000)} s ago): give this agent another --name, or stop the other one`,
    );
  }
}

export function registerAgentRoutes(routes: RouteTable, ctx: ServerContext): void {
  routes.add({
    method: 'POST',
    url: '/api/v1/agents',
    summary: 'Register an agent; returns its token once',
    tag: 'agents',
    access: 'user',
    body: agentAnnouncement,
    async handler({ body, reply }) {
      await refuseNameInUse(ctx, body.name, null);
      const token = generateToken('tda');
      const now = ctx.clock.now();
      const agentId = await registerAgent(ctx.store.db, { ...body, tokenHash: hashToken(token), now });
      reply.code(201);
      return { agentId, token, tags: body.tags };
    },
  });

  // Tags decide which jobs an agent receives (and so which repositories' secrets reach its host):
  // they are set by whoever registers it and changed by an admin, never by the agent's own token.
  routes.add({
    method: 'PUT',
    url: '/api/v1/agent/self',
    summary: 'An agent (re)announces its name, concurrency and version at start; answers the tags it has (its own tags are not changed)',
    tag: 'agent protocol',
    access: 'agent',
    body: agentAnnouncement,
    async handler({ principal, body }) {
      const agentId = agentIdOf(principal);
      await refuseNameInUse(ctx, body.name, agentId);
      const tags = await announceAgent(ctx.store.db, {
        agentId,
        name: body.name,
        concurrency: body.concurrency,
        version: body.version,
        now: ctx.clock.now(),
      });
      return { agentId, tags };
    },
  });

  routes.add({
    method: 'PATCH',
    url: '/api/v1/agents/:id',
    summary: "Set an agent's tags (the jobs it may receive)",
    tag: 'agents',
    access: 'user',
    body: z.object({ tags: agentTags }).strict(),
    async handler({ params, body, audit }) {
      audit({ agentId: Number(params.id), tags: body.tags });
      if (!(await setAgentTags(ctx.store.db, { agentId: Number(params.id), tags: body.tags })))
        throw new ApiError(404, `no agent ${params.id}`);
      // Every replica drops its copy, and the agent's waits end: it asks again with its new tags.
      ctx.hub.publish({ type: 'agent', agentId: Number(params.id) });
      return { id: Number(params.id), tags: body.tags };
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/agents',
    summary: 'List agents with their state',
    tag: 'agents',
    access: 'user',
    async handler() {
      const [agents, running] = await Promise.all([agentRows(ctx.store.db), runningJobsByAgent(ctx.store.db)]);
      const onlineSince = ctx.clock.now() - ctx.config.leaseSeconds * 1000;
      return agents.map((a) => agentView(a, running.get(a.id) ?? 0, onlineSince));
    },
  });

  routes.add({
    method: 'DELETE',
    url: '/api/v1/agents/:id',
    summary: 'Remove an agent and revoke its token',
    tag: 'agents',
    access: 'user',
    async handler({ params, reply }) {
      if (!(await removeAgent(ctx.store.db, Number(params.id)))) throw new ApiError(404, `no agent ${params.id}`);
      // Its token stops working on every replica now, not at the next re-read of their copies.
      ctx.hub.publish({ type: 'agent', agentId: Number(params.id) });
      reply.code(204);
      return null;
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/agent/jobs/request',
    summary: 'Long-poll for a job (204 when none within the wait)',
    tag: 'agent protocol',
    access: 'agent',
    body: z.object({ waitMs: z.number().int().min(0).max(60_000).optional() }).strict(),
    async handler({ principal, body, reply }) {
      const agentId = agentIdOf(principal);
      // Held by this replica since the request authenticated; while it waits, the dispatcher writes
      // last_seen_at for every waiting agent at once.
      const tags = ctx.agents.tags(agentId) ?? (await claimingAgent(ctx.store.db, agentId)).tags;
      const deadline = ctx.clock.now() + (body.waitMs ?? LONG_POLL_MS);
      const gone = new AbortController();
      // The response's close, not the request's: a POST's request closes as soon as its body is read.
      reply.raw.on('close', () => gone.abort());
      while (!ctx.state.draining && !gone.signal.aborted) {
        // The dispatcher claims for this agent when work it may run is queued, now or later.
        const claimed = await ctx.dispatcher.wait(agentId, tags, deadline - ctx.clock.now(), gone.signal);
        if (!claimed) break;
        if (gone.signal.aborted) {
          // The agent hung up while its job was being claimed: nobody would receive it.
          await giveBackClaim(ctx, claimed);
          break;
        }
        if (claimed.job.queued_at !== null) ctx.metrics.queueWait.observe((ctx.clock.now() - claimed.job.queued_at) / 1000);
        const payload = await handOutJob(ctx, claimed).catch(async (err: unknown) => {
          await giveBackClaim(ctx, claimed);
          throw err;
        });
        if (payload) return payload;
      }
      if (ctx.state.draining) {
        // 503, not "no job": the agent's client moves to another server, after a jittered backoff,
        // instead of asking this one again at once.
        reply.code(503).header('retry-after', '1');
        return { error: 'service unavailable', message: `replica ${ctx.replicaId} is draining: ask another server` };
      }
      reply.code(204);
      return null;
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/agent/presence',
    summary:
      "Held open while the agent lives (Server-Sent Events); when it breaks on the agent side, the agent's jobs are freed after the disconnect grace",
    tag: 'agent protocol',
    access: 'agent',
    produces: 'text/event-stream',
    async handler({ principal, request, reply }) {
      const agentId = agentIdOf(principal);
      const presenceId = randomUUID();
      await openPresence(ctx.store.db, { agentId, presenceId, now: ctx.clock.now() });
      const sse = openSse(request, reply, { keepAliveMs: PRESENCE_HEARTBEAT_MS });
      // A stream this server ends (drain, shutdown) is not the agent dying: only one that breaks
      // before the server finished it is. A newer stream of the same agent (it reconnected
      // elsewhere first) makes this one's end irrelevant.
      reply.raw.on('close', () => {
        if (reply.raw.writableFinished || ctx.state.draining) return;
        breakPresence(ctx.store.db, { agentId, presenceId, now: ctx.clock.now() })
          .then(() => ctx.log.info({ agentId }, 'agent presence stream broke'))
          .catch((err: unknown) =>
            ctx.log.warn({ agentId, err: (err as Error).message }, 'could not record a broken agent presence stream'),
          );
      });
      sse.send('presence', { presenceId });
      // A draining replica announces itself on the queue topic: the agent moves to another replica now.
      const unsubscribe = ctx.hub.subscribe('queue', () => {
        if (ctx.state.draining) sse.close();
      });
      sse.signal.addEventListener('abort', unsubscribe, { once: true });
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/agent/jobs/:id/heartbeat',
    summary: 'Extend the lease of a running job; tells the agent when the job was canceled',
    tag: 'agent protocol',
    access: 'agent',
    body: z.object({ fencingToken }).strict(),
    async handler({ principal, params, body }) {
      const agentId = agentIdOf(principal);
      const jobId = Number(params.id);
      const now = ctx.clock.now();
      const extended = await extendLease(ctx.store, {
        jobId,
        agentId,
        fencingToken: body.fencingToken,
        leaseMs: ctx.config.leaseSeconds * 1000,
        now,
      });
      await markAgentSeen(ctx.store.db, { agentId, now, everyMs: seenEveryMs(ctx) });
      return extended;
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/agent/jobs/:id/log',
    summary: 'Append log chunks (idempotent by sequence number); beyond maxJobLogBytes they are dropped and the answer says truncated',
    tag: 'agent protocol',
    access: 'agent',
    body: z.object({ fencingToken, chunks: logChunks }).strict(),
    async handler({ principal, params, body }) {
      const claim = { jobId: Number(params.id), agentId: agentIdOf(principal), fencingToken: body.fencingToken };
      const { truncated } = await recordLog(ctx, claim, body.chunks);
      // `truncated`: the job's log is full, the agent stops sending (the job itself goes on).
      return { ok: true, truncated };
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/agent/jobs/:id/complete',
    summary:
      'Report the end of a job, with its last log chunks and its artifact manifest if the agent sends them here (idempotent for the same token and result)',
    tag: 'agent protocol',
    access: 'agent',
    body: z
      .object({
        fencingToken,
        status: z.enum(['success', 'failed', 'canceled']),
        exitCode: z.number().int().nullable(),
        failureReason: z.string().max(100).nullable(),
        log: logChunks.optional(),
        artifacts: artifactManifest.optional(),
        images: jobImages.optional(),
      })
      .strict(),
    async handler({ principal, params, body }) {
      const { fencingToken: token, ...completion } = body;
      await recordCompletion(ctx, { jobId: Number(params.id), agentId: agentIdOf(principal), fencingToken: token }, completion);
      return { ok: true };
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/agent/jobs/:id/abandon',
    summary:
      'Hand back a job the agent can no longer run (its previous process died with it): the attempt ends as a lost agent’s, and is queued again while attempts remain',
    tag: 'agent protocol',
    access: 'agent',
    body: z.object({ fencingToken }).strict(),
    async handler({ principal, params, body }) {
      const agentId = agentIdOf(principal);
      const jobId = Number(params.id);
      const result = await abandonJob(ctx.store, {
        jobId,
        agentId,
        fencingToken: body.fencingToken,
        now: ctx.clock.now(),
        maxSystemAttempts: ctx.config.maxSystemAttempts,
      });
      ctx.metrics.leaseExpiries.inc();
      if (result.retryJobId !== null) ctx.metrics.requeues.inc();
      ctx.log.warn({ jobId, agentId, retryJobId: result.retryJobId }, 'agent handed back a job its previous process held');
      publishChanges(ctx, result.changes);
      return { status: result.status, retryJobId: result.retryJobId };
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/agent/blobs/missing',
    summary: 'Which of these blobs the artifact store lacks (upload only those)',
    tag: 'agent protocol',
    access: 'agent',
    body: z.object({ digests: z.array(z.string()).max(10_000) }).strict(),
    async handler({ body }) {
      const bad = body.digests.find((d) => !isValidDigest(d));
      if (bad !== undefined) throw new ApiError(400, `digests: "${bad}" is not a sha256 hex digest`);
      const missing: string[] = [];
      for (const digest of new Set(body.digests)) if (!(await ctx.blobs.has(digest))) missing.push(digest);
      return { missing };
    },
  });

  routes.add({
    method: 'PUT',
    url: '/api/v1/agent/blobs/:digest',
    summary: 'Upload a blob; its sha256 must equal the digest in the URL',
    tag: 'agent protocol',
    access: 'agent',
    rawBody: true,
    async handler({ params, request }) {
      const digest = params.digest;
      if (!isValidDigest(digest)) throw new ApiError(400, `"${digest}" is not a sha256 hex digest`);
      return ctx.blobs.put(request.body as Readable, { digest, maxBytes: ctx.config.maxArtifactBytes });
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/agent/blobs/:digest',
    summary: 'Download a blob (artifacts of dependencies, caches)',
    tag: 'agent protocol',
    access: 'agent',
    produces: 'application/octet-stream',
    async handler({ params, reply }) {
      if (!isValidDigest(params.digest)) throw new ApiError(400, `"${params.digest}" is not a sha256 hex digest`);
      const stream = await ctx.blobs.get(params.digest);
      reply.type('application/octet-stream');
      return stream;
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/agent/jobs/:id/artifacts',
    summary: 'Record the artifact manifest of a job (its blobs must be uploaded first)',
    tag: 'agent protocol',
    access: 'agent',
    body: artifactManifest.extend({ fencingToken }),
    async handler({ principal, params, body }) {
      const { fencingToken: token, ...artifacts } = body;
      const files = await recordArtifacts(ctx, { jobId: Number(params.id), agentId: agentIdOf(principal), fencingToken: token }, artifacts);
      return { files };
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/agent/jobs/:id/dotenv',
    summary: 'Record the variables of a job’s artifacts:reports:dotenv, for the jobs that take its artifacts',
    tag: 'agent protocol',
    access: 'agent',
    body: z
      .object({
        fencingToken,
        // The agent parsed the report with GitLab's limits; these bounds only keep a row small.
        variables: z
          .record(z.string().regex(/^[a-zA-Z0-9_]+$/), z.string().max(MAX_DOTENV_BYTES))
          .refine((v) => Object.keys(v).length <= MAX_DOTENV_VARIABLES, `at most ${MAX_DOTENV_VARIABLES} variables`),
      })
      .strict(),
    async handler({ principal, params, body }) {
      const jobId = Number(params.id);
      await heldJob(ctx.store.db, { jobId, agentId: agentIdOf(principal), fencingToken: body.fencingToken });
      await saveJobDotenv(ctx.store, jobId, body.variables);
      return { variables: Object.keys(body.variables).length };
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/agent/jobs/:id/reports/junit',
    summary: 'Hand in the files of a job’s artifacts:reports:junit (blobs uploaded first); the server reads and stores its tests',
    tag: 'agent protocol',
    access: 'agent',
    body: z.object({ fencingToken, files: z.array(z.unknown()).max(MAX_JUNIT_REPORT_FILES) }).strict(),
    async handler({ principal, params, body }): Promise<JunitReportsResponse> {
      const jobId = Number(params.id);
      const job = await heldJob(ctx.store.db, { jobId, agentId: agentIdOf(principal), fencingToken: body.fencingToken });
      // The completion reads test cases only of jobs that declare reports (finish-job.ts), and an
      // agent is not trusted to add tests to a job whose pipeline file asked for none.
      if (!readJobSpec(job).artifacts?.junit?.length) throw new ApiError(403, `job ${jobId} declares no artifacts:reports:junit`);
      const files = await uploadedManifest(ctx.blobs, body.files);
      const result = await saveJunitReports(ctx.store, { jobId, files, open: (digest) => ctx.blobs.get(digest), now: ctx.clock.now() });
      if (result.fileErrors.length > 0) ctx.log.warn({ jobId, errors: result.fileErrors }, 'JUnit reports not read');
      return result;
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/agent/jobs/:id/caches/:key',
    summary: 'The manifest of a cache of the job’s repository (404 when none)',
    tag: 'agent protocol',
    access: 'agent',
    async handler({ principal, params, query }) {
      const jobId = Number(params.id);
      const job = await heldJob(ctx.store.db, { jobId, agentId: agentIdOf(principal), fencingToken: Number(query.fencingToken) });
      const key = cacheKeyParam(params.key);
      const stored = await storedCacheKey(ctx, job, key);
      const entry = await findCacheEntry(ctx.store.db, { repoId: job.repo_id, key: stored });
      if (!entry) throw new ApiError(404, `no cache "${key}"`);
      return { key, files: entry.manifest, updatedAt: new Date(entry.updated_at).toISOString() };
    },
  });

  routes.add({
    method: 'PUT',
    url: '/api/v1/agent/jobs/:id/caches/:key',
    summary: 'Save a cache of the job’s repository (its blobs must be uploaded first)',
    tag: 'agent protocol',
    access: 'agent',
    body: z.object({ fencingToken, files: z.array(z.unknown()).max(100_000) }).strict(),
    async handler({ principal, params, body }) {
      const jobId = Number(params.id);
      const job = await heldJob(ctx.store.db, { jobId, agentId: agentIdOf(principal), fencingToken: body.fencingToken });
      const key = cacheKeyParam(params.key);
      const files = await uploadedManifest(ctx.blobs, body.files);
      const now = ctx.clock.now();
      const manifest = JSON.stringify(files);
      await saveCacheEntry(ctx.store.db, { repoId: job.repo_id, key: await storedCacheKey(ctx, job, key), manifest, now });
      return { key, files: files.length };
    },
  });
}
