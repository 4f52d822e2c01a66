// From "something happened at this commit" (a push, a poll, an API call) to a stored pipeline:
// read the pipeline file at the commit, compile it with the commit's variables, store pipeline and
// jobs in one transaction, and cancel older interruptible pipelines on the same ref. The status
// changes are returned for the caller to publish.
import { pipelineProtectedRole } from '../auth/index.js';
import { DomainError } from '../errors.js';
import { maskText } from '../executor/index.js';
import { asksToSkipCi, compileIsolated, formatDiagnostic, predefinedVariables, scrubShownText } from '../pipeline/index.js';
import { includableProject, repoPath, repoVariablesFor, type RepoSecretsContext } from '../repos/index.js';
import type { IncludeResolver, MirrorCache } from '../source/index.js';
import type { PipelineMergeRequest, PipelineSource, Repo } from '../store/index.js';
import { DuplicateDeliveryError } from './errors.js';
import type { StatusChange } from './events.js';
import { autoCancelInterruptible } from './sql/auto-cancel.js';
import { createPipeline, type CreatePipelineInput } from './sql/create-pipeline.js';
import { earlierDelivery, recordDelivery, type Delivery } from './sql/deliveries.js';

export const PIPELINE_FILES = ['.tandem.yml', '.gitlab-ci.yml'];

const SKIP_CI_SOURCES = new Set<PipelineSource>(['push', 'merge_request_event']);

/**
 * What a trigger needs besides its input: the store and the keyring of the variables, the mirrors
 * the pipeline file is read from, the limits of the pipeline, the server's URL (CI_SERVER_URL), and
 * the clock: the pipeline is stamped once its file is read, after a fetch that may take a while.
 */
export interface TriggerContext extends RepoSecretsContext {
  mirrors: MirrorCache;
  config: { jobTimeoutSeconds: number; maxPipelineJobs: number };
  externalUrl: string;
  clock: { now(): number };
  /** The compile worker's module (src/deploy supplies it, with its deploy-block check). */
  compileWorker: URL;
  /** Reads what include:project, component, remote and template name; without it they are errors. */
  includes?: IncludeResolver;
}

export interface TriggerInput {
  repo: Repo;
  /** Full ref (refs/heads/x, refs/tags/v1) or a short branch/tag name. */
  ref: string;
  sha?: string;
  beforeSha?: string | null;
  source: PipelineSource;
  variables?: Record<string, string>;
  /** The webhook delivery or poll behind it, recorded with the pipeline (see `triggerForDelivery`). */
  event?: Delivery;
  /** Refuses (throws) a ref the caller may not run pipelines on, once the ref is resolved (protected branches). */
  authorizeRef?: (ref: { name: string; isTag: boolean }) => Promise<void>;
  /** A merge request pipeline: `ref` is the forge's merge request ref and `sha` is required. */
  mergeRequest?: PipelineMergeRequest;
  /** A fork's pipeline that must wait for a maintainer's approval before any job starts. */
  awaitingApproval?: boolean;
  /**
   * A child pipeline's file, made by the trigger job (`include:` of its entries) instead of the
   * commit's pipeline file; `files` (artifacts of the parent pipeline) are read before the commit's.
   */
  pipelineFile?: { path: string; content: string; files: Record<string, string> };
  /** A downstream pipeline: the pipeline and trigger job that start it (see createPipeline). */
  upstream?: { pipelineId: number; triggerJobId: number };
  /** Work that commits with the pipeline or not at all (see createPipeline): a schedule's claim of its due time. */
  claim?: CreatePipelineInput['claim'];
}

/** A pipeline and the status changes to publish, or why none was made (`workflow:rules` or rules that leave no job). */
export type TriggerResult =
  { pipelineId: number; status: string; changes: StatusChange[] } | { pipelineId: null; skippedReason: string; changes: [] };

