// API and agent tokens: random, shown once, stored only as a hash. A fast hash is right here (unlike
// passwords): the tokens carry 256 bits of randomness, so there is nothing to brute-force.
import { createHash, randomBytes } from 'node:crypto';
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';

export function generateToken(prefix: 'tdm' | 'tda'): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * Creates the bootstrap admin token on first start and writes it to `<dataDir>/admin.token` (0600).
 * Returns the token only when it was created now, so the caller can print it exactly once.
 */
export async function ensureAdminToken(db: Kysely<Database>, dataDir: string, now: number): Promise<string | null> {
  const existing = await db.selectFrom('tokens').select('id').where('kind', '=', 'admin').executeTakeFirst();
  if (existing) return null;
  const token = generateToken('tdm');
  await db.insertInto('tokens').values({ name: 'bootstrap admin', kind: 'admin', token_hash: hashToken(token), created_at: now, last_used_at: null }).execute();
  await mkdir(dataDir, { recursive: true });
  await writeFile(join(dataDir, 'admin.token'), token + '\n', { mode: 0o600 });
  return token;
}
