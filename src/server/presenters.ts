// Store rows as the API's JSON: each presenter returns its shape from src/api, so the compiler holds
// the two together.
import {
  WEBHOOK_PROVIDERS,
  type AgentJson,
  type AuditEntryJson,
  type BackupJson,
  type DrillJson,
  type EnvironmentJson,
  type ForgeDeliveryJson,
  type JobDetailJson,
  type JobJson,
  type PipelineCommitJson,
  type LinkedPipelineJson,
  type PipelineSummaryJson,
  type ProtectedBranchJson,
  type ReleaseJson,
  type ReleaseTargetJson,
  type SilenceView,
  type RepoForgeJson,
  type JobImageJson,
  type PipelineImageJson,
  type RepoRegistryJson,
  type RepoJson,
  type RepoCredentialJson,
  type ScheduleJson,
  type UserJson,
  type NotificationJson,
  type VariableJson,
} from '../api/index.js';
import { readAuditDetails, readAuditParams } from '../auth/index.js';
import { parseTargetSpec } from '../deploy/index.js';
import { commitDescription, commitTitle, type CommitInfo } from '../pipeline/index.js';
import { readDrillReport } from '../dr/index.js';
import { formatMatcher } from '../monitor/index.js';
import { readSilenceMatchers } from '../monitor/index.js';
import type { OutboxSummary } from '../outbox/index.js';
import { readSubscriptionEvents, type SubscriptionListing } from '../outbox/index.js';
import { imageWebUrl, parseImageRef } from '../artifacts/index.js';
import type { HostReleaseRow } from '../releases/index.js';
import { registryImageOf, repoPath } from '../repos/index.js';
import { describeKnownHosts, publicKeyFingerprint } from '../source/index.js';
import { readJobSpec, type LinkedPipeline, type Player } from '../scheduler/index.js';
import { scheduleVariableKeys, type ScheduleRow } from '../schedules/index.js';
import type { TestReportJson, TestSummaryJson } from '../api/index.js';
import type { TestReport, TestSummary } from '../reports/index.js';
import {
  readAgentTags,
  readBranchFilter,
  readJobTags,
  readPipelineCommit,
  readPipelineMergeRequest,
  readPipelineStages,
  readReleaseDeploySpec,
  readTagFilter,
} from '../store/index.js';
import type {
  Agent,
  AuditEntry,
  Backup,
  DrDrill,
  Environment,
  Job,
  Pipeline,
  ProtectedBranch,
  Release,
  Repo,
  Silence,
  User,
  Variable,
} from '../store/index.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** `runSeconds`: how long its jobs ran (scheduler's busySeconds), shown once it finished. */
export function pipelineView(p: Pipeline, repoName: string, runSeconds: number): PipelineSummaryJson {
  return {
    id: p.id,
    repo: repoName,
    status: p.status,
    ref: p.ref,
    tag: p.is_tag === 1,
    sha: p.sha,
    beforeSha: p.before_sha,
    source: p.source,
    name: p.name,
    configPath: p.config_path,
    error: p.error,
    stages: readPipelineStages(p),
    createdAt: iso(p.created_at),
    startedAt: iso(p.started_at),
    finishedAt: iso(p.finished_at),
    duration: p.started_at !== null && p.finished_at !== null ? runSeconds : null,
    mergeRequest: readPipelineMergeRequest(p),
    waitingForApproval: p.approval === 'waiting' && p.finished_at === null,
    approvedBy: p.approved_by,
    commit: commitView(readPipelineCommit(p)),
  };
}

export function linkedPipelineView(l: LinkedPipeline): LinkedPipelineJson {
  return {
    id: l.pipeline.id,
    repo: l.repoName,
    status: l.pipeline.status,
    source: l.pipeline.source,
    ref: l.pipeline.ref,
    triggerJob: l.triggerJob,
  };
}

function commitView(commit: CommitInfo | null): PipelineCommitJson | null {
  if (commit === null) return null;
  return { ...commit, title: commitTitle(commit.message), description: commitDescription(commit.message) };
}

