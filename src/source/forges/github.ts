// GitHub's commit statuses (a token) and Checks runs (a GitHub App), through @octokit/rest.
//
// The outbox owns retries: it keeps a status across restarts and failovers and decides when to try
// again. Octokit's plugins are set so that one attempt stays one short attempt: plugin-retry may
// try a 5xx once more after a moment, and plugin-throttling never waits out a rate limit in memory
// (its handlers answer "do not retry"); the limit becomes ForgeRateLimitedError with the time
// GitHub named, which the outbox waits for in the database, on whichever replica sends next.
import { createPrivateKey, type KeyObject } from 'node:crypto';
import type { ThrottlingOptions } from '@octokit/plugin-throttling';
import { ownerAndName, rateLimitedUntil, shorten } from './http.js';
import {
  ForgeRateLimitedError,
  ForgeRequestError,
  type CommitState,
  type CommitStatus,
  type ForgeClientOptions,
  type ForgeConnection,
  type ForgeStatusClient,
} from './types.js';

// Octokit and jose are loaded by the first request: every command imports this module (through
// src/source), and only a server reporting to GitHub uses them.
async function githubOctokit() {
  const [{ Octokit }, { retry }, { throttling }] = await Promise.all([
    import('@octokit/rest'),
    import('@octokit/plugin-retry'),
    import('@octokit/plugin-throttling'),
  ]);
  return Octokit.plugin(retry, throttling);
}
type GitHubApi = InstanceType<Awaited<ReturnType<typeof githubOctokit>>>;

/** GitHub refuses a longer description. */
const GITHUB_DESCRIPTION_MAX = 140;
const githubDescription = (text: string): string => shorten(text, GITHUB_DESCRIPTION_MAX);
/** An installation token lives one hour; a new one is asked for this long before it expires. */
const TOKEN_RENEW_BEFORE_MS = 5 * 60_000;

type StatusState = 'pending' | 'success' | 'failure' | 'error';
type CheckStatus = 'queued' | 'in_progress' | 'completed';
type CheckConclusion = 'success' | 'failure' | 'cancelled' | 'skipped' | 'action_required';

/** Tandem's states as commit statuses: a commit status has no "running" (the description says it). */
export const GITHUB_STATUS_STATE: Readonly<Record<CommitState, StatusState>> = {
  pending: 'pending',
  running: 'pending',
  manual: 'pending',
  success: 'success',
  skipped: 'success',
  failed: 'failure',
  canceled: 'error',
};

/** Tandem's states as a check run's status and conclusion; a manual action waiting asks for action. */
const CHECK_STATE: Record<CommitState, { status: CheckStatus; conclusion?: CheckConclusion }> = {
  pending: { status: 'queued' },
  running: { status: 'in_progress' },
  manual: { status: 'completed', conclusion: 'action_required' },
  success: { status: 'completed', conclusion: 'success' },
  skipped: { status: 'completed', conclusion: 'skipped' },
  failed: { status: 'completed', conclusion: 'failure' },
  canceled: { status: 'completed', conclusion: 'cancelled' },
};

/**
 * Octokit's throttling plugin spaces writes one second apart per process by default. Spacing in one
 * process cannot pace a cluster, and it would hold every status of a busy repository in memory
 * where a restart loses the wait; the outbox coalesces a commit's rapid changes instead and obeys
 * the secondary limits GitHub answers with (Retry-After), on every replica. Writes pass through.
 */
const UNSPACED_WRITES = {
  key: () => ({ schedule: <T>(_options: unknown, task: () => Promise<T>) => task() }),
} as unknown as NonNullable<ThrottlingOptions['write']>;

interface HttpError {
  status?: number;
  name?: string;
  message?: string;
  response?: { headers?: Record<string, string | number | undefined>; data?: unknown };
}

