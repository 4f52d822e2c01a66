// Device sign-in (RFC 8628 style, as `gh auth login` does): a device without a browser (the CLI)
// asks for a code, the person approves or denies it on the server's page in a browser where they
// are signed in, and the device polls until it gets a personal token (scope api) of that person.
// Every step is a row of device_logins (migration 012), so each may reach another replica.
import { DomainError } from '../errors.js';
import { randomBytes, randomInt } from 'node:crypto';
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Store } from '../store/index.js';
import type { Database, DeviceLoginTable, User } from '../store/index.js';
import { MAX_PENDING_PER_ADDRESS, refuseOverPendingLimit } from './pending-limit.js';
import { createPersonalToken, hashToken, type NewToken } from './tokens.js';

export type DeviceLogin = Selectable<DeviceLoginTable>;

/** How long a code waits for its approval (RFC 8628's expires_in). */
export const DEVICE_LOGIN_TTL_MS = 10 * 60_000;
/** How often the device may poll; a poll sooner is answered slow_down and the interval grows by this. */
export const DEVICE_POLL_INTERVAL_MS = 5_000;
/** A poll this much early still counts as on time: the device's timer and the network are not exact. */
const POLL_SLACK_MS = 500;
/** The lifetime of the device's token when it asks for none. */
export const DEFAULT_DEVICE_TOKEN_LIFETIME_MS = 90 * 86_400_000;

/**
 * Consonants without the look-alikes of digits or each other (no vowels, so no words; RFC 8628
 * §6.1's alphabet): 20^8 codes, typed case-insensitively, with or without the dash.
 */
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
const USER_CODE_LENGTH = 8;

/** A code that cannot be decided: unknown, expired or decided already. */
export class DeviceLoginError extends DomainError {
  override name = 'DeviceLoginError';
}

/** WDJBMJHT as people read it: WDJB-MJHT. */
export function formatUserCode(code: string): string {
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

/** A typed code as stored (upper case, no dash or spaces), or null when it cannot be one. */
export function normalizeUserCode(typed: string): string | null {
  const code = typed.toUpperCase().replace(/[\s-]/g, '');
  return code.length === USER_CODE_LENGTH && [...code].every((c) => USER_CODE_ALPHABET.includes(c)) ? code : null;
}

function newUserCode(): string {
  return Array.from({ length: USER_CODE_LENGTH }, () => USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)]).join('');
}

export interface StartedDeviceLogin {
  id: number;
  /** The device's secret for polling: returned once, stored only as a hash. */
  deviceCode: string;
  userCode: string;
  expiresAt: number;
  intervalMs: number;
}

export async function startDeviceLogin(
  db: Kysely<Database>,
  input: { name: string; address: string; tokenLifetimeMs: number | null; now: number },
): Promise<StartedDeviceLogin> {
  await refuseOverPendingLimit(db, 'device_logins', {
    address: input.address,
    now: input.now,
    max: MAX_PENDING_PER_ADDRESS,
    what: 'sign-in codes waiting for approval',
  });
  const deviceCode = randomBytes(32).toString('base64url');
  const expiresAt = input.now + DEVICE_LOGIN_TTL_MS;
  // A user code taken by another request (one chance in millions) is simply drawn again.
  for (let attempt = 0; attempt < 5; attempt++) {
    const userCode = newUserCode();
    const row = await db
      .insertInto('device_logins')
      .values({
        device_code_hash: hashToken(deviceCode),
        user_code: userCode,
        name: input.name,
        address: input.address,
        token_lifetime_ms: input.tokenLifetimeMs,
        status: 'pending',
        user_id: null,
        decided_at: null,
        interval_ms: DEVICE_POLL_INTERVAL_MS,
        last_polled_at: null,
        created_at: input.now,
        expires_at: expiresAt,
      })
      .onConflict((oc) => oc.column('user_code').doNothing())
      .returning('id')
      .executeTakeFirst();
    if (row) return { id: row.id, deviceCode, userCode, expiresAt, intervalMs: DEVICE_POLL_INTERVAL_MS };
  }
  throw new Error('no free user code after 5 draws');
}

/** The request of a typed code, whatever its state (the page explains an expired or decided one). */
export async function findDeviceLogin(db: Kysely<Database>, userCode: string): Promise<DeviceLogin | null> {
  return (await db.selectFrom('device_logins').selectAll().where('user_code', '=', userCode).executeTakeFirst()) ?? null;
}

/**
 * A signed-in user's decision on a waiting code. The update's conditions decide: a code decided
 * already (on another replica, in another tab) or expired is not changed, and its reason is thrown.
 */