export function jobView(j: Job): JobJson {
  const spec = readJobSpec(j);
  return {
    id: j.id,
    pipelineId: j.pipeline_id,
    name: j.name,
    stage: j.stage,
    status: j.status,
    attempt: j.attempt,
    retried: j.retried === 1,
    retryOf: j.retry_of,
    when: spec.when,
    needs: spec.needs?.map((n) => n.job) ?? null,
    allowFailure: j.allow_failure === 1,
    environment: spec.environment?.name ?? null,
    resourceGroup: j.resource_group,
    tags: readJobTags(j),
    exitCode: j.exit_code,
    failureReason: j.failure_reason,
    failureLine: j.failure_line !== null && j.failure_line_text !== null ? { number: j.failure_line, text: j.failure_line_text } : null,
    coverage: j.coverage,
    quarantinedTests: j.quarantined_tests === null ? null : (JSON.parse(j.quarantined_tests) as string[]),
    agentId: j.agent_id,
    timeout: j.timeout_seconds,
    createdAt: iso(j.created_at),
    queuedAt: iso(j.queued_at),
    scheduledAt: iso(j.scheduled_at),
    startedAt: iso(j.started_at),
    finishedAt: iso(j.finished_at),
    duration: j.started_at !== null && j.finished_at !== null ? (j.finished_at - j.started_at) / 1000 : null,
  };
}

/** GitLab's Ci::Pipeline#coverage: the average over the jobs not retried that have a coverage value. */
export function pipelineCoverage(jobs: Pick<Job, 'retried' | 'coverage'>[]): number | null {
  const values = jobs.filter((j) => j.retried === 0 && j.coverage !== null).map((j) => j.coverage as number);
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}

/** A job with every attempt of it (`attempts`: jobAttempts, first to latest). */
export function jobDetailView(j: Job, attempts: Job[], agentName: string | null): JobDetailJson {
  return {
    ...jobView(j),
    agentName,
    attempts: attempts.map((a) => {
      const v = jobView(a);
      return {
        id: v.id,
        attempt: v.attempt,
        status: v.status,
        exitCode: v.exitCode,
        failureReason: v.failureReason,
        startedAt: v.startedAt,
        finishedAt: v.finishedAt,
        duration: v.duration,
      };
    }),
  };
}

/** Where a release went (see ReleaseTargetJson), read from its stored deploy block. */
function targetView(release: Release): ReleaseTargetJson {
  const block = readReleaseDeploySpec(release);
  const strategy =
    typeof block.strategy === 'string'
      ? block.strategy.trim()
      : block.strategy && typeof block.strategy === 'object'
        ? (Object.keys(block.strategy)[0] ?? 'rolling')
        : 'rolling';
  try {
    const target = parseTargetSpec(block.target, 'deploy.target');
    const hosts = target.kind === 'ssh' ? target.hosts.map((h) => h.name) : target.kind === 'local' ? [`local:${target.dir}`] : [];
    return { kind: target.kind, hosts, strategy };
  } catch {
    const kind = block.target && typeof block.target === 'object' ? (Object.keys(block.target)[0] ?? 'unknown') : 'unknown';
    return { kind, hosts: [], strategy };
  }
}

/** What a list of releases (the timeline) adds: each one's approval (scheduler's playsOf) and commit title. */
export interface ReleaseListContext {
  plays: ReadonlyMap<number, Player & { at: number }>;
  titles: ReadonlyMap<string, string>;
}

/** The registry's page about a pinned image; null for a reference that no longer parses. */
function imageLink(image: string): string | null {
  try {
    const parsed = parseImageRef(image);
    return imageWebUrl(parsed, parsed.digest ?? '');
  } catch {
    return null;
  }
}

export function releaseView(r: Release, listed?: ReleaseListContext): ReleaseJson {
  const play = r.job_id === null ? undefined : listed?.plays.get(r.job_id);
  return {
    id: r.id,
    kind: r.kind,
    rollbackOf: r.rollback_of,
    status: r.status,
    statusReason: r.status_reason,
    decision: r.decision,
    version: r.version,
    sha: r.sha,
    ref: r.ref,
    digest: r.digest,
    image: r.image,
    imageUrl: r.image === null ? null : imageLink(r.image),
    pipelineId: r.pipeline_id,
    jobId: r.job_id,
    fencingToken: r.fencing_token,
    target: targetView(r),
    createdBy: r.created_by,
    createdAt: iso(r.created_at),
    finishedAt: iso(r.finished_at),
    ...(listed
      ? {
          approval: play ? { by: play.actor, comment: play.comment, at: new Date(play.at).toISOString() } : null,
          commitTitle: listed.titles.get(r.sha) ?? null,
        }
      : {}),
  };
}

export function environmentView(
  e: Environment,
  current: Release | null,
  latest: Release | null,
  hosts: readonly HostReleaseRow[],
): EnvironmentJson {
  return {
    name: e.name,
    tier: e.tier,
    url: e.url,
    protected: e.protected === 1,
    current: current ? releaseView(current) : null,
    latest: latest && latest.id !== current?.id ? releaseView(latest) : null,
    hosts: hosts.map((h) => ({ name: h.host, releaseId: h.releaseId, version: h.version, image: h.image, updatedAt: iso(h.updatedAt) })),
    createdAt: iso(e.created_at),
    updatedAt: iso(e.updated_at),
  };
}

