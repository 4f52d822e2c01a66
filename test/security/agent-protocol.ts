// Agents driven by hand over the agent protocol, for attack tests: register one, claim a job as it,
// send any agent request with its token.
import type { JobPayload } from '../../src/api/protocol.js';
import type { ApiResponse, TestTandem } from '../support/tandem.js';

export interface ProtocolAgent {
  id: number;
  name: string;
  token: string;
  /** A request with this agent's token. */
  call<T = unknown>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>>;
  /** Long-polls for a job (up to waitMs); null when none came. */
  claim(waitMs?: number): Promise<JobPayload | null>;
}

export async function registerAgent(tandem: TestTandem, name: string, tags: string[] = []): Promise<ProtocolAgent> {
  const res = await tandem.api<{ agentId: number; token: string }>('POST', '/api/v1/agents', { name, tags });
  if (res.status !== 201) throw new Error(`registering agent ${name}: ${res.status} ${res.text}`);
  const { agentId, token } = res.body;
  const call = <T>(method: string, path: string, body?: unknown) => tandem.api<T>(method, path, body, { authorization: `Bearer ${token}` });
  return {
    id: agentId,
    name,
    token,
    call,
    async claim(waitMs = 5000) {
      const got = await call<JobPayload>('POST', '/api/v1/agent/jobs/request', { waitMs });
      if (got.status === 204) return null;
      if (got.status !== 200) throw new Error(`agent ${name} job request: ${got.status} ${got.text}`);
      return got.body;
    },
  };
}
