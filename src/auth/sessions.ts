// Browser sessions: a random id in an HttpOnly cookie, its hash in the database (so any replica
// accepts it and a sign-out on one is seen by all at the next request), an absolute and an idle
// lifetime, and a CSRF token derived from the id for changes made with the cookie.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../store/index.js';
import { generateToken, hashToken } from './tokens.js';

export const SESSION_COOKIE = 'tandem_session';
export const CSRF_HEADER = 'x-csrf-token';

/** last_seen_at is written at most this often: a write per request would cost more than the idle timeout needs. */
const TOUCH_EVERY_MS = 60_000;

export interface SessionLimits {
  maxAgeMs: number;
  idleMs: number;
}

/**
 * The CSRF token of a session: a hash of its secret id, so nothing more is stored and a page can
 * ask for it again (GET /api/v1/session). A cross-site page can neither read it nor set the header.
 */
export function csrfTokenFor(sessionToken: string): string {
  return createHash('sha256').update('tandem-csrf\0').update(sessionToken).digest('base64url');
}

export function csrfMatches(sessionToken: string, header: string | undefined): boolean {
  if (!header) return false;
  const expected = Buffer.from(csrfTokenFor(sessionToken));
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export async function createSession(
  db: Kysely<Database>,
  input: { userId: number; address: string | null; userAgent: string | null; now: number; limits: SessionLimits },
): Promise<{ id: number; token: string; expiresAt: number }> {
  const token = generateToken('tds');
  const expiresAt = input.now + input.limits.maxAgeMs;
  const row = await db
    .insertInto('sessions')
    .values({
      token_hash: hashToken(token),
      user_id: input.userId,
      created_at: input.now,
      expires_at: expiresAt,
      last_seen_at: input.now,
      address: input.address,
      user_agent: input.userAgent?.slice(0, 300) ?? null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { id: row.id, token, expiresAt };
}

export interface SessionUser {
  sessionId: number;
  userId: number;
  username: string;
  admin: boolean;
  expiresAt: number;
}

/** The live session of this cookie value, or null (unknown, revoked, expired or idle too long). */
export async function findSession(db: Kysely<Database>, token: string, now: number, limits: SessionLimits): Promise<SessionUser | null> {
  const row = await db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .select(['sessions.id', 'sessions.expires_at', 'sessions.last_seen_at', 'users.id as user_id', 'users.username', 'users.admin'])
    .where('sessions.token_hash', '=', hashToken(token))
    .executeTakeFirst();
  if (!row || row.expires_at <= now || row.last_seen_at + limits.idleMs <= now) return null;
  if (now - row.last_seen_at >= TOUCH_EVERY_MS)
    await db.updateTable('sessions').set({ last_seen_at: now }).where('id', '=', row.id).execute();
  return { sessionId: row.id, userId: row.user_id, username: row.username, admin: row.admin === 1, expiresAt: row.expires_at };
}

export async function deleteSession(db: Kysely<Database>, sessionId: number): Promise<void> {
  await db.deleteFrom('sessions').where('id', '=', sessionId).execute();
}

/** Signs a user out everywhere (a password change, an admin's decision). */
export async function deleteSessionsOf(db: Kysely<Database>, userId: number, except?: number): Promise<void> {
  let q = db.deleteFrom('sessions').where('user_id', '=', userId);
  if (except !== undefined) q = q.where('id', '!=', except);
  await q.execute();
}

/** Sessions past their absolute lifetime or idle limit: removed by the leader now and then. */
export async function deleteExpiredSessions(db: Kysely<Database>, now: number, limits: SessionLimits): Promise<number> {
  const res = await db
    .deleteFrom('sessions')
    .where((eb) => eb.or([eb('expires_at', '<=', now), eb('last_seen_at', '<=', now - limits.idleMs)]))
    .executeTakeFirst();
  return Number(res.numDeletedRows);
}
