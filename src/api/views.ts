// JSON shapes of the public API, as the web UI, the CLI and the tests read them. The server's
// presenters (src/server/presenters.ts) are typed by these, so the two cannot drift. Timestamps are
// ISO 8601; ids are numbers. The value sets are shared with the store's columns (src/store/schema.ts).

/** The status of a job or of a pipeline: one union, so the two can never disagree on a value. */
export type RunStatus =
  | 'created'
  | 'pending'
  | 'running'
  | 'success'
  | 'failed'
  | 'canceled'
  | 'skipped'
  | 'manual'
  /** A job: waiting for its `when: delayed` time. A pipeline: waiting only for such a job. */
  | 'scheduled';

/** The statuses a job or pipeline ends in: nothing changes it after one of these (but a retry, a new job). */
export const FINISHED_STATUSES: ReadonlySet<string> = new Set<RunStatus>(['success', 'failed', 'canceled', 'skipped']);

/** GitLab's CI_PIPELINE_SOURCE values Tandem makes; `parent_pipeline` (child) and `pipeline` (multi-project) are downstream pipelines. */
export type PipelineSource =
  'push' | 'web' | 'api' | 'schedule' | 'merge_request_event' | 'trigger' | 'poll' | 'rollback' | 'parent_pipeline' | 'pipeline';

/** Who may read a repository's badges without a token: 'private' (only its readers) or 'public'. */
export const REPO_VISIBILITIES = ['private', 'public'] as const;
export type RepoVisibility = (typeof REPO_VISIBILITIES)[number];

/** Pipelines of merge requests from forks: 'approval' (they wait for a maintainer) or 'run'. */
export type ForkPullRequests = 'approval' | 'run';

/** The forges Tandem sends commit statuses to. */
export type ForgeType = 'github' | 'gitlab' | 'gitea' | 'bitbucket';
/** 'pipeline': one commit status per pipeline; 'jobs': one per job as well. */
export type ForgeStatuses = 'pipeline' | 'jobs';

/** What a merge request pipeline keeps of its merge request. */
export interface PipelineMergeRequest {
  iid: number;
  sourceBranch: string;
  targetBranch: string;
  /** The repository the change comes from, as the forge names it (path or id); null when not sent. */
  sourceProject: string | null;
  /** True unless the forge said the change comes from the target repository itself. */
  fork: boolean;
}

export type ReleaseStatus = 'queued' | 'deploying' | 'verifying' | 'paused' | 'live' | 'failed' | 'rolled_back' | 'superseded';

/** 'deploy', or 'rollback' (a release of an older one's files, made by a rollback). */
export type ReleaseKind = 'deploy' | 'rollback';

/** A human's answer to a paused release. */
export type ReleaseDecision = 'promote' | 'abort';

export type BackupStatus = 'running' | 'success' | 'failed';

/** GitLab's project roles, weakest first. */
export const ROLES = ['guest', 'reporter', 'developer', 'maintainer', 'owner'] as const;
export type Role = (typeof ROLES)[number];

/**
 * What a personal token may do. `api`: everything its user may; `read_api`: only reading (GET);
 * `register_agent`: only registering agents (an agent registration token, made by an admin).
 */
export const SCOPES = ['api', 'read_api', 'register_agent'] as const;
export type Scope = (typeof SCOPES)[number];

/** A pipeline as lists show it: `GET /api/v1/pipelines`, `GET /api/v1/repos/:name/pipelines`. */
export interface PipelineSummaryJson {
  id: number;
  repo: string;
  status: RunStatus;
  ref: string;
  tag: boolean;
  sha: string;
  beforeSha: string | null;
  source: PipelineSource;
  name: string | null;
  configPath: string | null;
  /** Compile error text (with file:line:column) when the pipeline file was invalid. */
  error: string | null;
  stages: string[];
  createdAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  /**
   * Seconds its jobs ran (time when at least one job was running: a retry hours later adds its own
   * run, not the wait), as GitLab counts it; null until it finished.
   */
  duration: number | null;
  mergeRequest: PipelineMergeRequest | null;
  /** A fork's pipeline that runs once a maintainer approves it (POST /api/v1/pipelines/:id/approve). */
  waitingForApproval: boolean;
  approvedBy: string | null;
  /** The commit as GitLab's CI_COMMIT_* variables give it; null for pipelines made before it was recorded. */
  commit: PipelineCommitJson | null;
}

