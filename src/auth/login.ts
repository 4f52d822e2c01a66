// Signing in with a username and password (a local one, or one an LDAP directory checks), with
// failed attempts counted in the database per account and per client address (so the limit holds
// across replicas): past the limit within the window, the account or address is locked out for a
// while, and its attempts are refused before any password is checked.
import { sql, type Kysely } from 'kysely';
import type { Store } from '../store/index.js';
import type { Database, User } from '../store/schema.js';
import { hashPassword, needsRehash, verifyPassword } from './passwords.js';

export interface LoginPolicy {
  maxFailuresPerUser: number;
  maxFailuresPerAddress: number;
  windowMs: number;
  lockoutMs: number;
}

export class LoginError extends Error {
  constructor(
    readonly statusCode: 401 | 429,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

const userKey = (username: string) => `user:${username.toLowerCase()}`;
const addressKey = (address: string) => `address:${address}`;

async function recordFailure(db: Kysely<Database>, key: string, max: number, policy: LoginPolicy, now: number): Promise<void> {
  const windowStart = now - policy.windowMs;
  const lockedUntil = now + policy.lockoutMs;
  const stale = sql<boolean>`login_failures.window_started_at <= ${windowStart}`;
  const failures = sql<number>`case when ${stale} then 1 else login_failures.failures + 1 end`;
  await db
    .insertInto('login_failures')
    .values({ key, failures: 1, window_started_at: now, locked_until: max <= 1 ? lockedUntil : null })
    .onConflict((oc) =>
      oc.column('key').doUpdateSet({
        failures,
        window_started_at: sql<number>`case when ${stale} then ${now} else login_failures.window_started_at end`,
        locked_until: sql<number | null>`case when ${failures} >= ${max} then ${lockedUntil} else login_failures.locked_until end`,
      }),
    )
    .execute();
}

export interface SignInAttempt {
  /** As typed: the account's failures are counted under it, whichever way of signing in checks it. */
  username: string;
  address: string;
  now: number;
  policy: LoginPolicy;
}

/**
 * Runs one sign-in under the lockout rules, for every way of checking a password (local, LDAP).
 * Refuses (429, with the seconds to wait) while the account or the address is locked out, before
 * `check` runs; `check` returns null for wrong credentials, which are counted and refused (401, one
 * message for every cause, so it tells nothing about which usernames exist). Errors `check` throws
 * (a directory that cannot be reached) are not the caller's fault and count for nothing.
 */
export async function limitedSignIn<T>(store: Store, input: SignInAttempt, check: () => Promise<T | null>): Promise<T> {
  const { db } = store;
  const keys = [userKey(input.username), addressKey(input.address)];
  const locks = await db.selectFrom('login_failures').select(['key', 'locked_until']).where('key', 'in', keys).where('locked_until', '>', input.now).execute();
  if (locks.length > 0) {
    const until = Math.max(...locks.map((l) => l.locked_until ?? 0));
    const what = locks.some((l) => l.key === keys[0]) ? `account ${input.username}` : `address ${input.address}`;
    const wait = Math.ceil((until - input.now) / 1000);
    throw new LoginError(429, `too many failed sign-ins for ${what}: try again in ${wait} s`, wait);
  }
  const result = await check();
  if (result === null) {
    await recordFailure(db, keys[0], input.policy.maxFailuresPerUser, input.policy, input.now);
    await recordFailure(db, keys[1], input.policy.maxFailuresPerAddress, input.policy, input.now);
    throw new LoginError(401, 'wrong username or password');
  }
  // The address keeps its count: one good account must not reset an address that guesses at others.
  await db.deleteFrom('login_failures').where('key', '=', keys[0]).execute();
  return result;
}

/** The user whose local password this is, under the lockout rules of limitedSignIn. */
export async function passwordLogin(store: Store, input: SignInAttempt & { password: string }): Promise<User> {
  const { db } = store;
  return limitedSignIn(store, input, async () => {
    const user = await db.selectFrom('users').selectAll().where('username', '=', input.username.toLowerCase()).executeTakeFirst();
    const ok = await verifyPassword(user?.password_hash ?? null, input.password);
    if (!ok || !user) return null;
    const changes: Partial<User> = { last_login_at: input.now };
    if (needsRehash(user.password_hash!)) changes.password_hash = await hashPassword(input.password);
    await db.updateTable('users').set(changes).where('id', '=', user.id).execute();
    return { ...user, ...changes };
  });
}

/** Counters whose window passed and whose lockout ended: removed by the leader now and then. */
export async function pruneLoginFailures(db: Kysely<Database>, now: number, policy: LoginPolicy): Promise<void> {
  await db
    .deleteFrom('login_failures')
    .where('window_started_at', '<=', now - policy.windowMs)
    .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', now)]))
    .execute();
}
