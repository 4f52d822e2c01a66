// Notification subscriptions: who is told about which pipelines, and how. A repository's
// subscription (managed by its maintainers) covers its pipelines; a user's own covers one
// repository or, without one, every repository the user can read (checked for each message, so a
// user who loses access stops hearing about it). A webhook's secret is sealed with the keyring,
// bound to the row's id, and never read back by the API.
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { DomainError } from '../errors.js';
import { NOTIFICATION_SECRET, type Keyring } from '../auth/index.js';
import { NOTIFICATION_EVENTS, type NotificationEvent, type NotificationType } from '../api/index.js';
import { emailAddress } from '../monitor/index.js';
import { jsonColumn, type Database, type NotificationSubscription, type Store } from '../store/index.js';

export type { NotificationSubscription } from '../store/index.js';

const eventList = z.array(z.enum(NOTIFICATION_EVENTS));
/** The `events` column: a JSON list of events. */
export const readSubscriptionEvents = jsonColumn<NotificationEvent[]>('notification_subscriptions', 'events', eventList);

export interface SubscriptionsContext {
  store: Store;
  secrets: { keyring: Keyring };
}

export interface NewSubscription {
  repoId: number | null;
  userId: number | null;
  type: NotificationType;
  /** Email addresses (comma-separated) for email, else an http(s) URL (checked by the caller against the outbound rules). */
  target: string;
  events: NotificationEvent[];
  /** A webhook's signing secret; null: its bodies go unsigned. */
  secret: string | null;
  createdBy: string;
  now: number;
}

/** The addresses of an email target, each checked; refuses naming the field. */
export function emailRecipients(target: string): string[] {
  const addresses = target
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  if (addresses.length === 0) throw new DomainError('invalid', 'target: expected one or more email addresses, separated by commas');
  if (addresses.length > 50) throw new DomainError('invalid', 'target: at most 50 email addresses');
  for (const a of addresses) {
    if (!emailAddress.safeParse(a).success) throw new DomainError('invalid', `target: "${a}" is not an email address`);
  }
  return addresses;
}

/** The target as stored: email addresses normalised, a URL as given (after the http(s) check). */
function normaliseTarget(type: NotificationType, target: string): string {
  if (type === 'email') return emailRecipients(target).join(', ');
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    throw new DomainError('invalid', `target: expected an http:// or https:// URL for a ${type} notification`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new DomainError('invalid', `target: expected an http:// or https:// URL, not ${url.protocol}`);
  if (url.username || url.password)
    throw new DomainError('invalid', 'target: a URL with credentials is not accepted (put them in the secret or the path)');
  return url.toString();
}

export async function createSubscription(ctx: SubscriptionsContext, input: NewSubscription): Promise<NotificationSubscription> {
  if (input.secret !== null && input.type !== 'webhook')
    throw new DomainError('invalid', `secret: only a webhook signs its bodies; a ${input.type} notification takes none`);
  const events = [...new Set(input.events)];
  if (events.length === 0) throw new DomainError('invalid', `events: name at least one of ${NOTIFICATION_EVENTS.join(', ')}`);
  const target = normaliseTarget(input.type, input.target);
  const inserted = await ctx.store.db
    .insertInto('notification_subscriptions')
    .values({
      repo_id: input.repoId,
      user_id: input.userId,
      type: input.type,
      target,
      events: JSON.stringify(events),
      secret: null,
      secret_key_id: null,
      created_by: input.createdBy,
      created_at: input.now,
      // Inactive until its secret is sealed: sealing needs the row's id, and no message may go unsigned meanwhile.
      active: input.secret === null ? 1 : 0,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  if (input.secret === null) return inserted;
  const sealed = await ctx.secrets.keyring.seal(input.secret, NOTIFICATION_SECRET, inserted);
  return ctx.store.db
    .updateTable('notification_subscriptions')
    .set({ secret: sealed.value, secret_key_id: sealed.keyId, active: 1 })
    .where('id', '=', inserted.id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** A subscription with the names the API shows, and what became of its newest message. */
export interface SubscriptionListing extends NotificationSubscription {
  repo_name: string | null;
  username: string | null;
  lastDelivery: LastDelivery | null;
}

export interface LastDelivery {
  /** pending (waiting or being retried), sent, or failed (given up). */
  status: string;
  /** When it was sent, or last failed, or written. */
  at: number;
  result: string | null;
  error: string | null;
}

type SubscriptionRow = Omit<SubscriptionListing, 'lastDelivery'>;

/** The newest outbox message of each subscription, in one query. */
async function withLastDelivery(db: Kysely<Database>, rows: SubscriptionRow[]): Promise<SubscriptionListing[]> {
  if (rows.length === 0) return [];
  const keys = rows.map((r) => `notify:${r.id}`);
  const messages = await db
    .selectFrom('outbox')
    .select(['key', 'status', 'created_at', 'sent_at', 'last_error', 'last_error_at', 'result'])
    .where('topic', '=', 'notification')
    .where('key', 'in', keys)
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('outbox')
        .select((e) => e.fn.max('id').as('id'))
        .where('key', 'in', keys)
        .groupBy('key'),
    )
    .execute();
  const byKey = new Map(messages.map((m) => [m.key, m]));
  return rows.map((r) => {
    const m = byKey.get(`notify:${r.id}`);
    const lastDelivery = m
      ? { status: m.status, at: m.sent_at ?? m.last_error_at ?? m.created_at, result: m.result, error: m.last_error }
      : null;
    return { ...r, lastDelivery };
  });
}

/** Subscriptions with the names of their repository and user. */
function subscriptionRows(db: Kysely<Database>) {
  return db
    .selectFrom('notification_subscriptions as s')
    .leftJoin('repos as r', 'r.id', 's.repo_id')
    .leftJoin('users as u', 'u.id', 's.user_id')
    .selectAll('s')
    .select(['r.name as repo_name', 'u.username as username']);
}

/** A repository's subscriptions (`repoId`), or a user's own (`userId`), oldest first. */
export async function listSubscriptions(db: Kysely<Database>, of: { repoId: number } | { userId: number }): Promise<SubscriptionListing[]> {
  let q = subscriptionRows(db);
  q = 'userId' in of ? q.where('s.user_id', '=', of.userId) : q.where('s.repo_id', '=', of.repoId).where('s.user_id', 'is', null);
  return withLastDelivery(db, await q.orderBy('s.id').execute());
}

export async function findSubscription(db: Kysely<Database>, id: number): Promise<SubscriptionRow | undefined> {
  return subscriptionRows(db).where('s.id', '=', id).executeTakeFirst();
}

/** Deletes a subscription; its messages still pending find it gone and are dropped. False when there was none. */
export async function deleteSubscription(db: Kysely<Database>, id: number): Promise<boolean> {
  const result = await db.deleteFrom('notification_subscriptions').where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** A subscription's signing secret, decrypted; null when it has none. */
export async function subscriptionSecret(keyring: Keyring, row: NotificationSubscription): Promise<string | null> {
  if (row.secret === null) return null;
  return keyring.open(row.secret, row.secret_key_id, NOTIFICATION_SECRET, row);
}
