// The API's shapes, from the server's own contracts (modules free of server-only imports), so the
// UI cannot drift from what the server sends.
export type {
  AgentJson as AgentInfo,
  BackupJson as BackupInfo,
  DrillJson as DrillInfo,
  EnvironmentJson as Environment,
  JobJson as Job,
  PipelineJson as Pipeline,
  ReleaseJson as Release,
  RepoJson as Repo,
  VariableJson as Variable,
} from '../../src/api/views.js';
export type { MemberView as Member, TokenInfo } from '../../src/auth/views.js';
import type { RepoJson } from '../../src/api/views.js';
import type { auditView, protectedBranchView, userView } from '../../src/auth/views.js';

export type User = ReturnType<typeof userView>;
export type ProtectedBranch = ReturnType<typeof protectedBranchView>;
export type AuditEntry = ReturnType<typeof auditView>;

export interface Session {
  user: User;
  via: 'session' | 'token';
  scopes: string[];
  tokenId: number | null;
  csrfToken: string | null;
}

export interface LoginProviders {
  local: true;
  oidc: boolean;
  ldap: boolean;
  saml: boolean;
}

/** GET /api/v1/repos/:name: the repository and what the caller may do there. */
export interface RepoWithAccess extends RepoJson {
  you: { role: string | null; permissions: string[] };
}
