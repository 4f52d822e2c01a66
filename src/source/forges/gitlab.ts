// Commit statuses on GitLab through @gitbeaker/rest's Commits resource (editStatus, allStatuses).
// gitbeaker builds the paths (a `group/name` project is URL-encoded) and the bodies; the requests go
// through forgeFetch instead of gitbeaker's own requester, which retries 429 and 502 ten times within
// a second and drops Retry-After: here each call is one attempt, and the outbox decides when to retry.
// https://docs.gitlab.com/api/commits/#set-the-pipeline-status-of-a-commit
import type { Commits, CommitablePipelineStatus, CommitStatusSchema } from '@gitbeaker/rest';
import { lazyRequire } from '../../lazy-require.js';

const gitbeaker = lazyRequire<typeof import('@gitbeaker/rest')>('@gitbeaker/rest');
import { forgeFetch, shortRef } from './http.js';
import { ForgeRequestError, type CommitState, type ForgeClientOptions, type ForgeConnection, type ForgeStatusClient } from './types.js';

type GitLabState = 'pending' | 'running' | 'success' | 'failed' | 'canceled' | 'skipped';

/**
 * GitLab has every state but a manual action's: a pipeline waiting for one is not finished, and
 * GitLab's state machine has no way back from running to pending, so it stays running.
 */
export const GITLAB_STATES: Record<CommitState, GitLabState> = {
  pending: 'pending',
  running: 'running',
  manual: 'running',
  success: 'success',
  failed: 'failed',
  canceled: 'canceled',
  skipped: 'skipped',
};

/** GitLab's answer to a transition into the state a status already has: "Cannot transition status via :run from :running". */
const TRANSITION_REFUSED = /Cannot transition status via :\w+ from :(\w+)/;

type RequesterFn = NonNullable<ConstructorParameters<typeof Commits>[0]['requesterFn']>;

/** gitbeaker's requester, one forgeFetch per call; searchParams and bodies arrive camelCased, GitLab wants snake_case. */
function requesterFn(opts: ForgeClientOptions, token: string, target: { state: GitLabState | null }): RequesterFn {
  return (service) => {
    const call =
      (method: 'GET' | 'POST') => async (endpoint: string, options?: { body?: unknown; searchParams?: Record<string, unknown> }) => {
        const url = new URL(`${service.url.replace(/\/+$/, '')}/${endpoint}`);
        for (const [k, v] of Object.entries(options?.searchParams ?? {})) {
          if (v !== undefined) url.searchParams.set(snake(k), String(v));
        }
        const headers: Record<string, string> = { ...service.headers };
        for (const [name, value] of Object.entries(service.authHeaders)) headers[name] = await value();
        const body =
          options?.body && typeof options.body === 'object'
            ? Object.fromEntries(Object.entries(options.body).map(([k, v]) => [snake(k), v as unknown]))
            : undefined;
        const res = await forgeFetch(
          'GitLab',
          {
            method,
            url,
            headers,
            body,
            // The status already has the state asked for: that is success for an at-least-once sender.
            accept: (status, answer) => status === 400 && target.state !== null && alreadyIn(answer) === target.state,
          },
          opts,
          [token],
        );
        return { body: res.body as Record<string, unknown>, headers: Object.fromEntries(res.headers.entries()), status: res.status };
      };
    const refuse = (method: string) => () => Promise.reject(new ForgeRequestError(`GitLab ${method}: not used by Tandem`, 0, false));
    return {
      get: call('GET'),
      post: call('POST'),
      put: refuse('PUT'),
      patch: refuse('PATCH'),
      delete: refuse('DELETE'),
    } as ReturnType<RequesterFn>;
  };
}

function alreadyIn(answer: unknown): string | null {
  const message = (answer as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? (TRANSITION_REFUSED.exec(message)?.[1] ?? null) : null;
}

function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** The instance root gitbeaker wants (it adds /api/v4 itself) from the API root Tandem keeps. */
function hostOf(apiUrl: string): string {
  return apiUrl.replace(/\/+$/, '').replace(/\/api\/v4$/, '');
}

export function createGitLabClient(conn: ForgeConnection, opts: ForgeClientOptions): ForgeStatusClient {
  const token = conn.token ?? '';
  // A numeric project id is sent as it is, `group/name` URL-encoded (gitbeaker encodes each path value).
  const project = /^\d+$/.test(conn.project) ? Number(conn.project) : conn.project;
  const host = hostOf(conn.apiUrl);
  const reader = new (gitbeaker().Commits)({ host, token, requesterFn: requesterFn(opts, token, { state: null }) });

  return {
    type: 'gitlab',
    async setStatus(status) {
      const state = GITLAB_STATES[status.state];
      // The requester is told the state asked for, so GitLab's refusal to enter the state it is in counts as done.
      const client = new (gitbeaker().Commits)({ host, token, requesterFn: requesterFn(opts, token, { state }) });
      // gitbeaker's type leaves out skipped, which GitLab's API takes (its OpenAPI description lists it).
      await client.editStatus(project, status.sha, state as CommitablePipelineStatus, {
        name: status.context,
        targetUrl: status.targetUrl,
        description: status.description,
        ref: shortRef(status.ref),
      });
    },
    async alreadySet(status) {
      // The latest status of each name (GitLab's default) on this ref, this name only.
      const shown = (await reader.allStatuses(project, status.sha, {
        ref: shortRef(status.ref),
        name: status.context,
      })) as CommitStatusSchema[];
      const latest = shown.filter((s) => s.name === status.context).sort((a, b) => b.id - a.id)[0];
      return latest !== undefined && latest.status === GITLAB_STATES[status.state] && (latest.description ?? '') === status.description;
    },
  };
}
