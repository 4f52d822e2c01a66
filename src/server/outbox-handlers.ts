// The outbox's topics this server sends, each with its handler. A topic missing here waits (and
// is retried later), so a replica of an older version never drops another's messages.
import { forgeStatusHandler, type OutboxHandler } from '../outbox/index.js';
import type { ServerContext } from './context.js';

/** A forge request's time limit: the outbox's claim (60 s) outlasts it twice over (octokit may retry a 5xx once). */
const FORGE_TIMEOUT_MS = 10_000;

export function outboxHandlers(ctx: Omit<ServerContext, 'outbox'>): OutboxHandler[] {
  return [
    forgeStatusHandler({
      store: ctx.store,
      secrets: ctx.secrets,
      metrics: ctx.metrics,
      log: ctx.log,
      // Read at delivery: the server learns its URL once it listens.
      externalUrl: () => ctx.externalUrl,
      timeoutMs: FORGE_TIMEOUT_MS,
      now: () => ctx.clock.now(),
    }),
  ];
}