export interface PipelineCommitJson {
  message: string;
  title: string;
  description: string;
  /** "Name <email>". */
  author: string;
  /** Committer date, ISO 8601 with the committer's offset. */
  timestamp: string;
}

/** The JSON of `GET /api/v1/pipelines/:id`: the pipeline and its jobs. */
export interface PipelineJson extends PipelineSummaryJson {
  jobs: JobJson[];
  /** GitLab's pipeline coverage: the average of its latest jobs' coverage values; null when none has one. */
  coverage: number | null;
  /** The pipeline whose trigger job started this one (a child or multi-project pipeline); null for others. */
  parent: LinkedPipelineJson | null;
  /** The pipelines this one's trigger jobs started, oldest first (those of repositories the caller may see). */
  downstream: LinkedPipelineJson[];
}

/** A pipeline linked to another by a `trigger:` job. */
export interface LinkedPipelineJson {
  id: number;
  repo: string;
  status: RunStatus;
  /** `parent_pipeline` (a child pipeline) or `pipeline` (another repository's). */
  source: PipelineSource;
  ref: string;
  /** The trigger job (in the upstream pipeline) that started the downstream one. */
  triggerJob: { id: number; name: string } | null;
}

/** The JSON of one job, as clients (the web UI, the CLI, tests) read it. */
export interface JobJson {
  id: number;
  pipelineId: number;
  name: string;
  stage: string;
  status: RunStatus;
  /** 1-based; a retry or a lost-agent requeue makes a new job with attempt + 1. */
  attempt: number;
  /** True once a newer attempt exists. */
  retried: boolean;
  retryOf: number | null;
  when: string;
  /** The jobs it waits for (`needs:`); null: it waits for the earlier stages. */
  needs: string[] | null;
  allowFailure: boolean;
  environment: string | null;
  resourceGroup: string | null;
  tags: string[];
  exitCode: number | null;
  failureReason: string | null;
  /**
   * Where a failed job's log shows it failed, found when it ended: the command it was running (the
   * last `$ command` echoed before the script ended) or else the first `ERROR:` line; `number` is
   * 1-based as the log's line links (`#L12`). Null when it did not fail or its log has no such line.
   */
  failureLine: { number: number; text: string } | null;
  /** The percentage the job's `coverage:` regex found in its log; null without a regex or a match. */
  coverage: number | null;
  /** The known-flaky tests whose failures alone made this failed job allowed to fail; null: none. */
  quarantinedTests: string[] | null;
  agentId: number | null;
  /** Seconds. */
  timeout: number;
  createdAt: string | null;
  queuedAt: string | null;
  scheduledAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  /** Seconds from start to finish; null until it finished. */
  duration: number | null;
}

/** A coverage value as the CLI and the web UI show it: "87.5%" (at most two decimals, as GitLab). */
export function formatCoverage(coverage: number): string {
  return `${Math.round(coverage * 100) / 100}%`;
}

/** One attempt of a job, as the job page lists them (each opens with its own log). */
export type JobAttemptJson = Pick<
  JobJson,
  'id' | 'attempt' | 'status' | 'exitCode' | 'failureReason' | 'startedAt' | 'finishedAt' | 'duration'
>;

/**
 * GET /api/v1/jobs/:id/reproduce: what `tandem exec --from-job` needs to run a server's job again
 * on another machine (docs/cli.md). Secrets are never in it: masked and protected variables are
 * named in `withheld`, without their values, and the job token and id_tokens are not made.
 */
export interface JobReproductionJson {
  job: { id: number; name: string; stage: string; status: RunStatus; attempt: number };
  pipeline: { id: number; ref: string; tag: boolean; sha: string; source: PipelineSource; configPath: string };
  /** The URL the server fetches from; a user clones it with their own access. */
  repo: { name: string; url: string };
  /** The pipeline's predefined variables as the job saw them (CI_COMMIT_*, CI_PIPELINE_*, merge request ones). */
  predefined: Record<string, string>;
  /**
   * Every other variable the job got but its own paths (CI_PROJECT_DIR...), in precedence order
   * (a later one wins): the pipeline's, the job's own, its dependencies' dotenv reports, then the
   * repository's variables that are neither masked nor protected.
   */
  variables: { key: string; value: string; masked: boolean; file: boolean; source: 'pipeline' | 'job' | 'dotenv' | 'repository' }[];
  /** Repository variables the job got that are not handed out: pass them yourself (--variable). */
  withheld: { key: string; reason: 'masked' | 'protected' }[];
  /** The artifacts the job receives from its dependencies (download each file from its job; mode: permission bits). */
  dependencies: { jobId: number; name: string; files: { path: string; digest: string; size: number; mode: number }[] }[];
}

