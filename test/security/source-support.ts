// Shared by the source security tests: signed pull/merge request deliveries as each forge sends
// them, and a member with a personal token.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import type { Delivery, Provider } from '../e2e/helpers.js';
import type { TestTandem } from '../support/tandem.js';

export interface PullRequest {
  number: number;
  sourceBranch: string;
  targetBranch: string;
  sha: string;
  /** The forge's id of the repository the change comes from; a fork has an id of its own. */
  sourceRepoId: number;
  targetRepoId: number;
  deliveryId: string;
}

/** The ref under which each forge exposes a pull request's head in the target repository. */
export function pullRequestRef(provider: Provider, n: number): string {
  if (provider === 'gitlab') return `refs/merge-requests/${n}/head`;
  if (provider === 'bitbucket') return `refs/pull-requests/${n}/from`;
  return `refs/pull/${n}/head`;
}

const project = (id: number) => (id === 1 ? 'team/app' : `contributor${id}/app`);

/** A signed "pull request opened" delivery, shaped as the provider shapes it. */
export function pullRequestDelivery(provider: Provider, secret: string, pr: PullRequest): Delivery {
  const hmac = (body: string) => createHmac('sha256', secret).update(body).digest('hex');
  const json = { 'content-type': 'application/json' };
  switch (provider) {
    case 'github':
    case 'gitea': {
      const side = (ref: string, id: number, sha?: string) => ({
        ref,
        sha,
        repo: { id, full_name: project(id), clone_url: `https://forge.invalid/${project(id)}.git` },
      });
      const body = JSON.stringify({
        action: 'opened',
        number: pr.number,
        pull_request: {
          number: pr.number,
          title: 'a change',
          head: side(pr.sourceBranch, pr.sourceRepoId, pr.sha),
          base: side(pr.targetBranch, pr.targetRepoId),
        },
        repository: { id: pr.targetRepoId, full_name: project(pr.targetRepoId) },
      });
      if (provider === 'github')
        return {
          body,
          headers: {
            ...json,
            'x-github-event': 'pull_request',
            'x-github-delivery': pr.deliveryId,
            'x-hub-signature-256': `sha256=${hmac(body)}`,
          },
        };
      return {
        body,
        headers: { ...json, 'x-gitea-event': 'pull_request', 'x-gitea-delivery': pr.deliveryId, 'x-gitea-signature': hmac(body) },
      };
    }
    case 'gitlab': {
      const side = (id: number) => ({ id, path_with_namespace: project(id), git_http_url: `https://forge.invalid/${project(id)}.git` });
      const body = JSON.stringify({
        object_kind: 'merge_request',
        project: side(pr.targetRepoId),
        object_attributes: {
          iid: pr.number,
          action: 'open',
          title: 'a change',
          source_branch: pr.sourceBranch,
          target_branch: pr.targetBranch,
          source_project_id: pr.sourceRepoId,
          target_project_id: pr.targetRepoId,
          source: side(pr.sourceRepoId),
          target: side(pr.targetRepoId),
          last_commit: { id: pr.sha },
        },
      });
      return {
        body,
        headers: { ...json, 'x-gitlab-event': 'Merge Request Hook', 'x-gitlab-event-uuid': pr.deliveryId, 'x-gitlab-token': secret },
      };
    }
    case 'bitbucket': {
      const side = (branch: string, id: number, sha?: string) => ({
        id: `refs/heads/${branch}`,
        displayId: branch,
        latestCommit: sha,
        repository: { id, slug: 'app', project: { key: id === 1 ? 'TEAM' : `~CONTRIBUTOR${id}` } },
      });
      const body = JSON.stringify({
        eventKey: 'pr:opened',
        pullRequest: {
          id: pr.number,
          title: 'a change',
          fromRef: side(pr.sourceBranch, pr.sourceRepoId, pr.sha),
          toRef: side(pr.targetBranch, pr.targetRepoId, pr.sha),
        },
      });
      return {
        body,
        headers: { ...json, 'x-event-key': 'pr:opened', 'x-request-id': pr.deliveryId, 'x-hub-signature': `sha256=${hmac(body)}` },
      };
    }
  }
}

/** A user with a role on a repository and an `api` token: returns the token. */
export async function memberToken(tandem: TestTandem, repo: string, username: string, role: string): Promise<string> {
  const user = await tandem.api('POST', '/api/v1/users', { username });
  assert.equal(user.status, 201, user.text);
  const member = await tandem.api('PUT', `/api/v1/repos/${repo}/members/${username}`, { role });
  assert.ok(member.status < 300, member.text);
  const token = await tandem.api<{ token: string }>('POST', '/api/v1/tokens', { name: 'test', scopes: ['api'], username });
  assert.equal(token.status, 201, token.text);
  return token.body.token;
}

/** A call as another principal than the admin. */
export async function callAs<T = Record<string, unknown>>(
  tandem: TestTandem,
  token: string,
  method: string,
  urlPath: string,
  body?: unknown,
): Promise<{ status: number; body: T; text: string }> {
  const res = await fetch(tandem.url + urlPath, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: (text && (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text) as T,
    text,
  };
}
