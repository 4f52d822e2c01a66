// Table shapes for Kysely. Times are epoch milliseconds (integers) so that SQLite and PostgreSQL
// compare them the same way; JSON columns hold text (SQLite has no JSON type; PostgreSQL uses text
// too so that the SQL stays one dialect-neutral text).
import type { Generated, Insertable, Selectable, Updateable } from 'kysely';
import type {
  AlertStateValue,
  BackupStatus,
  ForgeStatuses,
  ForgeType,
  ForkPullRequests,
  NotificationType,
  PipelineMergeRequest,
  PipelineSource,
  ReleaseDecision,
  ReleaseKind,
  ReleaseStatus,
  RepoVisibility,
  Role,
  RunStatus,
  TestCaseStatus,
} from '../api/index.js';

// The columns' value sets are the API's (src/api): the views show them as stored.
export type {
  AlertStateValue,
  BackupStatus,
  ForgeStatuses,
  ForgeType,
  ForkPullRequests,
  NotificationType,
  PipelineMergeRequest,
  PipelineSource,
  ReleaseStatus,
  Role,
  RunStatus,
};

export type JobStatus = RunStatus;
export type PipelineStatus = RunStatus;

export interface RepoTable {
  id: Generated<number>;
  name: string;
  /** GitLab's project full path (`group/name`) for include:project and CI_PROJECT_PATH; null: the name. */
  path: string | null;
  url: string;
  default_branch: string;
  poll_interval_seconds: number; // 0: no polling
  /** Encrypted by `webhook_secret_key_id` (null: a plain secret stored before encryption at rest). */
  webhook_secret: string | null;
  webhook_secret_key_id: string | null;
  /** `user:password` of an http(s) URL, encrypted by `url_credentials_key_id`; `url` holds no credentials. */
  url_credentials: string | null;
  url_credentials_key_id: string | null;
  /** JSON {privateKey, knownHosts} of an SSH deploy key, encrypted by `ssh_key_key_id`: what git uses. */
  ssh_key: string | null;
  ssh_key_key_id: string | null;
  /** The deploy key's public half (`TYPE BASE64`) and its known hosts, plain, for display only. */
  ssh_public_key: string | null;
  ssh_known_hosts: string | null;
  /** Pipelines of merge requests from forks: 'approval' (wait for a maintainer) or 'run'. */
  fork_pull_requests: Generated<ForkPullRequests>;
  /** Migration 026: 'public' badges are readable without a token. */
  visibility: Generated<RepoVisibility>;
  /** JSON string[] of branch globs that start pipelines (pushes and polls); null: every branch. */
  branch_filter: string | null;
  /** JSON string[] of tag globs; null: every tag. */
  tag_filter: string | null;
  /** JSON map ref -> sha as last seen by polling or webhooks. */
  known_refs: string;
  last_polled_at: number | null;
  created_at: number;
  /** Where commit statuses go (migration 023); null: to no forge. */
  forge_type: Generated<ForgeType | null>;
  forge_api_url: Generated<string | null>;
  /** `owner/name`, or the forge's project id. */
  forge_project: Generated<string | null>;
  /** The forge token, encrypted by `forge_token_key_id`. */
  forge_token: Generated<string | null>;
  forge_token_key_id: Generated<string | null>;
  /** A GitHub App's id and private key (PEM, encrypted by `forge_app_key_key_id`): Checks runs. */
  forge_app_id: Generated<string | null>;
  forge_app_key: Generated<string | null>;
  forge_app_key_key_id: Generated<string | null>;
  /** The App's installation on the repository; null: looked up. */
  forge_installation_id: Generated<number | null>;
  /** 'pipeline': one status per pipeline; 'jobs': one per job as well. */
  forge_statuses: Generated<ForgeStatuses>;
  /** 0/1: a job whose only failing tests are known-flaky ones is allowed to fail (migration 031). */
  quarantine_flaky_tests: Generated<number>;
  /** The container registry jobs push to (migration 035): `host[:port]`; null: none. */
  registry_host: Generated<string | null>;
  /** The project path under the registry (CI_REGISTRY_IMAGE); null: the repository's path. */
  registry_path: Generated<string | null>;
  registry_username: Generated<string | null>;
  /** CI_REGISTRY_PASSWORD, encrypted by `registry_password_key_id`. */
  registry_password: Generated<string | null>;
  registry_password_key_id: Generated<string | null>;
  /** At most this many of the repository's jobs run at once (migration 040); null: no limit. */
  max_concurrent_jobs: Generated<number | null>;
}

