// The outbox's table operations. A message is written in the transaction that made it true and
// sent after commit by whichever replica claims it; a claim that expires (its replica died while
// sending) makes the message due again, marked uncertain so the handler can ask the receiver first.
// Order per key: a message waits while an older one of its key is pending. Coalescing keys send only
// their newest state: older pending messages are superseded unless a replica is sending them.
import type { Kysely } from 'kysely';
import { retryDelayMs } from '../monitor/index.js';
import type { Database, OutboxRow } from '../store/index.js';

export interface OutboxMessage {
  topic: string;
  key: string;
  repoId: number | null;
  payload: unknown;
  coalesce: boolean;
}

/** A claimed message, as its topic's handler gets it. */
export interface OutboxDelivery {
  id: number;
  topic: string;
  key: string;
  repoId: number | null;
  payload: unknown;
  /** This attempt's number, from 1. */
  attempts: number;
  /** An earlier attempt's outcome is unknown (its claim expired): the receiver may have it already. */
  uncertain: boolean;
  /** The payload of the last message of this key that was sent, or null. */
  lastSentPayload: unknown;
}

/** A message still failing a day after it was written is given up (a forge outage rarely lasts longer). */
export const GIVE_UP_AFTER_MS = 24 * 3600_000;

/** Writes messages (in the caller's transaction). */
export async function enqueueMessages(db: Kysely<Database>, messages: readonly OutboxMessage[], now: number): Promise<void> {
  if (messages.length === 0) return;
  await db
    .insertInto('outbox')
    .values(
      messages.map((m) => ({
        topic: m.topic,
        key: m.key,
        repo_id: m.repoId,
        payload: JSON.stringify(m.payload),
        coalesce: m.coalesce ? 1 : 0,
        status: 'pending' as const,
        attempts: 0,
        next_attempt_at: now,
        created_at: now,
      })),
    )
    .execute();
}

/** Whether no replica is sending the row now (never claimed, or its claim expired). */
function idle(row: Pick<OutboxRow, 'claimed_until'>, now: number): boolean {
  return row.claimed_until === null || row.claimed_until < now;
}

/**
 * Supersedes the older pending messages of a coalescing key; false when one of them is being sent
 * (the newer one then waits for it, so the receiver never sees an older state after a newer).
 */
async function supersedeOlder(db: Kysely<Database>, row: OutboxRow, older: OutboxRow[], now: number): Promise<boolean> {
  for (const o of older) {
    if (!idle(o, now)) return false;
    const done = await db
      .updateTable('outbox')
      .set({ status: 'superseded', claimed_until: null, result: `superseded by ${row.id}` })
      .where('id', '=', o.id)
      .where('status', '=', 'pending')
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
      .executeTakeFirst();
    if (Number(done.numUpdatedRows) === 0) return false;
  }
  return true;
}

/**
 * Claims up to `limit` due messages for `replica` until `now + claimMs`, at most one per key. A
 * message of a key that has an older pending message waits for it (or, coalescing, replaces it);
 * a coalescing message with a newer pending one is superseded instead of sent.
 */
export async function claimDueMessages(
  db: Kysely<Database>,
  input: { now: number; replica: string; claimMs: number; limit: number },
): Promise<OutboxDelivery[]> {
  const { now } = input;
  const due = await db
    .selectFrom('outbox')
    .selectAll()
    .where('status', '=', 'pending')
    .where('next_attempt_at', '<=', now)
    .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
    .orderBy('id')
    .limit(input.limit)
    .execute();
  const claimed: OutboxDelivery[] = [];
  const keys = new Set<string>();
  for (const row of due) {
    if (keys.has(row.key)) continue;
    const others = await db
      .selectFrom('outbox')
      .selectAll()
      .where('key', '=', row.key)
      .where('status', '=', 'pending')
      .where('id', '<>', row.id)
      .orderBy('id')
      .execute();
    const older = others.filter((o) => o.id < row.id);
    if (row.coalesce === 1 && others.some((o) => o.id > row.id)) {
      // A newer state is waiting: this one will never be sent (unless a replica is sending it now).
      await supersedeOlder(db, others.filter((o) => o.id > row.id).at(-1)!, [row], now);
      continue;
    }
    if (older.length > 0 && (row.coalesce === 0 || !(await supersedeOlder(db, row, older, now)))) continue;
    const taken = await db
      .updateTable('outbox')
      .set((eb) => ({ claimed_until: now + input.claimMs, claimed_by: input.replica, attempts: eb('attempts', '+', 1) }))
      .where('id', '=', row.id)
      .where('status', '=', 'pending')
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
      .returningAll()
      .executeTakeFirst();
    if (!taken) continue;
    keys.add(row.key);
    const lastSent = await db
      .selectFrom('outbox')
      .select('payload')
      .where('key', '=', row.key)
      .where('status', '=', 'sent')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    claimed.push({
      id: taken.id,
      topic: taken.topic,
      key: taken.key,
      repoId: taken.repo_id,
      payload: JSON.parse(taken.payload) as unknown,
      attempts: taken.attempts,
      uncertain: row.claimed_until !== null,
      lastSentPayload: lastSent ? (JSON.parse(lastSent.payload) as unknown) : null,
    });
  }
  return claimed;
}

