// The outbox's topics this server sends, each with its handler. A topic missing here waits (and
// is retried later), so a replica of an older version never drops another's messages.
import { createNotificationHandler, forgeStatusHandler, type OutboxHandler } from '../outbox/index.js';
import { readLogPages } from '../scheduler/index.js';
import type { ServerContext } from './context.js';
import { notificationTargetRefusal } from './notification-targets.js';

/**
 * A forge request's time limit. One delivery makes up to four requests (a GitHub App: installation,
 * token, the check run found, then set), each possibly tried twice: eight fit in the outbox's claim.
 */
const FORGE_TIMEOUT_MAX_MS = 10_000;
/** A notification's POST (one per delivery, after reading the failed jobs' logs): well inside the claim. */
const NOTIFICATION_TIMEOUT_MAX_MS = 10_000;

export function outboxHandlers(ctx: Omit<ServerContext, 'outbox'>): OutboxHandler[] {
  return [
    forgeStatusHandler({
      store: ctx.store,
      secrets: ctx.secrets,
      metrics: ctx.metrics,
      log: ctx.log,
      // Read at delivery: the server learns its URL once it listens.
      externalUrl: () => ctx.externalUrl,
      timeoutMs: Math.min(FORGE_TIMEOUT_MAX_MS, (ctx.config.outboxClaimSeconds * 1000) / 8),
      now: () => ctx.clock.now(),
    }),
    createNotificationHandler({
      db: ctx.store.db,
      logPages: (jobId) => readLogPages(ctx.store, ctx.blobs, jobId),
      keyring: ctx.secrets.keyring,
      externalUrl: () => ctx.externalUrl,
      smtp: ctx.config.smtp,
      now: () => ctx.clock.now(),
      refuseTarget: notificationTargetRefusal(ctx),
      timeoutMs: Math.min(NOTIFICATION_TIMEOUT_MAX_MS, (ctx.config.outboxClaimSeconds * 1000) / 4),
    }),
  ];
}
