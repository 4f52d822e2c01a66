// JSON shapes of the public API. Timestamps are ISO 8601; ids are numbers.
import { parseTargetSpec } from '../../deploy/targets/spec.js';
import type {
  Agent,
  Backup,
  DrDrill,
  Environment,
  Job,
  Pipeline,
  PipelineMergeRequest,
  Release,
  Repo,
  Variable,
} from '../../store/schema.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function pipelineView(p: Pipeline, repoName: string) {
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
    stages: JSON.parse(p.stages) as string[],
    createdAt: iso(p.created_at),
    startedAt: iso(p.started_at),
    finishedAt: iso(p.finished_at),
    duration: p.started_at !== null && p.finished_at !== null ? (p.finished_at - p.started_at) / 1000 : null,
    mergeRequest: p.merge_request === null ? null : (JSON.parse(p.merge_request) as PipelineMergeRequest),
    /** A fork's pipeline that runs once a maintainer approves it (POST /api/v1/pipelines/:id/approve). */
    waitingForApproval: p.approval === 'waiting' && p.finished_at === null,
    approvedBy: p.approved_by,
  };
}

export function jobView(j: Job) {
  const spec = JSON.parse(j.spec) as { when: string; needs: { job: string }[] | null; environment: { name: string } | null };
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
    tags: JSON.parse(j.tags) as string[],
    exitCode: j.exit_code,
    failureReason: j.failure_reason,
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

/** The JSON of one job, as clients (the CLI, tests) read it. */
export type JobJson = ReturnType<typeof jobView>;
/** The JSON of `GET /api/v1/pipelines/:id`. */
export type PipelineJson = ReturnType<typeof pipelineView> & { jobs: JobJson[] };

/**
 * Where a release went, read from its stored deploy block (as written in the pipeline file): the
 * target's kind and hosts, and the strategy across them. A target built from job variables is
 * resolved on the agent only, so it shows its kind alone.
 */
function targetView(deploySpec: string) {
  const block = JSON.parse(deploySpec) as { target?: unknown; strategy?: unknown };
  const strategy =
    typeof block.strategy === 'string'
      ? block.strategy.trim()
      : block.strategy && typeof block.strategy === 'object'
        ? (Object.keys(block.strategy)[0] ?? 'rolling')
        : 'rolling';
  try {
    const target = parseTargetSpec(block.target, 'deploy.target');
    const hosts = target.kind === 'ssh' ? target.hosts.map((h) => h.name) : target.kind === 'local' ? [`local:${target.dir}`] : [];
    return { kind: target.kind as string, hosts, strategy };
  } catch {
    const kind = block.target && typeof block.target === 'object' ? (Object.keys(block.target)[0] ?? 'unknown') : 'unknown';
    return { kind, hosts: [] as string[], strategy };
  }
}

export function releaseView(r: Release) {
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
    pipelineId: r.pipeline_id,
    jobId: r.job_id,
    fencingToken: r.fencing_token,
    target: targetView(r.deploy_spec),
    createdBy: r.created_by,
    createdAt: iso(r.created_at),
    finishedAt: iso(r.finished_at),
  };
}

export function environmentView(e: Environment, current: Release | null, latest: Release | null) {
  return {
    name: e.name,
    tier: e.tier,
    url: e.url,
    protected: e.protected === 1,
    current: current ? releaseView(current) : null,
    /** The newest release, when it is not the current one (deploying, failed, rolled back...). */
    latest: latest && latest.id !== current?.id ? releaseView(latest) : null,
    createdAt: iso(e.created_at),
    updatedAt: iso(e.updated_at),
  };
}

export function repoView(repo: Repo, opts: { externalUrl: string }) {
  return {
    id: repo.id,
    name: repo.name,
    url: repo.url,
    defaultBranch: repo.default_branch,
    pollInterval: repo.poll_interval_seconds,
    hasWebhookSecret: repo.webhook_secret !== null,
    /** The URL's credentials are stored apart, encrypted: `url` never shows them. */
    hasUrlCredentials: repo.url_credentials !== null,
    /** Pipelines of merge requests from forks: 'approval' (they wait for a maintainer) or 'run'. */
    forkPullRequests: repo.fork_pull_requests,
    branches: repo.branch_filter === null ? null : (JSON.parse(repo.branch_filter) as string[]),
    tags: repo.tag_filter === null ? null : (JSON.parse(repo.tag_filter) as string[]),
    webhookUrls: Object.fromEntries(
      ['github', 'gitlab', 'gitea', 'bitbucket'].map((p) => [p, `${opts.externalUrl}/api/v1/hooks/${p}/${repo.name}`]),
    ),
    lastPolledAt: iso(repo.last_polled_at),
    createdAt: iso(repo.created_at)!,
  };
}

/** A CI/CD variable without its value: values are encrypted at rest and only jobs see them. */
export function variableView(v: Variable) {
  return {
    key: v.key,
    masked: v.masked === 1,
    protected: v.protected === 1,
    file: v.file === 1,
    createdAt: iso(v.created_at)!,
    updatedAt: iso(v.updated_at)!,
  };
}

/** An agent is online while it was seen within `onlineSince` (one lease). */
export function agentView(a: Agent, runningJobs: number, onlineSince: number) {
  return {
    id: a.id,
    name: a.name,
    tags: JSON.parse(a.tags) as string[],
    concurrency: a.concurrency,
    version: a.version,
    online: (a.last_seen_at ?? 0) >= onlineSince,
    runningJobs,
    lastSeenAt: iso(a.last_seen_at),
  };
}

export function backupView(b: Backup) {
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

export function drillView(d: DrDrill) {
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
    steps: (JSON.parse(d.report) as { steps?: unknown[] }).steps ?? [],
  };
}