/** GET /api/v1/jobs/:id: the job and every attempt of it, first to latest (this one included). */
export interface JobDetailJson extends JobJson {
  attempts: JobAttemptJson[];
  /**
   * The name of the agent it ran on (agentId's); null before one took it, or once that agent was
   * removed. Optional: a page that merges a job from the pipeline's events keeps the name it read.
   */
  agentName?: string | null;
}

/**
 * Where a release went, read from its stored deploy block (as written in the pipeline file): the
 * target's kind and hosts, and the strategy across them. A target built from job variables is
 * resolved on the agent only, so it shows its kind alone.
 */
export interface ReleaseTargetJson {
  kind: string;
  hosts: string[];
  strategy: string;
}

export interface ReleaseJson {
  id: number;
  kind: ReleaseKind;
  /** For a rollback: the release whose files it brings back. */
  rollbackOf: number | null;
  status: ReleaseStatus;
  statusReason: string | null;
  decision: ReleaseDecision | null;
  version: string;
  sha: string;
  ref: string;
  /** sha256 over the release's files and image: two releases with the same digest deploy the same thing. */
  digest: string;
  /** The image pinned by digest (`registry/name@sha256:...`); null for a release of files only. */
  image: string | null;
  /** Where people can look at the image: the registry's page for it, or its manifest on the registry's API. */
  imageUrl: string | null;
  pipelineId: number | null;
  jobId: number | null;
  fencingToken: number | null;
  target: ReleaseTargetJson;
  /** "pipeline #12", or who asked for a rollback. */
  createdBy: string;
  createdAt: string | null;
  finishedAt: string | null;
  /** Who played its deploy job (on a protected environment: approved it), with their comment; in release lists. */
  approval?: ReleaseApprovalJson | null;
  /** The commit's title, when a pipeline recorded it; in release lists. */
  commitTitle?: string | null;
}

export interface ReleaseApprovalJson {
  by: string;
  comment: string | null;
  at: string;
}

export interface EnvironmentHostJson {
  /** The target's name for the host: `deploy@10.0.0.6`, `local:web-a`, a cluster namespace. */
  name: string;
  releaseId: number;
  version: string;
  /** The release's image pinned by digest, or null for a release of files. */
  image: string | null;
  updatedAt: string | null;
}

export interface EnvironmentJson {
  name: string;
  /** GitLab's deployment_tier: production, staging, testing, development, other. */
  tier: string | null;
  url: string | null;
  /** Deploys to a protected environment wait for an approval. */
  protected: boolean;
  current: ReleaseJson | null;
  /** The newest release, when it is not the current one (deploying, failed, rolled back...). */
  latest: ReleaseJson | null;
  /** Which release each host runs, as the deploying agents reported it (a canary shows both). */
  hosts: EnvironmentHostJson[];
  createdAt: string | null;
  updatedAt: string | null;
}

export interface RepoJson {
  id: number;
  name: string;
  /** GitLab's project full path (`group/name`) that include:project names; the name unless set. */
  path: string;
  url: string;
  defaultBranch: string;
  /** Seconds; 0: no polling. */
  pollInterval: number;
  hasWebhookSecret: boolean;
  /** The URL's credentials (a token) are stored apart, encrypted: `url` never shows them. */
  hasUrlCredentials: boolean;
  /** How git authenticates to the repository, without the secret (write-only); null: anonymously. */
  credentials: RepoCredentialJson | null;
  forkPullRequests: ForkPullRequests;
  /** 'public': its badges are readable without a token. */
  visibility: RepoVisibility;
  /** A job whose only failing tests are known-flaky ones is allowed to fail (docs/test-reports.md). */
  quarantineFlakyTests: boolean;
  /** At most this many of its jobs run at once; null: no limit (docs/architecture.md, "Fair claims"). */
  maxConcurrentJobs: number | null;
  /** Branch globs that start pipelines; null: every branch. */
  branches: string[] | null;
  /** Tag globs that start pipelines; null: every tag. */
  tags: string[] | null;
  /** The webhook URL of each provider in WEBHOOK_PROVIDERS, by provider. */
  webhookUrls: Record<string, string>;
  lastPolledAt: string | null;
  createdAt: string;
  /** Where commit statuses go; null: to no forge. The credential is write-only. */
  forge: RepoForgeJson | null;
  /** The container registry its jobs push to (CI_REGISTRY*); null: none. The password is write-only. */
  registry: RepoRegistryJson | null;
}

