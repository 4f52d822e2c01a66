// Sending what the evaluations queued, after their transactions committed. A row is claimed for a
// while before it is sent and marked sent after, so a message goes out once; only a leader that
// dies between sending and marking leaves a message to be sent again (receivers get the same
// notificationId, and Alertmanager deduplicates by labels). Failures are retried with backoff.
import type { Kysely } from 'kysely';
import type { Alert, AlertNotification, Database } from '../../store/index.js';
import { alertView, type Notifier } from './notifiers.js';
import { ROLLBACK_ACTION } from './state.js';
import { retryDelayMs } from '../transports.js';

/** A claim outlives the slowest send (notifier timeouts are at most 300 s). */
const CLAIM_MS = 320_000;
const BATCH = 50;
export const MAX_ATTEMPTS = 12;

export interface DeliverDeps {
  db: Kysely<Database>;
  now: () => number;
  notifiers: ReadonlyMap<string, Notifier>;
  externalUrl: string;
  /** Carries out an action of the outbox (a rollback); returns what it did. */
  act(action: string, alert: Alert): Promise<string>;
}

export interface DeliveryOutcome {
  notification: AlertNotification;
  alert: Alert;
  ok: boolean;
  error?: string;
  result?: string;
}

/** Sends the due messages in order; returns what happened to each. */
export async function deliverDue(deps: DeliverDeps): Promise<DeliveryOutcome[]> {
  const now = deps.now();
  const due = await deps.db
    .selectFrom('alert_notifications')
    .selectAll()
    .where('status', '=', 'pending')
    .where('next_attempt_at', '<=', now)
    .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
    .orderBy('id')
    .limit(BATCH)
    .execute();
  const outcomes: DeliveryOutcome[] = [];
  for (const row of due) {
    // "Resolved" waits for its "firing" to be sent (or given up): never the end before the start.
    if (row.event === 'resolved') {
      const firing = await deps.db
        .selectFrom('alert_notifications')
        .select('status')
        .where('alert_id', '=', row.alert_id)
        .where('notifier', '=', row.notifier)
        .where('event', '=', 'firing')
        .executeTakeFirst();
      if (firing?.status === 'pending') continue;
    }
    const claimed = await deps.db
      .updateTable('alert_notifications')
      .set((eb) => ({ claimed_until: deps.now() + CLAIM_MS, attempts: eb('attempts', '+', 1) }))
      .where('id', '=', row.id)
      .where('status', '=', 'pending')
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', deps.now())]))
      .returningAll()
      .executeTakeFirst();
    if (!claimed) continue;
    const alert = await deps.db.selectFrom('alerts').selectAll().where('id', '=', claimed.alert_id).executeTakeFirstOrThrow();
    outcomes.push(await deliverOne(deps, claimed, alert));
  }
  return outcomes;
}

async function deliverOne(deps: DeliverDeps, row: AlertNotification, alert: Alert): Promise<DeliveryOutcome> {
  let result: string | undefined;
  try {
    if (row.notifier === ROLLBACK_ACTION) {
      result = await deps.act(row.notifier, alert);
    } else {
      const notifier = deps.notifiers.get(row.notifier);
      if (!notifier) {
        await finish(deps, row, 'failed', `notifier "${row.notifier}" is no longer configured`);
        return { notification: row, alert, ok: false, error: `notifier "${row.notifier}" is no longer configured` };
      }
      await notifier.send({
        notificationId: row.id,
        event: row.event,
        alert: alertView(alert),
        externalUrl: deps.externalUrl,
        now: deps.now(),
      });
    }
  } catch (err) {
    const error = (err as Error).message;
    if (row.attempts >= MAX_ATTEMPTS) await finish(deps, row, 'failed', error);
    else {
      await deps.db
        .updateTable('alert_notifications')
        .set({ claimed_until: null, last_error: error, next_attempt_at: deps.now() + retryDelayMs(row.attempts) })
        .where('id', '=', row.id)
        .execute();
    }
    return { notification: row, alert, ok: false, error };
  }
  await finish(deps, row, 'sent', null, result ?? null);
  return { notification: row, alert, ok: true, result };
}

async function finish(
  deps: DeliverDeps,
  row: AlertNotification,
  status: 'sent' | 'failed',
  error: string | null,
  result: string | null = null,
): Promise<void> {
  const now = deps.now();
  await deps.db
    .updateTable('alert_notifications')
    .set({ status, claimed_until: null, sent_at: status === 'sent' ? now : null, last_error: error, result })
    .where('id', '=', row.id)
    .execute();
}

/** The firing alerts a notifier was told of (for Alertmanager's periodic resend). */
export async function firingToldTo(db: Kysely<Database>, notifier: string): Promise<Alert[]> {
  return db
    .selectFrom('alerts')
    .innerJoin('alert_notifications as n', 'n.alert_id', 'alerts.id')
    .selectAll('alerts')
    .where('alerts.state', '=', 'firing')
    .where('n.notifier', '=', notifier)
    .where('n.event', '=', 'firing')
    .where('n.status', '=', 'sent')
    .orderBy('alerts.id')
    .execute();
}
