// The admin API's shapes as these pages read them (they mirror the server's views, named beside each).

/** src/auth/tokens.ts TokenInfo. */
export interface TokenInfo {
  id: number;
  name: string;
  username: string;
  scopes: string[];
  expiresAt: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  expired: boolean;
}

/** POST /api/v1/tokens: the token itself, shown once. */
export interface CreatedToken {
  id: number;
  name: string;
  username: string;
  scopes: string[];
  expiresAt: string | null;
  token: string;
}

/** GET /api/v1/agents (src/server/routes/agents.ts). */
export interface AgentInfo {
  id: number;
  name: string;
  tags: string[];
  concurrency: number;
  version: string | null;
  online: boolean;
  runningJobs: number;
  lastSeenAt: string | null;
}

/** src/auth/audit.ts auditView. */
export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  actorKind: string;
  address: string | null;
  replica: string;
  action: string;
  method: string | null;
  route: string | null;
  params: Record<string, string> | null;
  status: number | null;
  details: Record<string, unknown> | null;
}

/** GET /api/v1/backups (src/server/routes/dr.ts). */
export interface BackupInfo {
  id: string;
  destination: string;
  status: string;
  startedAt: string;
  finishedAt: string | null;
  snapshotAt: string | null;
  bytes: number;
  bytesCopied: number;
  blobs: number;
  blobsCopied: number;
  madeBy: string;
  error: string | null;
}

/** GET /api/v1/dr/drills (src/server/routes/dr.ts). */
export interface DrillInfo {
  id: number;
  backupId: string | null;
  destination: string;
  ok: boolean;
  startedAt: string;
  finishedAt: string;
  rtoSeconds: number | null;
  rpoSeconds: number | null;
  error: string | null;
  steps: unknown[];
}
