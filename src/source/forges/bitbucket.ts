// Build statuses on Bitbucket, Cloud and Data Center: one status per commit and key, a POST with the
// same key replaces it. Which of the two is told by the API root: Cloud's ends with /2.0
// (https://api.bitbucket.org/2.0), Data Center's is the server's /rest.
//   Cloud: https://developer.atlassian.com/cloud/bitbucket/rest/api-group-commit-statuses/
//   Data Center: https://developer.atlassian.com/server/bitbucket/how-tos/updating-build-status-for-commits
import { createHash } from 'node:crypto';
import { apiUrl, forgeFetch, ownerAndName, shortRef, shorten } from './http.js';
import type { CommitState, ForgeClientOptions, ForgeConnection, ForgeStatusClient } from './types.js';

type CloudState = 'INPROGRESS' | 'SUCCESSFUL' | 'FAILED' | 'STOPPED';
type DataCenterState = 'INPROGRESS' | 'SUCCESSFUL' | 'FAILED' | 'CANCELLED' | 'UNKNOWN';

/** Not finished (pending, running, waiting for a manual action) is in progress; skipped counts as successful, as GitHub counts skipped checks. */
export const BITBUCKET_CLOUD_STATES: Record<CommitState, CloudState> = {
  pending: 'INPROGRESS',
  running: 'INPROGRESS',
  manual: 'INPROGRESS',
  success: 'SUCCESSFUL',
  failed: 'FAILED',
  canceled: 'STOPPED',
  skipped: 'SUCCESSFUL',
};

export const BITBUCKET_DATA_CENTER_STATES: Record<CommitState, DataCenterState> = {
  pending: 'INPROGRESS',
  running: 'INPROGRESS',
  manual: 'INPROGRESS',
  success: 'SUCCESSFUL',
  failed: 'FAILED',
  canceled: 'CANCELLED',
  skipped: 'SUCCESSFUL',
};

/** Cloud keys are at most 40 characters. */
const KEY_MAX = 40;
/** Data Center refuses any field over 255 characters (the url may have 450). */
const DATA_CENTER_FIELD_MAX = 255;

/**
 * The status key of a context: the context itself when it fits, else its first characters and a hash
 * of the whole, so the same context always names the same status and two long ones never collide.
 */
export function bitbucketKey(context: string): string {
  if (context.length <= KEY_MAX) return context;
  const hash = createHash('sha256').update(context).digest('hex').slice(0, 12);
  return `${context.slice(0, KEY_MAX - hash.length - 1)}-${hash}`;
}

/** Cloud when the API root's path ends with /2.0. */
export function isBitbucketCloud(root: string): boolean {
  return /\/2\.0\/*$/.test(new URL(root).pathname);
}

/**
 * A token, or `username:password` (a Cloud app password, or a Data Center user's password) sent as
 * HTTP Basic; repository, project and workspace access tokens and HTTP access tokens go as Bearer.
 */
function authorization(token: string): Record<string, string> {
  if (!token) return {};
  return token.includes(':') ? { authorization: `Basic ${Buffer.from(token).toString('base64')}` } : { authorization: `Bearer ${token}` };
}

interface ShownStatus {
  state?: string;
  description?: string;
}

export function createBitbucketClient(conn: ForgeConnection, opts: ForgeClientOptions): ForgeStatusClient {
  const cloud = isBitbucketCloud(conn.apiUrl);
  const forge = cloud ? 'Bitbucket Cloud' : 'Bitbucket Data Center';
  const [owner, repo] = ownerAndName(forge, conn.project);
  const token = conn.token ?? '';
  const headers = authorization(token);
  const call = (method: 'GET' | 'POST', path: string, body?: unknown, query?: Record<string, string>, notFoundIsAnswer = false) =>
    forgeFetch(
      forge,
      {
        method,
        url: apiUrl(dataCenterApi(conn.apiUrl, cloud), path, query),
        headers,
        body,
        accept: notFoundIsAnswer ? (status) => status === 404 : undefined,
      },
      opts,
      [token, headers.authorization ?? ''],
    );
  const same = (shown: ShownStatus | null, state: string, description: string) =>
    shown !== null && shown.state === state && (shown.description ?? '') === description;

  if (cloud) {
    const commitPath = (sha: string) =>
      `/repositories/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/commit/${encodeURIComponent(sha)}/statuses/build`;
    return {
      type: 'bitbucket',
      async setStatus(status) {
        await call('POST', commitPath(status.sha), {
          key: bitbucketKey(status.context),
          state: BITBUCKET_CLOUD_STATES[status.state],
          name: status.context,
          url: status.targetUrl,
          description: status.description,
          refname: shortRef(status.ref),
        });
      },
      async alreadySet(status) {
        const res = await call(
          'GET',
          `${commitPath(status.sha)}/${encodeURIComponent(bitbucketKey(status.context))}`,
          undefined,
          undefined,
          true,
        );
        return same(res.status === 404 ? null : (res.body as ShownStatus), BITBUCKET_CLOUD_STATES[status.state], status.description);
      },
    };
  }

  const buildsPath = (sha: string) =>
    `/projects/${encodeURIComponent(owner)}/repos/${encodeURIComponent(repo)}/commits/${encodeURIComponent(sha)}/builds`;
  return {
    type: 'bitbucket',
    async setStatus(status) {
      await call('POST', buildsPath(status.sha), {
        key: bitbucketKey(status.context),
        state: BITBUCKET_DATA_CENTER_STATES[status.state],
        url: status.targetUrl,
        name: shorten(status.context, DATA_CENTER_FIELD_MAX),
        description: shorten(status.description, DATA_CENTER_FIELD_MAX),
        buildNumber: String(status.pipelineId),
        // Data Center wants the fully qualified ref; a short name could be a branch or a tag, so it is left out.
        ...(status.ref.startsWith('refs/') ? { ref: status.ref } : {}),
      });
    },
    async alreadySet(status) {
      const res = await call('GET', buildsPath(status.sha), undefined, { key: bitbucketKey(status.context) }, true);
      return same(
        res.status === 404 ? null : (res.body as ShownStatus),
        BITBUCKET_DATA_CENTER_STATES[status.state],
        shorten(status.description, DATA_CENTER_FIELD_MAX),
      );
    },
  };
}

/** Data Center's REST root is the server's /rest; its API lives under /rest/api/latest. Cloud's root is used as given. */
function dataCenterApi(root: string, cloud: boolean): string {
  if (cloud) return root;
  const trimmed = root.replace(/\/+$/, '');
  if (/\/rest\/api\/(latest|1\.0)$/.test(trimmed)) return trimmed;
  if (/\/rest$/.test(trimmed)) return `${trimmed}/api/latest`;
  return `${trimmed}/rest/api/latest`;
}
