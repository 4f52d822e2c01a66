// The wire contract between agents and servers. Both sides import these types, so a change here is
// a protocol change: keep it backwards compatible (agents and servers are upgraded one at a time).
import type { ManifestEntry } from '../artifacts/index.js';
import type { CompiledJob } from '../pipeline/index.js';

/** The job variable of a rollback job: the release it brings back (set by the server, read by the agent). */
export const ROLLBACK_OF_VARIABLE = 'TANDEM_ROLLBACK_OF';

/** What an http(s) repository URL carried before `user:password@` (a token, usually). */
export interface UrlCredentials {
  username: string;
  password: string;
}

/** A repository's SSH deploy key (OpenSSH format, no passphrase) and the host keys ssh may accept (known_hosts lines). */
export interface SshKeyCredentials {
  privateKey: string;
  knownHosts: string;
}

/** What git authenticates to a repository with: Basic credentials for http(s), a deploy key for ssh. */
export type GitCredentials = UrlCredentials | SshKeyCredentials;

export interface JobVariable {
  key: string;
  value: string;
  masked: boolean;
  /** GitLab's file type: the agent writes the value to a file and sets the variable to its path. */
  file: boolean;
}

export interface DependencyArtifacts {
  jobId: number;
  name: string;
  files: ManifestEntry[];
}

export interface JobPayload {
  jobId: number;
  pipelineId: number;
  attempt: number;
  /** Sent back with every write; the server refuses writes carrying an older token. */
  fencingToken: number;
  leaseMs: number;
  timeoutSeconds: number;
  /**
   * For the agent's own fetch of this job's repository, used for this checkout only and not kept:
   * `credentials` for an http(s) URL (the URL itself never holds any), `sshKey` for an ssh one.
   * Agents before `sshKey` existed ignore it (and fail to fetch a repository that needs it).
   */
  repo: { name: string; url: string; credentials?: UrlCredentials; sshKey?: SshKeyCredentials };
  sha: string;
  ref: string;
  job: CompiledJob;
  /** In precedence order (later wins), values not yet expanded. */
  variables: JobVariable[];
  dependencies: DependencyArtifacts[];
}

export interface RegisterAgentRequest {
  name: string;
  tags: string[];
  concurrency: number;
  version: string;
}

export interface RegisterAgentResponse {
  agentId: number;
  token: string;
  /** The tags the server gave the agent (older servers do not say). */
  tags?: string[];
}

/** The answer to an agent's announcement at start: its tags are the server's, set at registration or by an admin. */
export interface AnnounceResponse {
  agentId: number;
  tags?: string[];
}

export interface HeartbeatResponse {
  cancelRequested: boolean;
}

export type CompletionStatus = 'success' | 'failed' | 'canceled';

/** A piece of a job's log, numbered by the agent from 0; a re-sent number is stored once. */
export interface LogChunkBody {
  seq: number;
  data: string;
}

export interface CompleteRequest {
  fencingToken: number;
  status: CompletionStatus;
  exitCode: number | null;
  failureReason: string | null;
  /**
   * The job's last log chunks and its artifact manifest, recorded before the completion in the same
   * request (one round trip instead of three). Optional: older agents send them on their own
   * (`/log`, `/artifacts`), which servers still accept; older servers refuse them (400).
   */
  log?: LogChunkBody[];
  artifacts?: { files: ManifestEntry[]; expireInSeconds: number | null };
  /** The job's `artifacts:images`, pinned by the agent after it succeeded (servers before it refuse the field: 422). */
  images?: JobImageJson[];
}

/** An image a job pushed: the ref as declared (variables expanded) and the digest it had then. */
export interface JobImageJson {
  ref: string;
  /** `registry/repository@sha256:...`. */
  image: string;
}

/** Hosts per release status report (`hosts` of POST /api/v1/agent/jobs/:id/release/status); a target with more reports its first ones. */
export const MAX_REPORTED_HOSTS = 1000;
