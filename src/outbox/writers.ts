// The topics whose messages follow from status changes, written in the scheduler's transaction
// that made the changes: a message exists if and only if its change committed.
import type { Kysely } from 'kysely';
import type { Database, StatusChange } from '../store/index.js';
import { enqueueMessages, type OutboxMessage } from './outbox.js';

/** The messages a topic sends for these changes: cheap (claims run through here), no query when none concern it. */
export type OutboxWriter = (trx: Kysely<Database>, changes: readonly StatusChange[], now: number) => Promise<OutboxMessage[]>;

const WRITERS: readonly OutboxWriter[] = [];

/** Writes every topic's messages for the changes, in the caller's transaction. */
export async function recordPipelineEvents(trx: Kysely<Database>, changes: readonly StatusChange[], now: number): Promise<void> {
  if (changes.length === 0) return;
  for (const write of WRITERS) await enqueueMessages(trx, await write(trx, changes, now), now);
}