export interface VariableTable {
  id: Generated<number>;
  repo_id: number;
  key: string;
  value: string;
  masked: number; // 0/1: booleans are integers in both backends
  protected: number;
  file: number;
  created_at: number;
  updated_at: number;
  /** The data key `value` is encrypted with; null: a plain value stored before encryption at rest. */
  data_key_id: string | null;
}

/** Keys that encrypt secrets, stored wrapped (encrypted) by the master key. */
export interface DataKeyTable {
  id: string;
  wrapped_key: string;
  /** Fingerprint of the master key that wrapped it (tells a wrong key from a corrupt row). */
  master_key_id: string;
  state: 'active' | 'retired';
  created_at: number;
  retired_at: number | null;
}

/** Keys that sign the tokens Tandem issues (job ID tokens); public halves are published as JWKS. */
export interface SigningKeyTable {
  kid: string;
  alg: string;
  public_jwk: string;
  /** PKCS#8 PEM, encrypted by `data_key_id`. */
  private_key: string;
  data_key_id: string;
  state: 'active' | 'retired';
  created_at: number;
  retired_at: number | null;
  publish_until: number | null;
}

export interface EventTable {
  id: Generated<number>;
  repo_id: number;
  provider: string; // github | gitlab | gitea | bitbucket | poll | api
  delivery_id: string;
  kind: string; // push | tag | merge_request
  ref: string;
  sha: string;
  before_sha: string | null;
  received_at: number;
  pipeline_id: number | null;
  /** sha256 of the delivery's body (and the event's index in it): a replay under a new delivery id has the same. */
  payload_digest: Generated<string | null>;
}

export interface PipelineTable {
  id: Generated<number>;
  repo_id: number;
  ref: string;
  /** 1 when ref is a tag. */
  is_tag: number;
  sha: string;
  before_sha: string | null;
  source: PipelineSource;
  status: PipelineStatus;
  name: string | null;
  config_path: string | null;
  /** Compile error text (with file:line:column) when the pipeline file was invalid. */
  error: string | null;
  /** JSON: global variables of the compiled pipeline plus trigger variables. */
  variables: string;
  /** JSON: stage names in order. */
  stages: string;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  /** JSON PipelineMergeRequest of a merge request pipeline; null for every other pipeline. */
  merge_request: Generated<string | null>;
  /** 'waiting' while a fork's pipeline waits for a maintainer, then 'approved'; null: it needed none. */
  approval: Generated<PipelineApproval | null>;
  approved_by: Generated<string | null>;
  approved_at: Generated<number | null>;
  /** The commit's message, author ("Name <email>") and ISO 8601 date; null in rows made before they were recorded. */
  commit_message: Generated<string | null>;
  commit_author: Generated<string | null>;
  commit_timestamp: Generated<string | null>;
  /** A downstream pipeline: the pipeline and the trigger job that started it; null for every other pipeline. */
  parent_pipeline_id: Generated<number | null>;
  trigger_job_id: Generated<number | null>;
}

export type PipelineApproval = 'waiting' | 'approved';

