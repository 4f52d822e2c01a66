// The outbox's topics this server sends, each with its handler. A topic missing here waits (and
// is retried later), so a replica of an older version never drops another's messages.
import { createNotificationHandler, type OutboxHandler } from '../outbox/index.js';
import type { ServerContext } from './context.js';
import { notificationTargetRefusal } from './notification-targets.js';

export function outboxHandlers(ctx: Omit<ServerContext, 'outbox'>): OutboxHandler[] {
  return [
    createNotificationHandler({
      db: ctx.store.db,
      keyring: ctx.secrets.keyring,
      externalUrl: () => ctx.externalUrl,
      smtp: ctx.config.smtp,
      now: () => ctx.clock.now(),
      refuseTarget: notificationTargetRefusal(ctx),
    }),
  ];
}
