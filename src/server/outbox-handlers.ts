// The outbox's topics this server sends, each with its handler. A topic missing here waits (and
// is retried later), so a replica of an older version never drops another's messages.
import type { OutboxHandler } from '../outbox/index.js';
import type { ServerContext } from './context.js';

export function outboxHandlers(ctx: Omit<ServerContext, 'outbox'>): OutboxHandler[] {
  void ctx;
  return [];
}
