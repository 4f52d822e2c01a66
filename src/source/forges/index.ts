// The forge clients behind one interface: the outbox's handler asks for a repository's client here.
import { GitHubStatusClient } from './github.js';
import type { ForgeClientOptions, ForgeConnection, ForgeStatusClient } from './types.js';

export * from './types.js';
export { githubDescription, GITHUB_DESCRIPTION_MAX } from './github.js';

/** A client for the connection's forge; each call of it is one attempt (the outbox retries). */
export function createForgeStatusClient(connection: ForgeConnection, options: ForgeClientOptions): ForgeStatusClient {
  switch (connection.type) {
    case 'github':
      return new GitHubStatusClient(connection, options);
    default:
      throw new Error(`no commit status client for ${connection.type} yet`);
  }
}