/** Splits a ref into the short name and whether it is a tag; short names are looked up in the repository. */
async function resolveRef(ctx: TriggerContext, repo: Repo, ref: string, sha: string | undefined, mergeRequest: boolean) {
  // A merge request ref (refs/pull/1/head) is not a branch: it is built at the payload's sha, never looked up by name.
  if (mergeRequest) {
    if (!ref.startsWith('refs/') || sha === undefined)
      throw new DomainError('invalid', `repository ${repo.name}: a merge request pipeline needs the forge's ref and a sha`);
    return { name: ref, isTag: false, sha };
  }
  if (ref.startsWith('refs/heads/')) return { name: ref.slice('refs/heads/'.length), isTag: false, sha };
  if (ref.startsWith('refs/tags/')) return { name: ref.slice('refs/tags/'.length), isTag: true, sha };
  const branchSha = await ctx.mirrors.resolveRef(repo.url, `refs/heads/${ref}`);
  if (branchSha) return { name: ref, isTag: false, sha: sha ?? branchSha };
  const tagSha = await ctx.mirrors.resolveRef(repo.url, `refs/tags/${ref}`);
  if (tagSha) return { name: ref, isTag: true, sha: sha ?? tagSha };
  throw new DomainError('invalid', `repository ${repo.name}: unknown branch or tag "${ref}"`);
}

export async function triggerPipeline(ctx: TriggerContext, input: TriggerInput): Promise<TriggerResult> {
  const { repo } = input;
  // A push names its ref: a missing sha is fetched with that ref alone, not every ref of the remote.
  await ctx.mirrors.ensure(repo.url, { sha: input.sha, ref: input.ref });
  const ref = await resolveRef(ctx, repo, input.ref, input.sha, input.mergeRequest !== undefined);
  await input.authorizeRef?.(ref);
  if (!ref.sha) throw new DomainError('invalid', `repository ${repo.name}: cannot resolve "${input.ref}" to a commit`);
  const sha = ref.sha;

  // Side by side: the commit's details (CI_COMMIT_MESSAGE...) add no wait to the webhook's path.
  const [found, commit] = await Promise.all([
    input.pipelineFile ?? ctx.mirrors.readFirstFile(repo.url, sha, PIPELINE_FILES),
    ctx.mirrors.commitInfo(repo.url, sha),
  ]);
  // GitLab skips push and merge request pipelines of such a commit; one run by hand still runs.
  if (commit && SKIP_CI_SOURCES.has(input.source) && asksToSkipCi(commit.message)) {
    return { pipelineId: null, skippedReason: 'the commit message asks to skip CI ([skip ci])', changes: [] };
  }
  const now = ctx.clock.now();
  const base = {
    repoId: repo.id,
    ref: ref.name,
    isTag: ref.isTag,
    sha,
    beforeSha: input.beforeSha ?? null,
    commit,
    source: input.source,
    defaultTimeoutSeconds: ctx.config.jobTimeoutSeconds,
    event: input.event,
    mergeRequest: input.mergeRequest,
    awaitingApproval: input.awaitingApproval,
    upstream: input.upstream,
    claim: input.claim,
    now,
  };
  if (found === null) {
    const created = await createPipeline(ctx.store, {
      ...base,
      compiled: null,
      error: `no ${PIPELINE_FILES.join(' or ')} at ${sha.slice(0, 8)}`,
    });
    return { pipelineId: created.pipelineId, status: 'failed', changes: created.changes };
  }

  const predefined = predefinedVariables({
    sha,
    beforeSha: input.beforeSha ?? null,
    // GitLab names the source branch here in merge request pipelines (review apps use its slug).
    ref: input.mergeRequest?.sourceBranch ?? ref.name,
    isTag: ref.isTag,
    defaultBranch: repo.default_branch,
    pipelineId: null,
    pipelineSource: input.source,
    pipelineCreatedAt: new Date(now),
    repoName: repo.name,
    repoPath: repoPath(repo),
    repoUrl: repo.url,
    serverUrl: ctx.externalUrl,
    configPath: found.path,
    commit,
  });
  const protectedRef = await pipelineProtectedRole(ctx.store.db, {
    repo_id: repo.id,
    ref: ref.name,
    is_tag: ref.isTag ? 1 : 0,
    merge_request: input.mergeRequest ? JSON.stringify(input.mergeRequest) : null,
  });
  const fork = input.mergeRequest?.fork === true;
  const userVariables = await repoVariablesFor(ctx, {
    repoId: repo.id,
    protectedRef: protectedRef !== null,
    fromFork: fork,
  });
  // Off the event loop, with time and memory limits: the file is whatever was pushed.
  const compiled = await compileIsolated(found.path, found.content, {
    maxJobs: ctx.config.maxPipelineJobs,
    readFile: async (path) =>
      input.pipelineFile && Object.hasOwn(input.pipelineFile.files, path)
        ? input.pipelineFile.files[path]
        : ctx.mirrors.readFile(repo.url, sha, path),
    listFiles: () => ctx.mirrors.listFiles(repo.url, sha),
    variables: predefined,
    userVariables: { ...Object.fromEntries(userVariables.map((v) => [v.key, v.value])), ...input.variables },
    changedFiles: async () => (input.beforeSha ? ctx.mirrors.changedFiles(repo.url, input.beforeSha, sha) : null),
    readIncludeFile: ctx.includes?.reader({
      registered: (path) => includableProject(ctx.store.db, repo, path, { fork }),
      forge: !fork,
      serverHost: predefined.CI_SERVER_FQDN,
    }),
    worker: ctx.compileWorker,
  });
  // Masked and protected values expanded into names, environments or error messages would be shown
  // to everyone who can read the pipeline (guests included): GitLab shows [MASKED] there too.
  const secrets = userVariables.filter((v) => v.masked === 1 || v.protected === 1).map((v) => v.value);
  const result = secrets.length > 0 ? scrubShownText(compiled, (text) => maskText(text, secrets)) : compiled;

  if (!result.ok && result.skipped) return { pipelineId: null, skippedReason: result.reason, changes: [] };
  const created = result.ok
    ? await createPipeline(ctx.store, { ...base, compiled: result.pipeline, variables: input.variables })
    : await createPipeline(ctx.store, {
        ...base,
        compiled: null,
        configPath: found.path,
        error: result.errors.map(formatDiagnostic).join('\n'),
      });
  const changes = [...created.changes];
  // A downstream pipeline shares its parent's ref: it must not cancel the parent as an older pipeline.
  if (result.ok && input.upstream === undefined) {
    const canceled = await autoCancelInterruptible(ctx.store, {
      repoId: repo.id,
      ref: ref.name,
      newPipelineId: created.pipelineId,
      sha,
      now: ctx.clock.now(),
    });
    changes.push(...canceled.changes);
  }
  return {
    pipelineId: created.pipelineId,
    status: lastPipelineStatus(created.changes) ?? (result.ok ? 'created' : 'failed'),
    changes,
  };
}

