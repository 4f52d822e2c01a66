// Bearer secrets: personal API tokens (tdm_), agent tokens (tda_), job tokens (tdj_) and session
// ids (tds_). All random, shown once, stored only as a hash. A fast hash is right here (unlike
// passwords): they carry 256 bits of randomness, so there is nothing to brute-force.
import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { TokenJson } from '../api/index.js';
import type { Database } from '../store/index.js';
import { readTokenScopes } from './columns.js';
import type { Scope } from './permissions.js';

export type TokenPrefix = 'tdm' | 'tda' | 'tdj' | 'tds';

export function generateToken(prefix: TokenPrefix): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function prefixOf(token: string): TokenPrefix | null {
  const m = /^(tdm|tda|tdj|tds)_[A-Za-z0-9_-]{43}$/.exec(token);
  return m ? (m[1] as TokenPrefix) : null;
}

export interface NewToken {
  id: number;
  /** The secret itself: returned once, never stored. */
  token: string;
}

export async function createPersonalToken(
  db: Kysely<Database>,
  input: { userId: number; name: string; scopes: readonly Scope[]; expiresAt: number | null; now: number },
): Promise<NewToken> {
  const token = generateToken('tdm');
  const row = await db
    .insertInto('tokens')
    .values({
      name: input.name,
      kind: 'personal',
      token_hash: hashToken(token),
      user_id: input.userId,
      scopes: JSON.stringify([...new Set(input.scopes)]),
      expires_at: input.expiresAt,
      created_at: input.now,
      last_used_at: null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { id: row.id, token };
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Tokens of one user (or of everyone), without their secrets, which are not stored anyway. */
export async function listTokens(db: Kysely<Database>, opts: { userId?: number; now: number }): Promise<TokenJson[]> {
  let q = db
    .selectFrom('tokens')
    .innerJoin('users', 'users.id', 'tokens.user_id')
    .select([
      'tokens.id',
      'tokens.name',
      'tokens.scopes',
      'tokens.expires_at',
      'tokens.created_at',
      'tokens.last_used_at',
      'users.username',
    ])
    .orderBy('tokens.id');
  if (opts.userId !== undefined) q = q.where('tokens.user_id', '=', opts.userId);
  return (await q.execute()).map((t) => ({
    id: t.id,
    name: t.name,
    username: t.username,
    scopes: readTokenScopes(t),
    expiresAt: iso(t.expires_at),
    createdAt: iso(t.created_at)!,
    lastUsedAt: iso(t.last_used_at),
    expired: t.expires_at !== null && t.expires_at <= opts.now,
  }));
}

/**
 * Revokes a personal token: the owner's own, or anyone's for an admin (`asAdmin`). Another user's
 * token is as absent as a missing one to everyone else. Returns what was revoked, or undefined.
 */
export async function revokePersonalToken(
  db: Kysely<Database>,
  input: { tokenId: number; userId: number; asAdmin: boolean },
): Promise<{ id: number; name: string } | undefined> {
  if (!Number.isSafeInteger(input.tokenId)) return undefined;
  const token = await db.selectFrom('tokens').select(['id', 'name', 'user_id']).where('id', '=', input.tokenId).executeTakeFirst();
  if (!token || (token.user_id !== input.userId && !input.asAdmin)) return undefined;
  await db.deleteFrom('tokens').where('id', '=', token.id).execute();
  return { id: token.id, name: token.name };
}