/** The message was delivered (or found delivered already): `result` says which. */
export async function markSent(db: Kysely<Database>, input: { id: number; now: number; result: string }): Promise<void> {
  await db
    .updateTable('outbox')
    .set({ status: 'sent', sent_at: input.now, claimed_until: null, result: input.result })
    .where('id', '=', input.id)
    .where('status', '=', 'pending')
    .execute();
}

/**
 * The attempt failed. `retryAt` set: the receiver said when (a rate limit), and the attempt does not
 * count towards the backoff. Otherwise exponential backoff; `permanent`, or a message older than
 * GIVE_UP_AFTER_MS, fails for good. Returns the message's new status.
 */
export async function markAttemptFailed(
  db: Kysely<Database>,
  input: { id: number; now: number; error: string; retryAt?: number; permanent?: boolean },
): Promise<'pending' | 'failed'> {
  const row = await db.selectFrom('outbox').select(['attempts', 'created_at']).where('id', '=', input.id).executeTakeFirst();
  if (!row) return 'failed';
  const failed = input.permanent === true || (input.retryAt === undefined && input.now - row.created_at >= GIVE_UP_AFTER_MS);
  await db
    .updateTable('outbox')
    .set({
      status: failed ? 'failed' : 'pending',
      claimed_until: null,
      last_error: input.error,
      last_error_at: input.now,
      attempts: input.retryAt === undefined ? row.attempts : Math.max(0, row.attempts - 1),
      next_attempt_at: input.retryAt ?? input.now + retryDelayMs(row.attempts),
    })
    .where('id', '=', input.id)
    .where('status', '=', 'pending')
    .execute();
  return failed ? 'failed' : 'pending';
}

export interface OutboxSummary {
  lastSentAt: number | null;
  lastError: string | null;
  lastErrorAt: number | null;
  /** Messages not yet sent (waiting, retrying or being sent). */
  pending: number;
}

/** A repository's deliveries of a topic at a glance: the last one sent, the last error, how many wait. */
export async function outboxSummary(db: Kysely<Database>, input: { repoId: number; topic: string }): Promise<OutboxSummary> {
  const base = db.selectFrom('outbox').where('repo_id', '=', input.repoId).where('topic', '=', input.topic);
  const [sent, error, pending] = await Promise.all([
    base.select('sent_at').where('status', '=', 'sent').orderBy('id', 'desc').limit(1).executeTakeFirst(),
    base
      .select(['last_error', 'last_error_at'])
      .where('last_error_at', 'is not', null)
      .orderBy('last_error_at', 'desc')
      .limit(1)
      .executeTakeFirst(),
    base
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('status', '=', 'pending')
      .executeTakeFirstOrThrow(),
  ]);
  return {
    lastSentAt: sent?.sent_at ?? null,
    lastError: error?.last_error ?? null,
    lastErrorAt: error?.last_error_at ?? null,
    pending: Number(pending.n),
  };
}

/** Deletes what was settled (sent, superseded, failed) before `before`; returns how many. */
export async function pruneOutbox(db: Kysely<Database>, before: number): Promise<number> {
  const res = await db.deleteFrom('outbox').where('status', '<>', 'pending').where('created_at', '<', before).executeTakeFirst();
  return Number(res.numDeletedRows);
}