export function forgeDeliveryView(s: OutboxSummary): ForgeDeliveryJson {
  return { lastSentAt: iso(s.lastSentAt), lastError: s.lastError, lastErrorAt: iso(s.lastErrorAt), pending: s.pending };
}

/** Where the repository's commit statuses go, without the credential; with the outbox's `delivery` summary when given. */
export function repoForgeView(repo: Repo, delivery?: ForgeDeliveryJson): RepoForgeJson | null {
  if (repo.forge_type === null || repo.forge_api_url === null || repo.forge_project === null) return null;
  return {
    type: repo.forge_type,
    apiUrl: repo.forge_api_url,
    project: repo.forge_project,
    statuses: repo.forge_statuses,
    hasToken: repo.forge_token !== null,
    appId: repo.forge_app_id,
    installationId: repo.forge_installation_id,
    ...(delivery ? { delivery } : {}),
  };
}

export function repoView(repo: Repo, opts: { externalUrl: string }, delivery?: ForgeDeliveryJson): RepoJson {
  return {
    id: repo.id,
    name: repo.name,
    path: repoPath(repo),
    url: repo.url,
    defaultBranch: repo.default_branch,
    pollInterval: repo.poll_interval_seconds,
    hasWebhookSecret: repo.webhook_secret !== null,
    hasUrlCredentials: repo.url_credentials !== null,
    credentials: repoCredentialView(repo),
    forkPullRequests: repo.fork_pull_requests,
    visibility: repo.visibility,
    quarantineFlakyTests: repo.quarantine_flaky_tests === 1,
    maxConcurrentJobs: repo.max_concurrent_jobs,
    branches: readBranchFilter(repo),
    tags: readTagFilter(repo),
    webhookUrls: Object.fromEntries(WEBHOOK_PROVIDERS.map((p) => [p, `${opts.externalUrl}/api/v1/hooks/${p}/${repo.name}`])),
    lastPolledAt: iso(repo.last_polled_at),
    createdAt: iso(repo.created_at)!,
    forge: repoForgeView(repo, delivery),
    registry: repoRegistryView(repo),
  };
}

/** The repository's registry, without the password. */
function repoRegistryView(repo: Repo): RepoRegistryJson | null {
  const image = registryImageOf(repo);
  if (repo.registry_host === null || image === null) return null;
  return {
    host: repo.registry_host,
    path: repo.registry_path,
    image,
    username: repo.registry_username,
    hasPassword: repo.registry_password !== null,
  };
}

function repoCredentialView(repo: Repo): RepoCredentialJson | null {
  if (repo.ssh_key !== null && repo.ssh_public_key !== null)
    return {
      type: 'ssh',
      publicKey: repo.ssh_public_key,
      keyFingerprint: publicKeyFingerprint(repo.ssh_public_key) ?? '',
      knownHosts: describeKnownHosts(repo.ssh_known_hosts ?? ''),
    };
  return repo.url_credentials !== null ? { type: 'token' } : null;
}

export function notificationView(s: SubscriptionListing): NotificationJson {
  return {
    id: s.id,
    repo: s.repo_name,
    user: s.username,
    type: s.type,
    target: s.target,
    events: readSubscriptionEvents(s.events, s.id),
    signed: s.secret !== null,
    active: s.active === 1,
    createdBy: s.created_by,
    createdAt: iso(s.created_at)!,
    lastDelivery: s.lastDelivery === null ? null : { ...s.lastDelivery, at: iso(s.lastDelivery.at)! },
  };
}

export function variableView(v: Variable): VariableJson {
  return {
    key: v.key,
    masked: v.masked === 1,
    protected: v.protected === 1,
    file: v.file === 1,
    createdAt: iso(v.created_at)!,
    updatedAt: iso(v.updated_at)!,
  };
}

export function scheduleView(s: ScheduleRow): ScheduleJson {
  return {
    id: s.id,
    repo: s.repo_name,
    description: s.description,
    cron: s.cron,
    timezone: s.timezone,
    ref: s.ref,
    variables: scheduleVariableKeys(s),
    active: s.active === 1,
    owner: s.owner_username,
    nextRunAt: iso(s.next_run_at)!,
    lastRunAt: iso(s.last_run_at),
    lastPipeline:
      s.last_pipeline_id === null || s.last_pipeline_status === null ? null : { id: s.last_pipeline_id, status: s.last_pipeline_status },
    lastError: s.last_error,
    deactivatedReason: s.deactivated_reason,
    createdAt: iso(s.created_at)!,
    updatedAt: iso(s.updated_at)!,
  };
}

