// What Tandem tells a forge about a commit: one status per (commit, context), the green check on a
// pull request. Each forge client speaks its own REST API behind this one interface; the outbox
// (src/outbox) decides when to send and retries, the clients only make one attempt each.
import type { ForgeType } from '../../api/index.js';
import { DomainError } from '../../errors.js';

export type { ForgeType };
export const FORGE_TYPES: readonly ForgeType[] = ['github', 'gitlab', 'gitea', 'bitbucket'];

/** Tandem's state of what the status is about (a pipeline or a job); each client maps it to its forge's states. */
export type CommitState = 'pending' | 'running' | 'success' | 'failed' | 'canceled' | 'skipped' | 'manual';

export interface CommitStatus {
  sha: string;
  /** `tandem/<pipeline name or "pipeline">`, or `tandem/<pipeline>/<job>` for a job's status. */
  context: string;
  state: CommitState;
  /** One short line (forges cap it: GitHub at 140 characters). */
  description: string;
  /** The pipeline (or job) page on this Tandem (`externalUrl`). */
  targetUrl: string;
  /** The branch, tag or merge request ref the pipeline ran for (GitLab and Bitbucket record it). */
  ref: string;
  /** The pipeline's id on this Tandem (GitLab's `pipeline_id` is the forge's own: not sent). */
  pipelineId: number;
}

/** Where a repository's statuses go and the credential they go with (decrypted; never logged). */
export interface ForgeConnection {
  type: ForgeType;
  /** The API root: https://api.github.com, https://gitlab.example.com/api/v4, https://gitea.example.com/api/v1, https://api.bitbucket.org/2.0 or a Bitbucket Data Center's https://host/rest. */
  apiUrl: string;
  /** `owner/name` (or the forge's numeric project id for GitLab; `workspace/repo_slug` for Bitbucket Cloud; `PROJECT/repo` for Data Center). */
  project: string;
  /** A personal, project or OAuth token. */
  token?: string;
  /** GitHub only: a GitHub App's credential; statuses then go as Checks runs. */
  app?: { appId: string; privateKey: string; installationId?: number };
}

export interface ForgeStatusClient {
  readonly type: ForgeType;
  /** Sets the status (one attempt). Throws ForgeRateLimitedError or ForgeRequestError. */
  setStatus(status: CommitStatus): Promise<void>;
  /**
   * Whether the forge already shows this status (same forge state and description for the commit and
   * context): asked before sending again a status whose earlier attempt's outcome is unknown (the
   * sending replica died), so each state arrives once.
   */
  alreadySet(status: CommitStatus): Promise<boolean>;
}

/** The forge refused for now: try again at `retryAt` (from Retry-After, x-ratelimit-reset or a secondary limit). */
export class ForgeRateLimitedError extends DomainError {
  override name = 'ForgeRateLimitedError';
  constructor(
    message: string,
    readonly retryAt: number,
  ) {
    super('rate_limited', message);
  }
}

/** The forge answered with an error (`status`, 0 when it did not answer); `retryable`: 5xx, timeouts, resets. */
export class ForgeRequestError extends DomainError {
  override name = 'ForgeRequestError';
  constructor(
    message: string,
    readonly status: number,
    readonly retryable: boolean,
  ) {
    super('upstream', message);
  }
}

export interface ForgeClientOptions {
  /** Per request, in milliseconds. */
  timeoutMs: number;
  /** The clock for Retry-After arithmetic. */
  now: () => number;
}
