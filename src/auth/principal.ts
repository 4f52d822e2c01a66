// Who is calling: a user (by session cookie or personal token), an agent, a running job (its
// CI_JOB_TOKEN), or nobody. Every lookup here reads the database, so a revocation on any replica is
// seen by every replica at the next request. A server reads agent tokens through its copy of the
// agents instead (src/server/agent-directory.ts), told of removals at once through the hub.
import { DomainError } from '../errors.js';
import type { Kysely } from 'kysely';
import type { Database } from '../store/index.js';
import type { Caller, Scope } from './permissions.js';
import { findSession, type SessionLimits } from './sessions.js';
import { readTokenScopes } from './columns.js';
import { hashToken, prefixOf } from './tokens.js';

export type Principal =
  | { kind: 'anonymous' }
  | {
      kind: 'user';
      userId: number;
      username: string;
      admin: boolean;
      scopes: readonly Scope[];
      /** Signed in by cookie: changes need the session's CSRF token. */
      sessionId: number | null;
      tokenId: number | null;
    }
  | { kind: 'agent'; agentId: number }
  | { kind: 'job'; jobId: number; repoId: number; pipelineId: number };

export type UserPrincipal = Extract<Principal, { kind: 'user' }>;

export const ANONYMOUS: Principal = { kind: 'anonymous' };

/** A token's last use is written at most this often: a write per request would cost more than it tells. */
const TOUCH_EVERY_MS = 60_000;

export class CredentialError extends DomainError {
  override name = 'CredentialError';
  constructor(message: string) {
    super('unauthenticated', message);
  }
}

/** The principal of a bearer token; throws CredentialError for one that is unknown, revoked or expired. */
export async function principalOfToken(db: Kysely<Database>, token: string, now: number): Promise<Principal> {
  const prefix = prefixOf(token);
  const hash = hashToken(token);
  if (prefix === 'tdm') {
    const row = await db
      .selectFrom('tokens')
      .innerJoin('users', 'users.id', 'tokens.user_id')
      .select([
        'tokens.id',
        'tokens.scopes',
        'tokens.expires_at',
        'tokens.last_used_at',
        'users.id as user_id',
        'users.username',
        'users.admin',
      ])
      .where('tokens.token_hash', '=', hash)
      .executeTakeFirst();
    if (!row) throw new CredentialError('unknown or revoked API token');
    if (row.expires_at !== null && row.expires_at <= now)
      throw new CredentialError(`API token expired at ${new Date(row.expires_at).toISOString()}`);
    if (row.last_used_at === null || now - row.last_used_at >= TOUCH_EVERY_MS)
      await db.updateTable('tokens').set({ last_used_at: now }).where('id', '=', row.id).execute();
    return {
      kind: 'user',
      userId: row.user_id,
      username: row.username,
      admin: row.admin === 1,
      scopes: readTokenScopes(row),
      sessionId: null,
      tokenId: row.id,
    };
  }
  if (prefix === 'tda') {
    const agent = await db.selectFrom('agents').select('id').where('token_hash', '=', hash).executeTakeFirst();
    if (!agent) throw new CredentialError('unknown or revoked agent token');
    return { kind: 'agent', agentId: agent.id };
  }
  if (prefix === 'tdj') {
    const job = await db
      .selectFrom('jobs')
      .select(['id', 'repo_id', 'pipeline_id'])
      .where('job_token_hash', '=', hash)
      .where('status', '=', 'running')
      .executeTakeFirst();
    if (!job) throw new CredentialError('job token invalid: unknown, or its job is no longer running');
    return { kind: 'job', jobId: job.id, repoId: job.repo_id, pipelineId: job.pipeline_id };
  }
  throw new CredentialError('unknown or malformed token');
}

/** The principal of a session cookie; throws CredentialError when the session is gone or expired. */
export async function principalOfSession(db: Kysely<Database>, cookie: string, now: number, limits: SessionLimits): Promise<Principal> {
  const session = prefixOf(cookie) === 'tds' ? await findSession(db, cookie, now, limits) : null;
  if (!session) throw new CredentialError('session expired or signed out: sign in again');
  return {
    kind: 'user',
    userId: session.userId,
    username: session.username,
    admin: session.admin,
    scopes: ['api'],
    sessionId: session.sessionId,
    tokenId: null,
  };
}

/** What a permission decision needs to know about the principal. */
export function callerOf(principal: Principal): Caller {
  switch (principal.kind) {
    case 'user':
      return { kind: 'user', admin: principal.admin, scopes: principal.scopes };
    case 'job':
      return { kind: 'job', repoId: principal.repoId };
    case 'agent':
    case 'anonymous':
      return { kind: principal.kind };
  }
}
