// The forge clients behind one interface: the outbox's handler asks for a repository's client here.
import { createBitbucketClient } from './bitbucket.js';
import { createGiteaClient } from './gitea.js';
import { createGitLabClient } from './gitlab.js';
import type { ForgeClientOptions, ForgeConnection, ForgeStatusClient } from './types.js';

export * from './types.js';

/** A client for the connection's forge; each call of it is one attempt (the outbox retries). */
export function createForgeStatusClient(connection: ForgeConnection, options: ForgeClientOptions): ForgeStatusClient {
  switch (connection.type) {
    case 'gitlab':
      return createGitLabClient(connection, options);
    case 'gitea':
      return createGiteaClient(connection, options);
    case 'bitbucket':
      return createBitbucketClient(connection, options);
    default:
      // The GitHub client comes from its own branch (i17-forge); the merge adds its case here.
      throw new Error(`no commit status client for ${connection.type} yet`);
  }
}
