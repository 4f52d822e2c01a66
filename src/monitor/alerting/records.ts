// Reading alerts and keeping silences, for the API: the leader's evaluation writes alerts in
// state.ts; people add and expire silences here.
import type { Kysely } from 'kysely';
import type { Alert, AlertNotification, AlertStateValue, Database, Silence } from '../../store/index.js';

/** Alerts in these states, newest first. */
export async function listAlerts(db: Kysely<Database>, input: { states: AlertStateValue[]; limit: number }): Promise<Alert[]> {
  return db.selectFrom('alerts').selectAll().where('state', 'in', input.states).orderBy('id', 'desc').limit(input.limit).execute();
}

/** One alert with its notifications (and actions) in the order they were made; undefined when there is none. */
export async function alertWithNotifications(
  db: Kysely<Database>,
  alertId: number,
): Promise<{ alert: Alert; notifications: AlertNotification[] } | undefined> {
  const alert = await db.selectFrom('alerts').selectAll().where('id', '=', alertId).executeTakeFirst();
  if (!alert) return undefined;
  const notifications = await db.selectFrom('alert_notifications').selectAll().where('alert_id', '=', alertId).orderBy('id').execute();
  return { alert, notifications };
}

export async function addSilence(
  db: Kysely<Database>,
  input: { matchers: unknown[]; startsAt: number; endsAt: number; comment: string; createdBy: string; now: number },
): Promise<Silence> {
  return db
    .insertInto('silences')
    .values({
      matchers: JSON.stringify(input.matchers),
      starts_at: input.startsAt,
      ends_at: input.endsAt,
      comment: input.comment,
      created_by: input.createdBy,
      created_at: input.now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Silences newest first: those not yet ended, or (`ended`) all of them. */
export async function listSilences(db: Kysely<Database>, input: { ended: boolean; now: number; limit: number }): Promise<Silence[]> {
  let q = db.selectFrom('silences').selectAll().orderBy('id', 'desc').limit(input.limit);
  if (!input.ended) q = q.where('ends_at', '>', input.now);
  return q.execute();
}

/** Ends a silence now (one already ended keeps its end); undefined when there is none. */
export async function expireSilence(db: Kysely<Database>, input: { silenceId: number; now: number }): Promise<Silence | undefined> {
  await db.updateTable('silences').set({ ends_at: input.now }).where('id', '=', input.silenceId).where('ends_at', '>', input.now).execute();
  return db.selectFrom('silences').selectAll().where('id', '=', input.silenceId).executeTakeFirst();
}
