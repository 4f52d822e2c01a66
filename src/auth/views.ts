// JSON shapes of the API's users, tokens, memberships, protected branches and audit entries: free
// of server-only imports, so the web UI types its pages with them too.
import type { AuditEntry, ProtectedBranch, Role, User } from '../store/schema.js';
import { readAuditDetails, readAuditParams } from './columns.js';
import type { Scope } from './permissions.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export interface MemberView {
  username: string;
  role: Role;
  source: 'manual' | 'groups';
  since: string;
}

export function protectedBranchView(p: ProtectedBranch) {
  return { id: p.id, pattern: p.pattern, allowedRole: p.allowed_role, createdAt: iso(p.created_at)! };
}

export function userView(u: User) {
  return {
    id: u.id,
    username: u.username,
    email: u.email,
    admin: u.admin === 1,
    hasPassword: u.password_hash !== null,
    createdAt: iso(u.created_at)!,
    lastLoginAt: iso(u.last_login_at),
  };
}

/** A personal token as listed: never the token itself, which is shown once when it is made. */
export interface TokenInfo {
  id: number;
  name: string;
  username: string;
  scopes: Scope[];
  expiresAt: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  expired: boolean;
}

export function auditView(e: AuditEntry) {
  return {
    id: e.id,
    at: iso(e.at)!,
    actor: e.actor,
    actorKind: e.actor_kind,
    address: e.address,
    replica: e.replica,
    action: e.action,
    method: e.method,
    route: e.route,
    params: readAuditParams(e),
    status: e.status,
    details: readAuditDetails(e),
  };
}
