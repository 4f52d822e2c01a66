import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { hashToken } from '../auth/tokens.js';
import type { Database } from '../store/schema.js';
import { ApiError, type Access, type Authenticator, type Principal } from './http.js';

function bearerOf(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (!header) return null;
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  return match ? match[1] : null;
}

export function tokenAuthenticator(db: Kysely<Database>): Authenticator {
  return async (request, access: Access): Promise<Principal> => {
    if (access === 'public') return { kind: 'anonymous' };
    const token = bearerOf(request);
    if (!token) throw new ApiError(401, 'missing bearer token: send "Authorization: Bearer <token>"');
    const hash = hashToken(token);
    if (access === 'agent') {
      const agent = await db.selectFrom('agents').select('id').where('token_hash', '=', hash).executeTakeFirst();
      if (!agent) throw new ApiError(401, 'unknown or revoked agent token');
      return { kind: 'agent', agentId: agent.id };
    }
    const row = await db.selectFrom('tokens').select(['id', 'kind']).where('token_hash', '=', hash).executeTakeFirst();
    if (!row || row.kind !== 'admin') throw new ApiError(401, 'unknown or revoked API token');
    return { kind: 'admin', tokenId: row.id };
  };
}
