// Background duties of the server: promote delayed jobs, reap expired leases, enforce timeouts,
// poll repositories, expire artifacts, drop ended sessions and old failed-login counters, make
// scheduled backups, start scheduled pipelines, move finished jobs' logs a lost kick left behind. They run only on the replica holding the leader
// lease (src/server/leader.ts); with SQLite there is one server, which therefore always leads.
import { diffRefs, lsRemote } from '../source/index.js';
import { enforceTimeouts, promoteScheduled, reapExpiredLeases, triggerForDelivery } from '../scheduler/index.js';
import { readKnownRefs, type Repo } from '../store/index.js';
import type { ServerContext } from './context.js';
import type { StatusChange } from '../scheduler/index.js';
import { kickDownstream } from './downstream.js';
import { publishChanges } from './notify.js';
import { gitCredentialsOf, repoWantsRef } from '../repos/index.js';
import { claimLeadership, releaseLeadership, type Leadership } from './leader.js';
import { backupSchedule, type BackupSchedule } from './backups.js';
import { scheduleDuty, type ScheduleDuty } from './schedules.js';
import { expireArtifacts, sweepQueuedBlobs } from './retention.js';
import { kickLogMover } from './log-mover.js';
import { pruneOutbox } from '../outbox/index.js';
import { deleteExpiredDeviceLogins } from '../auth/index.js';
import { pruneLoginFailures } from '../auth/index.js';
import { deleteExpiredSessions } from '../auth/index.js';
import { loginPolicyOf, sessionLimitsOf } from './auth.js';
import { startAlerting, type AlertingService } from './alerting.js';

const TICK_MS = 1000;
const RETENTION_EVERY_MS = 60_000;
/** How often the leader looks for finished jobs' logs a lost kick left in the database. */
const LOG_SWEEP_EVERY_MS = 10_000;
/** Sent and given-up outbox messages stay a week: long enough to see what a forge or receiver got. */
const OUTBOX_KEEP_MS = 7 * 24 * 3600_000;

export interface Duties {
  isLeader(): boolean;
  /** Heartbeats on every replica; alert evaluation and notifications on the leader. */
  alerting: AlertingService;
  /** Stops the duties and hands the leader lease back so another replica takes over at once. */
  stop(): Promise<void>;
}

async function pollRepo(ctx: ServerContext, repo: Repo, now: number): Promise<void> {
  await ctx.store.db.updateTable('repos').set({ last_polled_at: now }).where('id', '=', repo.id).execute();
  const current = await lsRemote(repo.url, { timeoutMs: 30_000, credentials: await gitCredentialsOf(ctx, repo) });
  const previous = readKnownRefs(repo);
  const firstPoll = Object.keys(previous).length === 0;
  await ctx.store.db
    .updateTable('repos')
    .set({ known_refs: JSON.stringify(Object.fromEntries(current)) })
    .where('id', '=', repo.id)
    .execute();
  // The first poll only learns the refs: building every branch of a freshly added repository is not what users want.
  if (firstPoll) return;
  for (const event of diffRefs(previous, current)) {
    if (event.deleted || !repoWantsRef(repo, event.ref)) continue;
    // Polling sees each ref move once per server; the delivery row keeps a second replica from building it again.
    const result = await triggerForDelivery(ctx, {
      repo,
      ref: event.ref,
      sha: event.sha,
      beforeSha: event.beforeSha,
      source: 'push',
      event: {
        provider: 'poll',
        deliveryId: `${event.ref}@${event.sha}`,
        kind: event.kind,
        ref: event.ref,
        sha: event.sha,
        beforeSha: event.beforeSha,
      },
    });
    publishChanges(ctx, result.changes);
    if (result.duplicate) continue;
    if (result.pipelineId === null) {
      ctx.log.info(
        { repo: repo.name, ref: event.ref, sha: event.sha, reason: result.skippedReason },
        'poll found a new commit; no pipeline',
      );
      continue;
    }
    ctx.log.info({ repo: repo.name, ref: event.ref, sha: event.sha, pipelineId: result.pipelineId }, 'poll found a new commit');
  }
}

interface DutyState {
  leadership: Leadership;
  /** Repositories being polled right now (a slow remote must not pile up polls). */
  polling: Set<number>;
  lastRetentionAt: number;
  lastLogSweepAt: number;
  backups: BackupSchedule | null;
  schedules: ScheduleDuty;
}

/** Frees the jobs of lost agents: expired leases, and presence streams broken for longer than the grace. */
async function reap(ctx: ServerContext, state: DutyState, now: number): Promise<StatusChange[]> {
  const leaseMs = ctx.config.leaseSeconds * 1000;
  // A new leader (after a restart, a failover or an outage of every server) first gives agents one
  // lease period to heartbeat again: their jobs kept running while nobody could extend leases. A
  // broken presence stream was seen by a live replica, so it counts at once.
  const settled = state.leadership.since !== null && now - state.leadership.since >= leaseMs;
  const reaped = await reapExpiredLeases(ctx.store, {
    now,
    leases: settled,
    disconnectedBefore: now - ctx.config.agentDisconnectGraceSeconds * 1000,
    maxSystemAttempts: ctx.config.maxSystemAttempts,
  });
  for (const r of reaped.reaped) {
    ctx.metrics.leaseExpiries.inc();
    if (r.retryJobId !== null) ctx.metrics.requeues.inc();
    ctx.log.warn({ jobId: r.jobId, agentId: r.agentId, retryJobId: r.retryJobId }, 'agent lost: job lease freed');
  }
  return reaped.changes;
}

