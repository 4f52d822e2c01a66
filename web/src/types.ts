// The API's shapes. Pipelines, jobs, environments and releases come from the server's own view
// functions, so the UI cannot drift from what the server sends.
export type { JobJson as Job, PipelineJson as Pipeline } from '../../src/server/routes/views.js';
import type { releaseView, environmentView } from '../../src/server/routes/views.js';

export type Release = ReturnType<typeof releaseView>;
export type Environment = ReturnType<typeof environmentView>;

export interface User {
  id: number;
  username: string;
  email: string | null;
  admin: boolean;
  hasPassword: boolean;
  createdAt: string;
  lastLoginAt: string | null;
}

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

export interface Repo {
  id: number;
  name: string;
  url: string;
  defaultBranch: string;
  pollInterval: number | null;
  hasWebhookSecret: boolean;
  branches: string[] | null;
  tags: string[] | null;
  webhookUrls: Record<string, string>;
  lastPolledAt: string | null;
  createdAt: string;
}

/** GET /api/v1/repos/:name: the repository and what the caller may do there. */
export interface RepoWithAccess extends Repo {
  you: { role: string | null; permissions: string[] };
}
