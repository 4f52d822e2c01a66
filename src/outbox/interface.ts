// STAND-IN until the lead's outbox core (src/outbox, migration 020_outbox) is on main: the interface
// of the shared brief, so the notification topic builds against it. Replaced at the merge by the
// core's own types; nothing here is meant to survive it.
import type { Kysely } from 'kysely';
import type { Database, PipelineStatus } from '../store/index.js';

/** The scheduler's status changes, as far as a writer reads them. */
export type OutboxStatusChange =
  | { type: 'job'; id: number; pipelineId: number; repoId: number; status: string }
  | { type: 'pipeline'; id: number; pipelineId: number; repoId: number; status: PipelineStatus; failureReason?: string };

export interface OutboxMessage {
  topic: 'forge_status' | 'notification';
  key: string;
  repoId: number | null;
  payload: unknown;
  coalesce: boolean;
}

export type OutboxWriter = (trx: Kysely<Database>, changes: readonly OutboxStatusChange[], now: number) => Promise<OutboxMessage[]>;

export interface OutboxDelivery {
  id: number;
  key: string;
  repoId: number | null;
  payload: unknown;
  attempts: number;
  uncertain: boolean;
  lastSentPayload: unknown;
}

export interface OutboxHandler {
  topic: 'forge_status' | 'notification';
  deliver(d: OutboxDelivery): Promise<string>;
}

/** Rate limited: retry at `retryAt` without growing the backoff. */
export class DeliveryDeferred extends Error {
  constructor(
    readonly retryAt: number,
    reason: string,
  ) {
    super(reason);
  }
}

/** Permanent: the row fails at once. */
export class DeliveryRefused extends Error {}