/** When the next lease or presence grace runs out, if that is sooner than the next tick. */
async function nextDeadline(ctx: ServerContext, now: number): Promise<number | null> {
  const graceMs = ctx.config.agentDisconnectGraceSeconds * 1000;
  const soon = now + TICK_MS;
  // Only deadlines still ahead: a lease already past, or an agent gone long ago, is the tick's.
  const lease = await ctx.store.db
    .selectFrom('jobs')
    .select((eb) => eb.fn.min('lease_expires_at').as('at'))
    .where('status', '=', 'running')
    .where('lease_expires_at', '>', now)
    .where('lease_expires_at', '<', soon)
    .executeTakeFirst();
  const gone = await ctx.store.db
    .selectFrom('agents')
    .select((eb) => eb.fn.min('disconnected_at').as('at'))
    .where('disconnected_at', '>', now - graceMs)
    .where('disconnected_at', '<', soon - graceMs)
    .executeTakeFirst();
  const candidates = [lease?.at, gone?.at === null || gone?.at === undefined ? null : Number(gone.at) + graceMs]
    .filter((at) => at !== null && at !== undefined)
    .map(Number);
  return candidates.length > 0 ? Math.min(...candidates) : null;
}

async function tick(ctx: ServerContext, state: DutyState): Promise<void> {
  const now = ctx.clock.now();
  const was = state.leadership.leader;
  state.leadership = await claimLeadership(ctx.store, ctx.replicaId, ctx.config.leaseSeconds * 1000, now, state.leadership);
  ctx.metrics.leader.set(state.leadership.leader ? 1 : 0);
  if (state.leadership.leader !== was)
    ctx.log.info(
      { leader: state.leadership.leader, epoch: state.leadership.epoch },
      state.leadership.leader ? 'became leader' : 'lost leadership',
    );
  if (!state.leadership.leader) return;
  if (now - state.lastRetentionAt >= RETENTION_EVERY_MS) {
    state.lastRetentionAt = now;
    const expired = await expireArtifacts(ctx, now);
    if (expired.files > 0) ctx.log.info(expired, 'expired artifacts removed');
    const swept = await sweepQueuedBlobs(ctx);
    if (swept.checked > 0) ctx.log.info(swept, "removed repositories' blobs swept");
    await deleteExpiredSessions(ctx.store.db, now, sessionLimitsOf(ctx));
    await pruneLoginFailures(ctx.store.db, now, loginPolicyOf(ctx));
    await deleteExpiredDeviceLogins(ctx.store.db, now);
    await pruneOutbox(ctx.store.db, now - OUTBOX_KEEP_MS);
  }
  if (now - state.lastLogSweepAt >= LOG_SWEEP_EVERY_MS) {
    state.lastLogSweepAt = now;
    kickLogMover(ctx);
  }
  await state.backups?.tick(now);
  await state.schedules.tick(now);
  const promoted = await promoteScheduled(ctx.store, now);
  const reaped = await reap(ctx, state, now);
  const timedOut = await enforceTimeouts(ctx.store, now);
  publishChanges(ctx, [...promoted.changes, ...reaped, ...timedOut.changes]);
  kickDownstream(ctx);

  const due = await ctx.store.db.selectFrom('repos').selectAll().where('poll_interval_seconds', '>', 0).execute();
  for (const repo of due) {
    if (state.polling.has(repo.id) || (repo.last_polled_at ?? 0) + repo.poll_interval_seconds * 1000 > now) continue;
    state.polling.add(repo.id);
    pollRepo(ctx, repo, now)
      .catch((err: unknown) => ctx.log.warn({ repo: repo.name, err: (err as Error).message }, 'polling failed'))
      .finally(() => state.polling.delete(repo.id));
  }
}

export function startDuties(ctx: ServerContext): Duties {
  const state: DutyState = {
    leadership: { leader: false, epoch: 0, since: null, renewedAt: null },
    polling: new Set(),
    lastRetentionAt: 0,
    lastLogSweepAt: 0,
    backups: backupSchedule(ctx),
    schedules: scheduleDuty(ctx),
  };
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  let precise: NodeJS.Timeout | undefined;
  // Duties run one at a time, in order: a tick never overlaps an extra reap.
  const enqueue = (work: () => Promise<void>) => {
    running = running.then(() => (stopped ? undefined : work().catch((err: unknown) => ctx.log.error({ err }, 'background duty failed'))));
  };
  // A lease or presence grace that runs out between ticks is reaped when it does, not up to a tick later.
  const reapOnTime = async () => {
    if (!state.leadership.leader) return;
    const now = ctx.clock.now();
    const at = await nextDeadline(ctx, now);
    if (at === null) return;
    clearTimeout(precise);
    const reapNow = async () => {
      if (state.leadership.leader) publishChanges(ctx, await reap(ctx, state, ctx.clock.now()));
    };
    precise = setTimeout(() => enqueue(reapNow), at - now + 5);
  };
  const timer = setInterval(
    () =>
      enqueue(async () => {
        await tick(ctx, state);
        await reapOnTime();
      }),
    TICK_MS,
  );
  // Its own loops: a slow notifier or Prometheus must not hold up lease reaping.
  const alerting = startAlerting(ctx, () => state.leadership.leader);
  return {
    isLeader: () => state.leadership.leader,
    alerting,
    async stop() {
      stopped = true;
      clearInterval(timer);
      clearTimeout(precise);
      await alerting.stop();
      await running;
      await state.backups?.stop();
      await state.schedules.stop();
      if (state.leadership.leader) await releaseLeadership(ctx.store, ctx.replicaId, state.leadership.epoch).catch(() => undefined);
      ctx.metrics.leader.set(0);
    },
  };
}
