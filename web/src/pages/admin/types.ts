// The admin API's shapes: the server's own, except the answer of POST /api/v1/tokens (built inline there).
import type { TokenInfo } from '../../types.js';

export type { AgentInfo, AuditEntry, BackupInfo, DrillInfo, TokenInfo } from '../../types.js';

/** POST /api/v1/tokens: the token itself, shown once. */
export type CreatedToken = Pick<TokenInfo, 'id' | 'name' | 'username' | 'scopes' | 'expiresAt'> & { token: string };
