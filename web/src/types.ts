// The API's shapes under the UI's names, from src/api (the contracts the server's presenters are
// typed by, free of server-only imports), so the UI cannot drift from what the server sends.
export type {
  AgentJson as AgentInfo,
  AuditEntryJson as AuditEntry,
  BackupJson as BackupInfo,
  DrillJson as DrillInfo,
  EnvironmentJson as Environment,
  JobJson as Job,
  JobDetailJson as JobDetail,
  MemberJson as Member,
  NotificationJson as Notification,
  PipelineJson as Pipeline,
  PipelineImagesJson,
  ProtectedBranchJson as ProtectedBranch,
  ReleaseJson as Release,
  RepoJson as Repo,
  ScheduleJson as Schedule,
  TokenJson as TokenInfo,
  UserJson as User,
  VariableJson as Variable,
} from '../../src/api/views.js';
import type { RepoJson, UserJson } from '../../src/api/views.js';
// One formatting rule for the CLI and the UI (views.ts imports nothing, so it bundles as is).
export { formatCoverage } from '../../src/api/views.js';
export type { CoberturaSummaryJson, CoverageTrendJson, JobCoverageJson, PipelineCoverageJson } from '../../src/api/coverage.js';

export interface Session {
  user: UserJson;
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
