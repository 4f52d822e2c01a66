// Signing in with a username and password (a local one, or one an LDAP directory checks), with
// failed attempts counted in the database per secret and per client address (so the limit holds
// across replicas): past the limit within the window, the account or address is locked out for a
// while, and its attempts are refused before any password is checked.
//
// Each secret has its own counter, under the typed name normalised as a directory compares names
// (normalizeUsername): `local:NAME` for a local password, `ldap:NAME` and `ldap-entry:ENTRY` (the
// directory entry the name resolved to, so every spelling the directory accepts shares one counter)
// for a directory password. A directory user's mistakes on the local form do not lock them out of
// the directory, whose password is another secret. docs/operations.md, "Sign-in lockout".
import { DomainError } from '../errors.js';
import { sql, type Kysely } from 'kysely';
import type { Store } from '../store/index.js';
import type { Database, User } from '../store/index.js';
import { hashPassword, needsRehash, verifyPassword } from './passwords.js';
import { disabledAtProvider, dropGroupGrants } from './users.js';

export interface LoginPolicy {
  maxFailuresPerUser: number;
  maxFailuresPerAddress: number;
  windowMs: number;
  lockoutMs: number;
}

export class LoginError extends DomainError {
  override name = 'LoginError';
  constructor(kind: 'unauthenticated' | 'rate_limited', message: string, retryAfterSeconds?: number) {
    super(kind, message, retryAfterSeconds);
  }
}

/** Which secret a sign-in checks: each has its own failure counter. */
export type SecretKind = 'local' | 'ldap';

const addressKey = (address: string) => `address:${address}`;

/**
 * A typed username as directories compare them (RFC 4518's caseIgnoreMatch): compatibility forms
 * folded (NFKC: fullwidth `ｂｏｂ` is `bob`), case folded, outer spaces dropped and inner runs of
 * spaces made one. Upper-casing before lower-casing folds `ß` to `ss` as case folding does.
 */
export function normalizeUsername(typed: string): string {
  return typed.normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC').trim().replace(/\s+/g, ' ');
}

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
  /** As typed: its failures are counted under normalizeUsername of it. */
  username: string;
  address: string;
  now: number;
  policy: LoginPolicy;
}

/**
 * Names the account a typed name resolved to (a directory entry): its own counter joins the
 * attempt's, and a lockout of it refuses the attempt (429) before the password is checked.
 */
export type ResolvedAccount = (identity: string) => Promise<void>;

async function refuseIfLocked(db: Kysely<Database>, keys: readonly string[], input: SignInAttempt, account: string): Promise<void> {
  const locks = await db
    .selectFrom('login_failures')
    .select(['key', 'locked_until'])
    .where('key', 'in', keys)
    .where('locked_until', '>', input.now)
    .execute();
  if (locks.length === 0) return;
  const until = Math.max(...locks.map((l) => l.locked_until ?? 0));
  const what = locks.some((l) => l.key !== addressKey(input.address)) ? `account ${account}` : `address ${input.address}`;
  const wait = Math.ceil((until - input.now) / 1000);
  throw new LoginError('rate_limited', `too many failed sign-ins for ${what}: try again in ${wait} s`, wait);
}

/**
 * Runs one sign-in under the lockout rules, for every way of checking a password (local, LDAP).
 * Refuses (429, with the seconds to wait) while the account or the address is locked out, before
 * `check` runs; `check` gets the normalised name and returns null for wrong credentials, which are
 * counted and refused (401, one message for every cause, so it tells nothing about which usernames
 * exist). Errors `check` throws (a directory that cannot be reached) are not the caller's fault and
 * count for nothing.
 */
export async function limitedSignIn<T>(
  store: Store,
  input: SignInAttempt & { secret: SecretKind },
  check: (username: string, resolved: ResolvedAccount) => Promise<T | null>,
): Promise<T> {
  const { db } = store;
  const username = normalizeUsername(input.username);
  const accountKeys = [`${input.secret}:${username}`];
  await refuseIfLocked(db, [...accountKeys, addressKey(input.address)], input, username);
  const resolved: ResolvedAccount = async (identity) => {
    const key = `${input.secret}-entry:${identity}`;
    await refuseIfLocked(db, [key], input, username);
    accountKeys.push(key);
  };
  const result = await check(username, resolved);
  if (result === null) {
    for (const key of accountKeys) await recordFailure(db, key, input.policy.maxFailuresPerUser, input.policy, input.now);
    await recordFailure(db, addressKey(input.address), input.policy.maxFailuresPerAddress, input.policy, input.now);
    throw new LoginError('unauthenticated', 'wrong username or password');
  }
  // The address keeps its count: one good account must not reset an address that guesses at others.
  await db.deleteFrom('login_failures').where('key', 'in', accountKeys).execute();
  return result;
}

/**
 * The user whose local password this is, under the lockout rules of limitedSignIn. An account whose
 * directory entry was found disabled (src/auth/sso/recheck.ts) is refused like a wrong password.
 */
export async function passwordLogin(store: Store, input: SignInAttempt & { password: string }): Promise<User> {
  const { db } = store;
  return limitedSignIn(store, { ...input, secret: 'local' }, async (username) => {
    const user = await db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
    const ok = await verifyPassword(user?.password_hash ?? null, input.password);
    if (!ok || !user) return null;
    if (await disabledAtProvider(db, user.id)) return null;
    const changes: Partial<User> = { last_login_at: input.now };
    if (needsRehash(user.password_hash!)) changes.password_hash = await hashPassword(input.password);
    await db.updateTable('users').set(changes).where('id', '=', user.id).execute();
    return { ...user, ...changes };
  });
}

/**
 * A sign-in with a local password: passwordLogin, after which the roles an identity provider's
 * groups gave the account are dropped (a local password proves nothing about the groups); the next
 * sign-in through the provider grants them again if the groups still say so.
 */
export async function localPasswordSignIn(store: Store, input: SignInAttempt & { password: string }): Promise<User> {
  const user = await passwordLogin(store, input);
  await dropGroupGrants(store.db, user, input.now);
  return user.admin_from_groups === 1 ? { ...user, admin: 0, admin_from_groups: 0 } : user;
}

/** Counters whose window passed and whose lockout ended: removed by the leader now and then. */
export async function pruneLoginFailures(db: Kysely<Database>, now: number, policy: LoginPolicy): Promise<void> {
  await db
    .deleteFrom('login_failures')
    .where('window_started_at', '<=', now - policy.windowMs)
    .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', now)]))
    .execute();
}