export interface JobTable {
  id: Generated<number>;
  pipeline_id: number;
  repo_id: number;
  name: string;
  stage: string;
  stage_index: number;
  status: JobStatus;
  /** JSON CompiledJob. */
  spec: string;
  /** 1 for a `trigger:` job: the server starts its downstream pipeline, no agent claims it. */
  is_trigger: Generated<number>;
  /** 1-based; a retry or a lost-agent requeue creates a new row with attempt + 1. */
  attempt: number;
  /** The row this one retries. */
  retry_of: number | null;
  /** 1 once a newer attempt exists: the pipeline's status ignores retried rows. */
  retried: number;
  allow_failure: number;
  resource_group: string | null;
  interruptible: number;
  /** JSON string[]. */
  tags: string;
  timeout_seconds: number;
  exit_code: number | null;
  /** GitLab's failure reasons: script_failure, job_execution_timeout, runner_system_failure, ... */
  failure_reason: string | null;
  agent_id: number | null;
  fencing_token: number | null;
  lease_expires_at: number | null;
  cancel_requested: number;
  /** Why cancel_requested was set: 'user' (cancel, auto-cancel) or 'timeout' (the server enforces timeouts). */
  cancel_reason: 'user' | 'timeout' | null;
  /** started_at + timeout, set when the job is claimed. */
  deadline_at: number | null;
  /** The token that completed the job, so the same agent may repeat its completion or last log chunks. */
  completed_token: number | null;
  /** UTF-8 bytes of log stored for the job, against maxJobLogBytes. */
  log_bytes: Generated<number>;
  /** 1 once the log reached maxJobLogBytes: later chunks are dropped (one notice says so). */
  log_truncated: Generated<number>;
  /** sha256 of the log's blob once the finished job's log moved to the artifact store (then authoritative); null while in job_logs. */
  log_blob: string | null;
  /** Bytes of that blob (gzipped), for backups. */
  log_blob_size: number | null;
  /** Set when a user played a manual job (or retried a manual/delayed one): later attempts run at once. */
  played_at: number | null;
  /** Who played it (a username; on a protected environment, the approver), and the comment they gave. */
  played_by: string | null;
  play_comment: string | null;
  created_at: number;
  queued_at: number | null;
  /** The environment the job deploys to (its `environment:` with a `deploy:` block), for the deploy lock. */
  environment: string | null;
  /** sha256 of the job's CI_JOB_TOKEN, set when an agent claims it; valid while the job runs. */
  job_token_hash: string | null;
  /** For `when: delayed`: when the job becomes pending. */
  scheduled_at: number | null;
  started_at: number | null;
  finished_at: number | null;
  /** JSON {KEY: value}: the variables of the job's artifacts:reports:dotenv, for the jobs after it. */
  dotenv: string | null;
  /** JSON [{ref, image}] (migration 035): the `artifacts:images` of a job that succeeded, pinned by digest. */
  images: Generated<string | null>;
  /** The percentage the job's `coverage:` regex found in its log when it ended; null without one (migration 025). */
  coverage: number | null;
  /** A failed job's log line where it failed (1-based, as the job page numbers lines) and its plain text; null otherwise (migration 029). */
  failure_line: number | null;
  failure_line_text: string | null;
  /** JSON list of the known-flaky tests that made this failed job allowed to fail (migration 031). */
  quarantined_tests: Generated<string | null>;
  /** 1 when the job waits for its `needs:` (listed in job_needs), 0 when for the earlier stages (migration 033). */
  has_needs: Generated<number>;
}

/** "`name` needs `need`", within a pipeline, by job name (every attempt of a job shares them; migration 033). */
export interface JobNeedTable {
  id: Generated<number>;
  pipeline_id: number;
  name: string;
  need: string;
}

/** One file of a job's `artifacts:reports:coverage_report`, summarized (migration 028). */
export interface CoverageReportTable {
  id: Generated<number>;
  job_id: number;
  path: string;
  format: string;
  /** JSON CoberturaSummaryJson; null when the report could not be read. */
  summary: string | null;
  /** "file:line:column: reason" when the report could not be read. */
  error: string | null;
  created_at: number;
}

/** Who is told about a repository's pipelines (user_id null), or a user's own subscription (repo_id null: every repository they can read). */
export interface NotificationSubscriptionTable {
  id: Generated<number>;
  repo_id: number | null;
  user_id: number | null;
  type: NotificationType;
  /** Email addresses (comma-separated) or a URL. */
  target: string;
  /** JSON NotificationEvent[]. */
  events: string;
  /** A webhook's signing secret, encrypted by `secret_key_id`; never shown. */
  secret: string | null;
  secret_key_id: string | null;
  created_by: string;
  created_at: number;
  active: Generated<number>;
}

export interface JobLogTable {
  job_id: number;
  seq: number;
  data: string;
  created_at: number;
}

/** A job's `artifacts:reports:junit` file (migration 027); its blob is kept while the row exists. */
export interface TestReportFileTable {
  id: Generated<number>;
  job_id: number;
  path: string;
  digest: string;
  size: number;
  /** "file:line:column: reason" when the server could not read it; its cases are then not counted. */
  error: string | null;
}