export interface RepoRegistryJson {
  /** CI_REGISTRY: `host[:port]`. */
  host: string;
  /** The project path under the host; null: the repository's path. */
  path: string | null;
  /** CI_REGISTRY_IMAGE. */
  image: string;
  /** CI_REGISTRY_USER; null: jobs get no credentials. */
  username: string | null;
  hasPassword: boolean;
}

export interface RepoForgeJson {
  type: ForgeType;
  apiUrl: string;
  project: string;
  statuses: ForgeStatuses;
  hasToken: boolean;
  /** A GitHub App (Checks runs); its private key is write-only. */
  appId: string | null;
  installationId: number | null;
  /** The outbox's deliveries of this repository's statuses (shown by GET /repos/:name, not in the list). */
  delivery?: ForgeDeliveryJson;
}

export interface ForgeDeliveryJson {
  lastSentAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  /** Statuses waiting to be sent (retries and rate limits included). */
  pending: number;
}

/** A host key ssh accepts for a repository with a deploy key (a known_hosts line). */
export interface KnownHostJson {
  /** The host patterns of the line (`github.com`, `[git.example.com]:2222`), or `(hashed)`. */
  hosts: string;
  type: string;
  /** `SHA256:...`, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  marker: 'cert-authority' | 'revoked' | null;
}

/** A repository's credential as shown: its kind, and for a deploy key its public parts. */
export type RepoCredentialJson =
  | { type: 'token' }
  | {
      type: 'ssh';
      /** `TYPE BASE64`: what to add as a deploy key on the Git host. */
      publicKey: string;
      /** `SHA256:...` of the deploy key. */
      keyFingerprint: string;
      knownHosts: KnownHostJson[];
    };

/** A CI/CD variable without its value: values are encrypted at rest and only jobs see them. */
export interface VariableJson {
  key: string;
  masked: boolean;
  protected: boolean;
  file: boolean;
  createdAt: string;
  updatedAt: string;
}

/** A pipeline schedule. Variable values are write-only: only their names are shown. */
export interface ScheduleJson {
  id: number;
  repo: string;
  description: string;
  cron: string;
  timezone: string;
  ref: string;
  variables: string[];
  active: boolean;
  /** The user whose permissions it runs with; null once that user was deleted. */
  owner: string | null;
  /** The next due time (while inactive: the one it had). */
  nextRunAt: string;
  lastRunAt: string | null;
  lastPipeline: { id: number; status: RunStatus } | null;
  /** Why the last due time made no pipeline (rules, an unknown ref); null after one that did. */
  lastError: string | null;
  /** Why the server made it inactive ("schedule deactivated because its owner ..."). */
  deactivatedReason: string | null;
  createdAt: string;
  updatedAt: string;
}

/** Where pipeline notifications go: email (SMTP), a Slack-compatible or Microsoft Teams webhook, or a signed JSON webhook. */
export const NOTIFICATION_TYPES = ['email', 'slack', 'teams', 'webhook'] as const;
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];

/**
 * What a subscription is told about: a pipeline failed; succeeded after the previous finished
 * pipeline of its ref failed (`fixed`, GitLab's meaning); succeeded; waits for a manual action.
 */
export const NOTIFICATION_EVENTS = ['failed', 'fixed', 'success', 'manual'] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

/** A notification subscription: `GET /api/v1/repos/:name/notifications`, `GET /api/v1/user/notifications`. The secret is never shown. */
export interface NotificationJson {
  id: number;
  /** The repository, or null for a user's subscription to every repository they can read. */
  repo: string | null;
  /** The user whose own subscription it is; null for a repository's. */
  user: string | null;
  type: NotificationType;
  target: string;
  events: NotificationEvent[];
  /** Whether a webhook signs its bodies (the secret itself is write-only). */
  signed: boolean;
  active: boolean;
  createdBy: string;
  createdAt: string;
  /** What became of its newest message: pending (waiting, or retried after an error), sent, or failed (given up); null before the first. */
  lastDelivery: { status: string; at: string; result: string | null; error: string | null } | null;
}

