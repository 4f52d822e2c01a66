// Local passwords: argon2id hashes in PHC strings (parameters and salt travel with each hash, so
// raising the cost later re-hashes passwords at their next login), and the password policy.
import { DomainError } from '../errors.js';
import type { Algorithm, Options } from '@node-rs/argon2';
import { lazyRequire } from '../lazy-require.js';

const argon2 = lazyRequire<typeof import('@node-rs/argon2')>('@node-rs/argon2');

// The const enum's value is written out: the package's runtime object does not carry its members.
const ARGON2ID: Algorithm = 2;

/**
 * 64 MiB and 3 passes: about 50 ms per hash on the reference machine (docs/benchmarks.md, auth),
 * above OWASP's argon2id floor (19 MiB, 2 passes) by a margin that keeps a login under a tenth
 * of a second while making each guess of an offline attacker cost as much.
 */
export const ARGON2_PARAMS: Readonly<Options> = Object.freeze({ algorithm: ARGON2ID, memoryCost: 64 * 1024, timeCost: 3, parallelism: 1 });

/** Longer inputs are refused before hashing: argon2 reads every byte, and a 16 MiB body is a cheap attack. */
export const MAX_PASSWORD_LENGTH = 256;

export class PasswordPolicyError extends DomainError {
  override name = 'PasswordPolicyError';
  constructor(message: string) {
    super('invalid', message);
  }
}

/**
 * NIST SP 800-63B: a minimum length and no composition rules; refuse what is trivially guessed
 * from the account itself.
 */
export function checkPasswordPolicy(password: string, opts: { username: string; minLength: number }): void {
  const length = [...password].length;
  if (length < opts.minLength) throw new PasswordPolicyError(`password: at least ${opts.minLength} characters (got ${length})`);
  if (length > MAX_PASSWORD_LENGTH) throw new PasswordPolicyError(`password: at most ${MAX_PASSWORD_LENGTH} characters`);
  if (password.toLowerCase().includes(opts.username.toLowerCase()))
    throw new PasswordPolicyError('password: must not contain the username');
  if (new Set(password).size < 4) throw new PasswordPolicyError('password: too few distinct characters');
}

export function hashPassword(password: string): Promise<string> {
  return argon2().hash(password, ARGON2_PARAMS);
}

let dummyHash: Promise<string> | null = null;

/**
 * Checks a password against a stored hash. Without a hash (no such user, no local password) the
 * same work is done against a dummy one, so the answer's timing does not tell which usernames exist.
 */
export async function verifyPassword(stored: string | null, password: string): Promise<boolean> {
  if (password.length > MAX_PASSWORD_LENGTH * 4) return false;
  if (stored === null) {
    dummyHash ??= argon2().hash('tandem-dummy-password', ARGON2_PARAMS);
    await argon2().verify(await dummyHash, password);
    return false;
  }
  try {
    return await argon2().verify(stored, password);
  } catch {
    return false;
  }
}

/** Whether a hash was made with weaker (or other) parameters than today's. */
export function needsRehash(stored: string): boolean {
  try {
    const p = argon2().parseOptions(stored);
    return (
      p.algorithm !== ARGON2ID ||
      p.memoryCost !== ARGON2_PARAMS.memoryCost ||
      p.timeCost !== ARGON2_PARAMS.timeCost ||
      p.parallelism !== ARGON2_PARAMS.parallelism
    );
  } catch {
    return true;
  }
}