/** A job's test summary, counted from its JUnit reports' cases. */
export interface TestReportTable {
  job_id: number;
  pipeline_id: number;
  total: number;
  passed: number;
  failed: number;
  skipped: number;
  errors: number;
  duration_seconds: number;
  /** Cases counted but not stored, past the per-job cap. */
  cases_dropped: number;
  created_at: number;
}

/** One test case of a job's JUnit reports; (repo_id, case_key) follows it across pipelines. */
export interface TestCaseTable {
  id: Generated<number>;
  job_id: number;
  pipeline_id: number;
  repo_id: number;
  /** sha256 hex of the case's suite, classname and name (see src/reports/case-key.ts). */
  case_key: string;
  suite: string;
  classname: string;
  name: string;
  file: string | null;
  time_seconds: number | null;
  status: TestCaseStatus;
  message: string | null;
  trace: string | null;
}

/** A test case that failed and then passed on a retry of the same commit (migration 031). */
export interface FlakyTestTable {
  id: Generated<number>;
  repo_id: number;
  case_key: string;
  suite: string;
  classname: string;
  name: string;
  flips: number;
  first_seen_at: number;
  last_seen_at: number;
  last_job_id: number;
  last_pipeline_id: number;
  last_sha: string;
}

export interface ArtifactFileTable {
  id: Generated<number>;
  job_id: number;
  path: string;
  digest: string; // sha256 hex
  size: number;
  mode: number;
  expires_at: number | null;
  created_at: number;
}

/** The release a host of an environment runs, as its deploying agent last reported (migration 039). */
export interface EnvironmentHostTable {
  environment_id: number;
  /** The target's name for the host (`deploy@10.0.0.6`, `local:web-a`, a cluster's namespace). */
  host: string;
  release_id: number;
  updated_at: number;
}

/** A blob to delete once no row lists it any more (migration 038). */
export interface BlobSweepTable {
  digest: string;
  queued_at: number;
}

export interface CacheEntryTable {
  id: Generated<number>;
  repo_id: number;
  key: string;
  /** JSON list of {path, digest, size, mode}. */
  manifest: string;
  updated_at: number;
}

export interface AgentTable {
  id: Generated<number>;
  name: string;
  token_hash: string;
  tags: string; // JSON string[]
  concurrency: number;
  version: string | null;
  last_seen_at: number | null;
  created_at: number;
  /** The presence stream that is current; a broken older one must not mark the agent gone. */
  presence_id: string | null;
  /** When the current presence stream broke on the agent's side; null while connected. */
  disconnected_at: number | null;
}

/** Personal API tokens: each belongs to a user and acts as that user within its scopes. */
export interface TokenTable {
  id: Generated<number>;
  name: string;
  kind: string; // personal
  token_hash: string;
  user_id: number | null;
  /** JSON Scope[]: api, read_api, register_agent (default ["api"]). */
  scopes: Generated<string>;
  expires_at: number | null;
  created_at: number;
  last_used_at: number | null;
}

export interface UserTable {
  id: Generated<number>;
  username: string;
  email: string | null;
  /** argon2id PHC string; null: no local password. */
  password_hash: string | null;
  admin: number;
  /** 1 when admin was granted by an identity provider's groups (and may be taken back by them). */
  admin_from_groups: number;
  created_at: number;
  updated_at: number;
  last_login_at: number | null;
}

/** An account at an identity provider (OIDC, LDAP, SAML) linked to a Tandem user. */
export interface IdentityTable {
  id: Generated<number>;
  user_id: number;
  provider: string;
  subject: string;
  created_at: number;
  last_login_at: number | null;
  /** When the provider last vouched for the account (a sign-in, or a re-check of the directory). */
  checked_at: number | null;
  /** When a re-check found the account gone or disabled at the provider; null: not disabled. */
  disabled_at: number | null;
}

export interface MembershipTable {
  repo_id: number;
  user_id: number;
  role: Role;
  /** 'manual' (the API) or 'groups' (an identity provider's groups, recomputed at each login). */
  source: 'manual' | 'groups';
  created_at: number;
  updated_at: number;
}

export interface SessionTable {
  id: Generated<number>;
  token_hash: string;
  user_id: number;
  created_at: number;
  expires_at: number;
  last_seen_at: number;
  address: string | null;
  user_agent: string | null;
}

export interface ProtectedBranchTable {
  id: Generated<number>;
  repo_id: number;
  /** A branch name or glob (`main`, `release/*`). */
  pattern: string;
  /** The least role that may run pipelines and manual jobs on a matching branch. */
  allowed_role: Role;
  created_at: number;
}

