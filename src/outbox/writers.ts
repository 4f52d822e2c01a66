// The topics whose messages follow from status changes, written in the scheduler's transaction
// that made the changes: a message exists if and only if its change committed.
import type { Kysely } from 'kysely';
import type { Database, StatusChange } from '../store/index.js';
import { forgeStatusMessages } from './forge-statuses.js';
import { notificationMessages } from './notifications.js';
import { enqueueMessages, type OutboxMessage } from './outbox.js';

/** The messages a topic sends for these changes: cheap (claims run through here), no query when none concern it. */
export type OutboxWriter = (trx: Kysely<Database>, changes: readonly StatusChange[], now: number) => Promise<OutboxMessage[]>;

const WRITERS: readonly OutboxWriter[] = [forgeStatusMessages, notificationMessages];

/** Writes every topic's messages for the changes, in the caller's transaction; returns how many. */
export async function recordPipelineEvents(trx: Kysely<Database>, changes: readonly StatusChange[], now: number): Promise<number> {
  if (changes.length === 0) return 0;
  let written = 0;
  for (const write of WRITERS) {
    const messages = await write(trx, changes, now);
    await enqueueMessages(trx, messages, now);
    written += messages.length;
  }
  return written;
}
