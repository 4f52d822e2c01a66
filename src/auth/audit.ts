// The audit log: who changed what, when, from which address, on which replica. Rows are only ever
// inserted (the database refuses updates and deletes, migration 005). Nothing secret goes in: the
// route layer records path parameters, never bodies, and handlers add only named, harmless details.
import type { Kysely } from 'kysely';
import type { AuditEntry, Database } from '../store/index.js';
import type { Principal } from './principal.js';

export interface AuditRecord {
  at: number;
  replica: string;
  actor: Principal;
  address: string | null;
  action: string;
  method?: string;
  route?: string;
  params?: Record<string, string>;
  status?: number;
  details?: Record<string, unknown>;
}

export function actorOf(principal: Principal): { kind: string; id: number | null; name: string } {
  switch (principal.kind) {
    case 'user':
      return { kind: 'user', id: principal.userId, name: principal.username };
    case 'agent':
      return { kind: 'agent', id: principal.agentId, name: `agent:${principal.agentId}` };
    case 'job':
      return { kind: 'job', id: principal.jobId, name: `job:${principal.jobId}` };
    case 'anonymous':
      return { kind: 'anonymous', id: null, name: 'anonymous' };
  }
}

export async function recordAudit(db: Kysely<Database>, r: AuditRecord): Promise<void> {
  const actor = actorOf(r.actor);
  await db
    .insertInto('audit_log')
    .values({
      at: r.at,
      replica: r.replica,
      actor_kind: actor.kind,
      actor_id: actor.id,
      actor: actor.name,
      address: r.address,
      action: r.action,
      method: r.method ?? null,
      route: r.route ?? null,
      params: r.params && Object.keys(r.params).length > 0 ? JSON.stringify(r.params) : null,
      status: r.status ?? null,
      details: r.details && Object.keys(r.details).length > 0 ? JSON.stringify(r.details) : null,
    })
    .execute();
}

export interface AuditQuery {
  actor?: string;
  action?: string;
  since?: number;
  until?: number;
  /** Entries older than this id (the next page). */
  before?: number;
  limit: number;
}

/** Newest first. */
export async function queryAudit(db: Kysely<Database>, q: AuditQuery): Promise<AuditEntry[]> {
  let query = db.selectFrom('audit_log').selectAll().orderBy('id', 'desc').limit(q.limit);
  if (q.actor !== undefined) query = query.where('actor', '=', q.actor);
  if (q.action !== undefined) query = query.where('action', '=', q.action);
  if (q.since !== undefined) query = query.where('at', '>=', q.since);
  if (q.until !== undefined) query = query.where('at', '<', q.until);
  if (q.before !== undefined) query = query.where('id', '<', q.before);
  return query.execute();
}