export interface LoginFailureTable {
  /** 'local:NAME', 'ldap:NAME', 'ldap-entry:ENTRY' or 'address:IP' (src/auth/login.ts). */
  key: string;
  failures: number;
  window_started_at: number;
  locked_until: number | null;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: number;
  replica: string;
  /** user | agent | job | anonymous */
  actor_kind: string;
  actor_id: number | null;
  /** A username, `agent:ID`, `job:ID` or `anonymous`. */
  actor: string;
  address: string | null;
  action: string;
  method: string | null;
  route: string | null;
  /** JSON of the route's path parameters. */
  params: string | null;
  status: number | null;
  /** JSON of what the route adds (a role granted, a token's name and scopes); never secrets. */
  details: string | null;
}

/** Named monotonic counters (the fencing token). */
export interface CounterTable {
  name: string;
  value: number;
}

/** A pipeline schedule (migration 021): the leader runs `ref` at the cron pattern's times in `timezone`. */
export interface ScheduleTable {
  id: Generated<number>;
  repo_id: number;
  description: string;
  /** 5 fields (minute precision) or 6 (seconds first), as croner reads them. */
  cron: string;
  /** IANA name (Europe/Berlin) or UTC. */
  timezone: string;
  /** A branch or tag name. */
  ref: string;
  /** Sealed JSON {KEY: value} (keyring column SCHEDULE_VARIABLES); null: none. */
  variables: string | null;
  variables_key_id: string | null;
  /** JSON string[]: the variables' names, shown without opening the values. */
  variable_keys: string;
  active: number;
  /** Whose permissions the schedule runs with; null once that user is deleted. */
  owner_user_id: number | null;
  /** The next due time (epoch ms); the claim of a run moves it on by compare-and-set. */
  next_run_at: number;
  last_run_at: number | null;
  last_pipeline_id: number | null;
  /** Why the last due time made no pipeline (unknown ref, rules); null after a run that made one. */
  last_error: string | null;
  /** Why the server made the schedule inactive (its owner lost access); null when a person did. */
  deactivated_reason: string | null;
  created_at: number;
  updated_at: number;
}

/** Leader election and other singleton leases (used by the HA work). */
export interface LeaseTable {
  name: string;
  holder: string;
  epoch: number;
  expires_at: number;
}

export interface EnvironmentTable {
  id: Generated<number>;
  repo_id: number;
  name: string;
  /** GitLab's deployment_tier: production, staging, testing, development, other. */
  tier: string | null;
  url: string | null;
  /** Deploys to a protected environment wait for an approval. */
  protected: number;
  created_at: number;
  updated_at: number;
}

export interface ReleaseTable {
  id: Generated<number>;
  environment_id: number;
  repo_id: number;
  pipeline_id: number | null;
  /** The job that deploys it; unique, so an agent's retried request finds the same release. */
  job_id: number | null;
  /** 'deploy', or 'rollback' (a release of an older one's files, made by a rollback). */
  kind: ReleaseKind;
  /** For a rollback: the release whose files it brings back. */
  rollback_of: number | null;
  sha: string;
  ref: string;
  version: string;
  /** JSON ManifestEntry[]: the release's files, blobs in the artifact store. */
  files: string;
  /** sha256 over the manifest and the image: two releases with the same digest deploy the same thing. */
  digest: string;
  /** The image pinned by digest (`registry/name@sha256:...`) for container and kubernetes targets; null for files only. */
  image: string | null;
  /** JSON DeploySpec it was deployed with, so a rollback needs neither the pipeline file nor git. */
  deploy_spec: string;
  /** JSON string[]: the deploy job's tags, so a rollback runs on an agent that reaches the target. */
  tags: string;
  fencing_token: number | null;
  status: ReleaseStatus;
  status_reason: string | null;
  /** A human's answer to a paused release: 'promote' or 'abort'. */
  decision: ReleaseDecision | null;
  /** "pipeline #12", or who asked for a rollback. */
  created_by: string;
  created_at: number;
  finished_at: number | null;
}

/** Bad and total events of a built-in SLI per minute, summed over the replicas that counted them. */
export interface SliCountTable {
  sli: string;
  /** Start of the minute, epoch milliseconds. */
  bucket: number;
  errors: number;
  total: number;
}