export interface AgentJson {
  id: number;
  name: string;
  tags: string[];
  concurrency: number;
  version: string | null;
  /** Seen within one lease. */
  online: boolean;
  runningJobs: number;
  lastSeenAt: string | null;
}

/** A backup made by the leader's schedule or by `tandem backup create`. */
export interface BackupJson {
  id: string;
  destination: string;
  status: BackupStatus;
  startedAt: string;
  finishedAt: string | null;
  snapshotAt: string | null;
  bytes: number;
  bytesCopied: number;
  blobs: number;
  blobsCopied: number;
  madeBy: string;
  error: string | null;
}

/** A disaster-recovery drill: the latest backup restored into a scratch instance and checked. */
export interface DrillJson {
  id: number;
  backupId: string | null;
  destination: string;
  ok: boolean;
  startedAt: string;
  finishedAt: string;
  rtoSeconds: number | null;
  rpoSeconds: number | null;
  error: string | null;
  steps: unknown[];
}

/** `GET /api/v1/cluster`: server replicas and the leader, agents, the database, the newest backup and drill. */
export interface ClusterJson {
  replicas: { id: string; hostname: string; version: string; startedAt: string; lastSeenAt: string; alive: boolean; leader: boolean }[];
  agents: {
    online: number;
    busy: number;
    offline: number;
    /** Online ones first, then by last seen; a short list (the counts cover all). */
    list: AgentJson[];
  };
  database:
    | { engine: 'sqlite' }
    | {
        engine: 'postgresql';
        host: string | null;
        inRecovery: boolean;
        replication: {
          applicationName: string | null;
          state: string | null;
          syncState: string | null;
          replayLagBytes: number | null;
          replayLagSeconds: number | null;
        }[];
      };
  backup: { id?: string; status: string; startedAt: string; finishedAt: string | null } | null;
  drill: { id?: number; backupId?: string | null; ok: boolean; finishedAt: string } | null;
}

export interface UserJson {
  id: number;
  username: string;
  email: string | null;
  admin: boolean;
  /** False: no local password (the user signs in through an identity provider). */
  hasPassword: boolean;
  createdAt: string;
  lastLoginAt: string | null;
}

/** A member of a repository: a role given by hand, or one that follows the user's groups. */
export interface MemberJson {
  username: string;
  role: Role;
  source: 'manual' | 'groups';
  since: string;
}

/** A personal token as listed: never the token itself, which is shown once when it is made. */
export interface TokenJson {
  id: number;
  name: string;
  username: string;
  scopes: Scope[];
  expiresAt: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  expired: boolean;
}

/** A protected branch: only `allowedRole` and above run pipelines and manual jobs on it. */
export interface ProtectedBranchJson {
  id: number;
  /** A branch name or glob (`main`, `release/*`). */
  pattern: string;
  allowedRole: Role;
  createdAt: string;
}

/** An entry of the audit log: who did what, through which route, with what outcome. */
export interface AuditEntryJson {
  id: number;
  at: string;
  /** A username, `agent:ID`, `job:ID` or `anonymous`. */
  actor: string;
  /** user | agent | job | anonymous */
  actorKind: string;
  address: string | null;
  replica: string;
  action: string;
  method: string | null;
  route: string | null;
  /** The route's path parameters. */
  params: Record<string, string> | null;
  status: number | null;
  /** What the route adds (a role granted, a token's name and scopes); never secrets. */
  details: Record<string, unknown> | null;
}

/** `GET /api/v1/pipelines/:id/images`: what its jobs pushed (`artifacts:images`), pinned by digest. */
export interface PipelineImagesJson {
  pipelineId: number;
  images: PipelineImageJson[];
}

export interface PipelineImageJson {
  jobId: number;
  jobName: string;
  /** The ref the job declared, variables expanded (`registry.example.com/team/app:1a2b3c4d`). */
  ref: string;
  /** `registry/repository@sha256:...`: what a release deploys. */
  image: string;
  registry: string;
  repository: string;
  digest: string;
  /** A page about the image (Docker Hub, Quay, GHCR), else its manifest on the registry's API. */
  url: string;
}
