// The forge clients behind one interface: the outbox's handler asks for a repository's client here.
import { createBitbucketClient } from './bitbucket.js';
import { createGiteaClient } from './gitea.js';
import { GitHubStatusClient } from './github.js';
import { createGitLabClient } from './gitlab.js';
import type { ForgeClientOptions, ForgeConnection, ForgeStatusClient } from './types.js';

export * from './types.js';
export { GITHUB_STATUS_STATE } from './github.js';

/** A client for the connection's forge; each call of it is one attempt (the outbox retries). */
export function createForgeStatusClient(connection: ForgeConnection, options: ForgeClientOptions): ForgeStatusClient {
  switch (connection.type) {
    case 'github':
      return new GitHubStatusClient(connection, options);
    case 'gitlab':
      return createGitLabClient(connection, options);
    case 'gitea':
      return createGiteaClient(connection, options);
    case 'bitbucket':
      return createBitbucketClient(connection, options);
  }
}