/** A failed request as the outbox reads it: rate limited (retry at), retryable, or refused for good. */
export function githubError(err: unknown, what: string, now: number): Error {
  const e = (err ?? {}) as HttpError;
  if (e.name === 'AbortError' || e.name === 'TimeoutError') return new ForgeRequestError(`GitHub: ${what}: timed out`, 0, true);
  const status = typeof e.status === 'number' ? e.status : 0;
  // Octokit reports a failed connection (reset, refused, DNS) as a 500 without a response.
  if (e.response === undefined) return new ForgeRequestError(`GitHub: ${what}: ${e.message ?? 'no answer'}`, 0, true);
  const headers = new Headers();
  for (const [name, value] of Object.entries(e.response.headers ?? {})) if (value !== undefined) headers.set(name, String(value));
  const retryAt = rateLimitedUntil(status, headers, now, /secondary rate limit/i.test(e.message ?? ''));
  if (retryAt !== null) return new ForgeRateLimitedError(`GitHub: ${what}: rate limited until ${new Date(retryAt).toISOString()}`, retryAt);
  const retryable = status >= 500 || status === 408;
  return new ForgeRequestError(`GitHub: ${what}: ${status} ${e.message ?? ''}`.trim(), status, retryable);
}

interface CheckRun {
  id: number;
  status: string;
  conclusion: string | null;
  output: { title: string | null };
}

export class GitHubStatusClient implements ForgeStatusClient {
  readonly type = 'github' as const;
  private api: Promise<GitHubApi> | null = null;
  private readonly owner: string;
  private readonly repo: string;
  private readonly appKey: KeyObject | null;
  private installationId: number | null;
  private installationToken: { token: string; expiresAt: number } | null = null;

  constructor(
    private readonly connection: ForgeConnection,
    private readonly options: ForgeClientOptions,
  ) {
    [this.owner, this.repo] = ownerAndName('GitHub', connection.project);
    this.appKey = connection.app ? createPrivateKey(connection.app.privateKey) : null;
    this.installationId = connection.app?.installationId ?? null;
    if (!this.appKey && !connection.token) throw new ForgeRequestError('GitHub: no token and no GitHub App credential', 0, false);
  }

  /** A checks run with a GitHub App; a commit status with a token. */
  async setStatus(status: CommitStatus): Promise<void> {
    if (this.appKey) await this.setCheckRun(status);
    else await this.setCommitStatus(status);
  }

  async alreadySet(status: CommitStatus): Promise<boolean> {
    if (this.appKey) {
      const run = await this.findCheckRun(status);
      const want = CHECK_STATE[status.state];
      return (
        run !== null &&
        run.status === want.status &&
        (run.conclusion ?? undefined) === want.conclusion &&
        run.output.title === githubDescription(status.description)
      );
    }
    const { data } = await this.call('list commit statuses', (api) =>
      api.rest.repos.listCommitStatusesForRef({
        owner: this.owner,
        repo: this.repo,
        ref: status.sha,
        per_page: 100,
        headers: this.tokenHeaders(),
        request: this.requestOptions(),
      }),
    );
    // Newest first: the first of the context is what the pull request shows.
    const latest = data.find((s) => s.context === status.context);
    return (
      latest !== undefined &&
      latest.state === GITHUB_STATUS_STATE[status.state] &&
      latest.description === githubDescription(status.description)
    );
  }

  private async setCommitStatus(status: CommitStatus): Promise<void> {
    await this.call('set commit status', (api) =>
      api.rest.repos.createCommitStatus({
        owner: this.owner,
        repo: this.repo,
        sha: status.sha,
        state: GITHUB_STATUS_STATE[status.state],
        context: status.context,
        description: githubDescription(status.description),
        target_url: status.targetUrl,
        headers: this.tokenHeaders(),
        request: this.requestOptions(),
      }),
    );
  }

  /** One check run per (commit, name): created once, then updated. */
  private async setCheckRun(status: CommitStatus): Promise<void> {
    const state = CHECK_STATE[status.state];
    const body = {
      owner: this.owner,
      repo: this.repo,
      name: status.context,
      details_url: status.targetUrl,
      external_id: String(status.pipelineId),
      status: state.status,
      ...(state.conclusion ? { conclusion: state.conclusion, completed_at: new Date(this.options.now()).toISOString() } : {}),
      output: { title: githubDescription(status.description), summary: `${status.description}\n\n${status.targetUrl}` },
    };
    const existing = await this.findCheckRun(status);
    const headers = await this.installationHeaders();
    if (existing) {
      await this.call(
        'update check run',
        (api) => api.rest.checks.update({ ...body, check_run_id: existing.id, headers, request: this.requestOptions() }),
        'installation',
      );
    } else {
      await this.call(
        'create check run',
        (api) => api.rest.checks.create({ ...body, head_sha: status.sha, headers, request: this.requestOptions() }),
        'installation',
      );
    }
  }

