// The API's shapes, from the server's own view functions (modules free of server-only imports), so
// the UI cannot drift from what the server sends.
export type { JobJson as Job, PipelineJson as Pipeline } from '../../src/server/routes/views.js';
export type { MemberView as Member, TokenInfo } from '../../src/auth/views.js';
import type { auditView, protectedBranchView, userView } from '../../src/auth/views.js';
import type {
  agentView,
  backupView,
  drillView,
  environmentView,
  releaseView,
  repoView,
  variableView,
} from '../../src/server/routes/views.js';

export type Release = ReturnType<typeof releaseView>;
export type Environment = ReturnType<typeof environmentView>;
export type Repo = ReturnType<typeof repoView>;
export type Variable = ReturnType<typeof variableView>;
export type User = ReturnType<typeof userView>;
export type ProtectedBranch = ReturnType<typeof protectedBranchView>;
export type AuditEntry = ReturnType<typeof auditView>;
export type AgentInfo = ReturnType<typeof agentView>;
export type BackupInfo = ReturnType<typeof backupView>;
export type DrillInfo = ReturnType<typeof drillView>;

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
export interface RepoWithAccess extends Repo {
  you: { role: string | null; permissions: string[] };
}