/** An OpenID Connect login between the redirect to the provider and its callback (migration 011). */
export interface SsoOidcLoginTable {
  state: string;
  code_verifier: string;
  nonce: string;
  /** Where the browser goes once signed in: a path on this server. */
  return_to: string;
  created_at: number;
  expires_at: number;
  /** The client address that started it (migration 015): starts are capped per address. */
  address: string | null;
}

/** A SAML AuthnRequest sent and not answered yet (migration 011). */
export interface SsoSamlRequestTable {
  id: string;
  return_to: string;
  issued_at: number;
  expires_at: number;
  /** The client address that started it (migration 015): starts are capped per address. */
  address: string | null;
}

/** A device's sign-in waiting for a user's decision, then for the device to take its token (migration 012). */
export interface DeviceLoginTable {
  id: Generated<number>;
  device_code_hash: string;
  user_code: string;
  name: string;
  address: string | null;
  token_lifetime_ms: number | null;
  status: 'pending' | 'approved' | 'denied';
  user_id: number | null;
  decided_at: number | null;
  interval_ms: number;
  last_polled_at: number | null;
  created_at: number;
  expires_at: number;
}

/** A server replica's heartbeat: a row missing its beats for two leases raises TandemReplicaDown. */
export interface ReplicaTable {
  id: string;
  hostname: string;
  version: string;
  started_at: number;
  last_seen_at: number;
}

export interface AlertTable {
  id: Generated<number>;
  fingerprint: string;
  name: string;
  severity: string;
  source: string;
  /** JSON Record<string, string>, alertname and severity included. */
  labels: string;
  /** JSON Record<string, string>: summary, description, runbook_url... */
  annotations: string;
  value: number | null;
  state: AlertStateValue;
  /** When its condition first held. */
  active_at: number;
  fired_at: number | null;
  resolved_at: number | null;
  updated_at: number;
  /** The silence that matched it at its last evaluation. */
  silenced_by: number | null;
}

export type NotificationStatus = 'pending' | 'sent' | 'failed';

/** The outbox: a message to one notifier (or an action) about one alert's change. */
export interface AlertNotificationTable {
  id: Generated<number>;
  alert_id: number;
  notifier: string;
  event: 'firing' | 'resolved';
  status: NotificationStatus;
  attempts: number;
  next_attempt_at: number;
  claimed_until: number | null;
  created_at: number;
  sent_at: number | null;
  last_error: string | null;
  /** What an action did (a rollback's outcome). */
  result: string | null;
}

export type OutboxStatus = 'pending' | 'sent' | 'superseded' | 'failed';

/** A message for the world outside (a forge status, a notification): see src/outbox. */
export interface OutboxTable {
  id: Generated<number>;
  topic: string;
  key: string;
  repo_id: number | null;
  /** JSON: what the topic's handler sends. */
  payload: string;
  /** 1: only the newest pending message of its key is sent; older ones are superseded. */
  coalesce: number;
  status: OutboxStatus;
  attempts: number;
  next_attempt_at: number;
  /** Set while a replica sends it; a claim that expired means that attempt's outcome is unknown. */
  claimed_until: number | null;
  claimed_by: string | null;
  created_at: number;
  sent_at: number | null;
  last_error: string | null;
  last_error_at: number | null;
  /** What the handler did ("sent", "unchanged", ...). */
  result: string | null;
}

export interface SilenceTable {
  id: Generated<number>;
  /** JSON Matcher[]. */
  matchers: string;
  starts_at: number;
  ends_at: number;
  comment: string;
  created_by: string;
  created_at: number;
}

export interface DeployFreezeTable {
  id: Generated<number>;
  repo: string;
  environment: string;
  slo: string;
  alert_id: number | null;
  started_at: number;
  lifted_at: number | null;
}

export interface FreezeOverrideTable {
  id: Generated<number>;
  freeze_id: number;
  job_id: number;
  actor: string;
  created_at: number;
}

export interface SloEvaluationTable {
  slo: string;
  /** JSON SloEvaluation of the last evaluation that worked. */
  evaluation: string | null;
  /** Why the last evaluation failed (Prometheus unreachable...); null when it worked. */
  error: string | null;
  evaluated_at: number;
}