/** An agent is online while it was seen within `onlineSince` (one lease). */
export function agentView(a: Agent, runningJobs: number, onlineSince: number): AgentJson {
  return {
    id: a.id,
    name: a.name,
    tags: readAgentTags(a),
    concurrency: a.concurrency,
    version: a.version,
    online: (a.last_seen_at ?? 0) >= onlineSince,
    runningJobs,
    lastSeenAt: iso(a.last_seen_at),
  };
}

export function backupView(b: Backup): BackupJson {
  return {
    id: b.id,
    destination: b.destination,
    status: b.status,
    startedAt: iso(b.started_at)!,
    finishedAt: iso(b.finished_at),
    snapshotAt: iso(b.snapshot_at),
    bytes: b.bytes,
    bytesCopied: b.bytes_copied,
    blobs: b.blobs,
    blobsCopied: b.blobs_copied,
    madeBy: b.made_by,
    error: b.error,
  };
}

export function drillView(d: DrDrill): DrillJson {
  return {
    id: d.id,
    backupId: d.backup_id,
    destination: d.destination,
    ok: d.ok === 1,
    startedAt: iso(d.started_at)!,
    finishedAt: iso(d.finished_at)!,
    rtoSeconds: d.rto_ms === null ? null : d.rto_ms / 1000,
    rpoSeconds: d.rpo_ms === null ? null : d.rpo_ms / 1000,
    error: d.error,
    steps: readDrillReport(d).steps,
  };
}

/** A pipeline's or job's test report; the cases already come failures first. */
export function testReportView(r: TestReport): TestReportJson {
  const summary = (s: TestSummary): TestSummaryJson => ({
    total: s.total,
    passed: s.passed,
    failed: s.failed,
    skipped: s.skipped,
    errors: s.errors,
    durationSeconds: s.duration_seconds,
  });
  return {
    summary: summary(r.summary),
    jobs: r.jobs.map((j) => ({
      jobId: j.job_id,
      jobName: j.job_name,
      stage: j.stage,
      summary: summary(j),
      files: j.files,
      casesDropped: j.cases_dropped,
    })),
    cases: r.cases.map((c) => ({
      jobId: Number(c.job_id),
      jobName: c.job_name,
      suite: c.suite,
      classname: c.classname,
      name: c.name,
      file: c.file,
      timeSeconds: c.time_seconds === null ? null : Number(c.time_seconds),
      status: c.status,
      message: c.message,
      trace: c.trace,
    })),
    matching: r.matching,
    nextOffset: r.nextOffset,
  };
}

export function protectedBranchView(p: ProtectedBranch): ProtectedBranchJson {
  return { id: p.id, pattern: p.pattern, allowedRole: p.allowed_role, createdAt: iso(p.created_at)! };
}

export function userView(u: User): UserJson {
  return {
    id: u.id,
    username: u.username,
    email: u.email,
    admin: u.admin === 1,
    hasPassword: u.password_hash !== null,
    createdAt: iso(u.created_at)!,
    lastLoginAt: iso(u.last_login_at),
  };
}

export function auditView(e: AuditEntry): AuditEntryJson {
  return {
    id: e.id,
    at: iso(e.at)!,
    actor: e.actor,
    actorKind: e.actor_kind,
    address: e.address,
    replica: e.replica,
    action: e.action,
    method: e.method,
    route: e.route,
    params: readAuditParams(e),
    status: e.status,
    details: readAuditDetails(e),
  };
}

export function silenceView(s: Silence, now: number): SilenceView {
  const matchers = readSilenceMatchers(s);
  return {
    id: s.id,
    matchers,
    match: matchers.map(formatMatcher),
    startsAt: iso(s.starts_at)!,
    endsAt: iso(s.ends_at)!,
    comment: s.comment,
    createdBy: s.created_by,
    createdAt: iso(s.created_at)!,
    state: s.ends_at <= now ? 'expired' : s.starts_at > now ? 'pending' : 'active',
  };
}

/** One image a job pushed, split for display, with a link to where people can look at it. */
export function pipelineImageView(job: { jobId: number; jobName: string }, { ref, image }: JobImageJson): PipelineImageJson {
  const parsed = parseImageRef(image);
  const digest = parsed.digest ?? '';
  return {
    jobId: job.jobId,
    jobName: job.jobName,
    ref,
    image,
    registry: parsed.registry,
    repository: parsed.repository,
    digest,
    url: imageWebUrl(parsed, digest),
  };
}
