// Commit statuses on Gitea and Forgejo (the same REST API): each POST adds a status, the newest of a
// context is the one shown. https://docs.gitea.com/api (repoCreateStatus, repoListStatusesByRef).
import { apiUrl, forgeFetch, ownerAndName } from './http.js';
import type { CommitState, CommitStatus, ForgeClientOptions, ForgeConnection, ForgeStatusClient } from './types.js';

type GiteaState = 'pending' | 'success' | 'error' | 'failure' | 'warning';

/**
 * Gitea has no running state, and none for skipped or a manual action: running and manual are still
 * pending (not finished: a required check keeps the merge waiting); skipped is success, as GitHub
 * counts skipped checks; canceled is error (the run did not complete), failure is kept for failed.
 */
export const GITEA_STATES: Record<CommitState, GiteaState> = {
  pending: 'pending',
  running: 'pending',
  manual: 'pending',
  success: 'success',
  failed: 'failure',
  canceled: 'error',
  skipped: 'success',
};

/** How many of a commit's newest statuses alreadySet reads looking for its context. */
const LOOKBACK = 50;

export function createGiteaClient(conn: ForgeConnection, opts: ForgeClientOptions): ForgeStatusClient {
  const [owner, repo] = ownerAndName('Gitea', conn.project);
  const token = conn.token ?? '';
  const headers: Record<string, string> = token ? { authorization: `token ${token}` } : {};
  const repoPath = `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}`;
  const call = (method: 'GET' | 'POST', path: string, body?: unknown, query?: Record<string, string>) =>
    forgeFetch('Gitea', { method, url: apiUrl(conn.apiUrl, repoPath + path, query), headers, body }, opts, [token]);

  return {
    type: 'gitea',
    async setStatus(status: CommitStatus): Promise<void> {
      await call('POST', `/statuses/${encodeURIComponent(status.sha)}`, {
        state: GITEA_STATES[status.state],
        context: status.context,
        description: status.description,
        target_url: status.targetUrl,
      });
    },
    async alreadySet(status: CommitStatus): Promise<boolean> {
      const res = await call('GET', `/commits/${encodeURIComponent(status.sha)}/statuses`, undefined, {
        sort: 'recentupdate',
        page: '1',
        limit: String(LOOKBACK),
      });
      const list = Array.isArray(res.body) ? (res.body as { context?: string; status?: string; description?: string }[]) : [];
      // Newest first: the first of this context is the one the forge shows.
      const shown = list.find((s) => s.context === status.context);
      return shown?.status === GITEA_STATES[status.state] && (shown.description ?? '') === status.description;
    },
  };
}