export interface AlertingStateTable {
  key: string;
  value: string;
  updated_at: number;
}

/** A backup made by the leader's schedule or by `tandem backup create` (the backup itself is at its destination). */
export interface BackupTable {
  id: string;
  destination: string;
  status: BackupStatus;
  started_at: number;
  finished_at: number | null;
  snapshot_at: number | null;
  bytes: number;
  bytes_copied: number;
  blobs: number;
  blobs_copied: number;
  made_by: string;
  error: string | null;
}

/** A disaster-recovery drill: the latest backup restored into a scratch instance and checked. */
export interface DrDrillTable {
  id: Generated<number>;
  backup_id: string | null;
  destination: string;
  started_at: number;
  finished_at: number;
  ok: number;
  rto_ms: number | null;
  rpo_ms: number | null;
  error: string | null;
  /** JSON DrillReport. */
  report: string;
}

export interface Database {
  repos: RepoTable;
  variables: VariableTable;
  events: EventTable;
  pipelines: PipelineTable;
  jobs: JobTable;
  job_needs: JobNeedTable;
  job_logs: JobLogTable;
  coverage_reports: CoverageReportTable;
  notification_subscriptions: NotificationSubscriptionTable;
  artifact_files: ArtifactFileTable;
  test_report_files: TestReportFileTable;
  test_reports: TestReportTable;
  test_cases: TestCaseTable;
  flaky_tests: FlakyTestTable;
  cache_entries: CacheEntryTable;
  blob_sweeps: BlobSweepTable;
  environment_hosts: EnvironmentHostTable;
  agents: AgentTable;
  tokens: TokenTable;
  counters: CounterTable;
  leases: LeaseTable;
  environments: EnvironmentTable;
  releases: ReleaseTable;
  data_keys: DataKeyTable;
  signing_keys: SigningKeyTable;
  sli_counts: SliCountTable;
  users: UserTable;
  identities: IdentityTable;
  memberships: MembershipTable;
  sessions: SessionTable;
  protected_branches: ProtectedBranchTable;
  login_failures: LoginFailureTable;
  audit_log: AuditLogTable;
  sso_oidc_logins: SsoOidcLoginTable;
  sso_saml_requests: SsoSamlRequestTable;
  device_logins: DeviceLoginTable;
  replicas: ReplicaTable;
  alerts: AlertTable;
  alert_notifications: AlertNotificationTable;
  outbox: OutboxTable;
  silences: SilenceTable;
  deploy_freezes: DeployFreezeTable;
  freeze_overrides: FreezeOverrideTable;
  slo_evaluations: SloEvaluationTable;
  alerting_state: AlertingStateTable;
  backups: BackupTable;
  dr_drills: DrDrillTable;
  schedules: ScheduleTable;
}

export type Repo = Selectable<RepoTable>;
export type Pipeline = Selectable<PipelineTable>;
export type Schedule = Selectable<ScheduleTable>;
export type Job = Selectable<JobTable>;
export type NotificationSubscription = Selectable<NotificationSubscriptionTable>;
export type NewJob = Insertable<JobTable>;
export type NewJobNeed = Insertable<JobNeedTable>;
export type JobUpdate = Updateable<JobTable>;
export type Variable = Selectable<VariableTable>;
export type DataKey = Selectable<DataKeyTable>;
export type SigningKey = Selectable<SigningKeyTable>;
export type Agent = Selectable<AgentTable>;
export type Environment = Selectable<EnvironmentTable>;
export type Release = Selectable<ReleaseTable>;
export type ArtifactFile = Selectable<ArtifactFileTable>;
export type TestCase = Selectable<TestCaseTable>;
export type FlakyTest = Selectable<FlakyTestTable>;
export type CacheEntry = Selectable<CacheEntryTable>;
export type User = Selectable<UserTable>;
export type ProtectedBranch = Selectable<ProtectedBranchTable>;
export type AuditEntry = Selectable<AuditLogTable>;
export type Backup = Selectable<BackupTable>;
export type DrDrill = Selectable<DrDrillTable>;
export type Alert = Selectable<AlertTable>;
export type AlertNotification = Selectable<AlertNotificationTable>;
export type OutboxRow = Selectable<OutboxTable>;
export type Silence = Selectable<SilenceTable>;
export type DeployFreeze = Selectable<DeployFreezeTable>;