export async function decideDeviceLogin(
  db: Kysely<Database>,
  input: { userCode: string; userId: number; approve: boolean; now: number },
): Promise<DeviceLogin> {
  const decided = await db
    .updateTable('device_logins')
    .set({ status: input.approve ? 'approved' : 'denied', user_id: input.userId, decided_at: input.now })
    .where('user_code', '=', input.userCode)
    .where('status', '=', 'pending')
    .where('expires_at', '>', input.now)
    .returningAll()
    .executeTakeFirst();
  if (decided) return decided;
  throw (
    whyUndecidable(await findDeviceLogin(db, input.userCode), input.userCode, input.now) ??
    new DeviceLoginError('conflict', 'decided at the same moment elsewhere')
  );
}

/** Why a code cannot be decided (unknown, expired, decided already), or null when it waits for a decision. */
export function whyUndecidable(row: DeviceLogin | null, userCode: string, now: number): DeviceLoginError | null {
  const code = formatUserCode(userCode);
  if (!row)
    return new DeviceLoginError('not_found', `no sign-in waits for code ${code}: check the code, or start the sign-in on the device again`);
  if (row.expires_at <= now) return new DeviceLoginError('gone', `code ${code} expired: start the sign-in on the device again`);
  if (row.status !== 'pending') return new DeviceLoginError('conflict', `code ${code} was ${row.status} already`);
  return null;
}

/** RFC 8628 §3.5's answers to a poll that gets no token (invalid_grant: an unknown or used device code). */
export type PollRefusal = 'authorization_pending' | 'slow_down' | 'access_denied' | 'expired_token' | 'invalid_grant';

export type PollResult =
  | { kind: 'token'; token: NewToken; user: User; name: string; expiresAt: number | null }
  | { kind: 'refused'; error: PollRefusal; intervalMs?: number };

/**
 * One poll of the device. Too soon after the last one: slow_down (and the interval grows, as RFC
 * 8628 says). An approved request is taken by one DELETE whose conditions decide, in the
 * transaction that makes the token: of two polls at once (two replicas) exactly one gets it.
 */
export async function pollDeviceLogin(store: Store, deviceCode: string, now: number): Promise<PollResult> {
  const { db } = store;
  const hash = hashToken(deviceCode);
  const row = await db
    .updateTable('device_logins')
    .set({ last_polled_at: now })
    .where('device_code_hash', '=', hash)
    .where((eb) => eb.or([eb('last_polled_at', 'is', null), sql<boolean>`last_polled_at + interval_ms <= ${now + POLL_SLACK_MS}`]))
    .returningAll()
    .executeTakeFirst();
  if (!row) {
    const slowed = await db
      .updateTable('device_logins')
      .set({ last_polled_at: now, interval_ms: sql<number>`interval_ms + ${DEVICE_POLL_INTERVAL_MS}` })
      .where('device_code_hash', '=', hash)
      .returning('interval_ms')
      .executeTakeFirst();
    return slowed
      ? { kind: 'refused', error: 'slow_down', intervalMs: Number(slowed.interval_ms) }
      : { kind: 'refused', error: 'invalid_grant' };
  }
  if (row.expires_at <= now) return { kind: 'refused', error: 'expired_token' };
  if (row.status === 'denied') return { kind: 'refused', error: 'access_denied' };
  if (row.status === 'pending') return { kind: 'refused', error: 'authorization_pending' };
  const issued = await store.transaction(async (trx) => {
    const taken = await trx
      .deleteFrom('device_logins')
      .where('id', '=', row.id)
      .where('status', '=', 'approved')
      .where('expires_at', '>', now)
      .returningAll()
      .executeTakeFirst();
    if (!taken || taken.user_id === null) return null;
    const user = await trx.selectFrom('users').selectAll().where('id', '=', taken.user_id).executeTakeFirstOrThrow();
    const expiresAt = taken.token_lifetime_ms === null ? null : now + Number(taken.token_lifetime_ms);
    const token = await createPersonalToken(trx, { userId: user.id, name: taken.name, scopes: ['api'], expiresAt, now });
    return { kind: 'token' as const, token, user, name: taken.name, expiresAt };
  });
  // Taken by a poll that came at the same moment, through another replica.
  return issued ?? { kind: 'refused', error: 'invalid_grant' };
}

/** Requests expired for a whole lifetime: by then their device has stopped polling. Removed by the leader. */
export async function deleteExpiredDeviceLogins(db: Kysely<Database>, now: number): Promise<void> {
  await db
    .deleteFrom('device_logins')
    .where('expires_at', '<=', now - DEVICE_LOGIN_TTL_MS)
    .execute();
}