function lastPipelineStatus(changes: StatusChange[]): string | undefined {
  return changes.filter((c) => c.type === 'pipeline').at(-1)?.status;
}

export type DeliveryResult = { duplicate: boolean; pipelineId: number | null; skippedReason?: string; changes: StatusChange[] };

/**
 * How long a delivery's body is remembered: the delivery id header is not covered by the signature,
 * so a captured delivery replayed under a new id is known by its body. Kept short because two
 * genuine pushes can share a body: GitLab's and Gitea's push bodies carry no time, so deleting a
 * branch and pushing it again at the same commit sends the same bytes (docs/security.md).
 */
const REPLAY_WINDOW_MS = 60 * 60 * 1000;

/**
 * Starts the pipeline of a webhook delivery or a poll at most once across replicas and retries:
 * the delivery is recorded in the pipeline's own transaction under a unique key, so either both
 * exist or neither (a replica killed halfway leaves nothing, and the forge's retry builds it).
 */
export async function triggerForDelivery(ctx: TriggerContext, input: TriggerInput & { event: Delivery }): Promise<DeliveryResult> {
  const since = ctx.clock.now() - REPLAY_WINDOW_MS;
  const earlier = () => earlierDelivery(ctx.store.db, { repoId: input.repo.id, delivery: input.event, since });
  const seen = await earlier();
  if (seen) return { duplicate: true, pipelineId: seen.pipeline_id, changes: [] };
  try {
    const result = await triggerPipeline(ctx, input);
    if (result.pipelineId !== null) return { duplicate: false, pipelineId: result.pipelineId, changes: result.changes };
    // No pipeline (rules): the delivery is still recorded, so a replay is answered as a duplicate.
    await recordDelivery(ctx.store.db, { repoId: input.repo.id, delivery: input.event, pipelineId: null, now: ctx.clock.now() });
    return { duplicate: false, pipelineId: null, skippedReason: result.skippedReason, changes: [] };
  } catch (err) {
    if (!(err instanceof DuplicateDeliveryError)) throw err;
    return { duplicate: true, pipelineId: (await earlier())?.pipeline_id ?? null, changes: [] };
  }
}