  private async findCheckRun(status: CommitStatus): Promise<CheckRun | null> {
    const headers = await this.installationHeaders();
    const { data } = await this.call(
      'find check run',
      (api) =>
        api.rest.checks.listForRef({
          owner: this.owner,
          repo: this.repo,
          ref: status.sha,
          check_name: status.context,
          filter: 'latest',
          headers,
          request: this.requestOptions(),
        }),
      'installation',
    );
    return data.check_runs[0] ?? null;
  }

  private client(): Promise<GitHubApi> {
    const silent = () => {};
    this.api ??= githubOctokit().then(
      (GitHubOctokit) =>
        new GitHubOctokit({
          baseUrl: this.connection.apiUrl,
          userAgent: 'Tandem CI',
          log: { debug: silent, info: silent, warn: silent, error: silent },
          retry: { retries: 1, retryAfterBaseValue: 250 },
          throttle: {
            // One limiter per credential and place: another repository's statuses never wait for this one's.
            id: `${this.connection.apiUrl}#${this.connection.project}`,
            write: UNSPACED_WRITES,
            onRateLimit: () => false,
            onSecondaryRateLimit: () => false,
          },
        }),
    );
    return this.api;
  }

  private tokenHeaders(): Record<string, string> {
    return { authorization: `token ${this.connection.token}` };
  }

  /** The App's installation token for this repository, asked for once an hour (less five minutes). */
  private async installationHeaders(): Promise<Record<string, string>> {
    const now = this.options.now();
    if (!this.installationToken || this.installationToken.expiresAt - TOKEN_RENEW_BEFORE_MS <= now) {
      const jwt = { authorization: `Bearer ${await this.appJwt()}` };
      if (this.installationId === null) {
        const { data } = await this.call('find the App installation', (api) =>
          api.rest.apps.getRepoInstallation({ owner: this.owner, repo: this.repo, headers: jwt, request: this.requestOptions() }),
        );
        this.installationId = data.id;
      }
      const installationId = this.installationId;
      const { data } = await this.call('create an installation token', (api) =>
        api.rest.apps.createInstallationAccessToken({ installation_id: installationId, headers: jwt, request: this.requestOptions() }),
      );
      this.installationToken = { token: data.token, expiresAt: Date.parse(data.expires_at) };
    }
    return { authorization: `token ${this.installationToken.token}` };
  }

  /** GitHub's App JWT: RS256, issued a minute early for clock drift, valid under the ten minutes GitHub allows. */
  private async appJwt(): Promise<string> {
    const seconds = Math.floor(this.options.now() / 1000);
    const { SignJWT } = await import('jose');
    return new SignJWT({})
      .setProtectedHeader({ alg: 'RS256' })
      .setIssuer(this.connection.app!.appId)
      .setIssuedAt(seconds - 60)
      .setExpirationTime(seconds + 9 * 60)
      .sign(this.appKey!);
  }

  /**
   * No redirect is followed: the credential would go with it to wherever it points. Octokit hands
   * back an unfollowed 3xx as if it were an answer, so `call` refuses it.
   */
  private requestOptions(): { signal: AbortSignal; redirect: 'manual' } {
    return { signal: AbortSignal.timeout(this.options.timeoutMs), redirect: 'manual' };
  }

  /** `installation`: the request carries the App's installation token, which is dropped when refused. */
  private async call<T>(
    what: string,
    request: (api: GitHubApi) => Promise<T>,
    auth: 'token' | 'jwt' | 'installation' = 'token',
  ): Promise<T> {
    let response: T;
    try {
      response = await request(await this.client());
    } catch (err) {
      const error = githubError(err, what, this.options.now());
      // A refused installation token (revoked, or the installation changed): the next attempt asks
      // for a new one. A refused token or JWT (a wrong App id or key) stays refused.
      if (auth === 'installation' && error instanceof ForgeRequestError && error.status === 401) {
        this.installationToken = null;
        throw new ForgeRequestError(error.message, 401, true);
      }
      throw error;
    }
    const status = (response as { status?: unknown }).status;
    if (typeof status === 'number' && status >= 300 && status < 400) {
      throw new ForgeRequestError(
        `GitHub: ${what}: answered ${status}, a redirect: forge.apiUrl should name the API root itself`,
        status,
        false,
      );
    }
    return response;
  }
}
