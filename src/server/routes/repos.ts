import {
  checkRepoCredential,
  deleteRepo,
  deleteVariable,
  findRepoByName,
  findRepoByPath,
  findVariable,
  gitCredentialsFrom,
  insertRepo,
  listRepos,
  listVariables,
  reposSharingUrl,
  requireRepo,
  saveRepoCredential,
  saveVariable,
  saveRepoForge,
  saveRepoRegistry,
  saveWebhookSecret,
  updateRepo,
  urlCredential,
  type RepoCredential,
  type ForgeSettingsInput,
  type RegistrySettingsInput,
} from '../../repos/index.js';
import { z } from 'zod';
import { isImagePath, isRegistryHost } from '../../artifacts/index.js';
import { repoPermissionsOf } from '../../auth/index.js';
import { REPO_VISIBILITIES } from '../../api/index.js';
import { callerOf, type Principal } from '../../auth/index.js';
import { protectedRefRole, roleIn, setUpNewRepo } from '../../auth/index.js';
import { FORGE_TYPES, lsRemote, normalizeRepoUrl, publicKeyFingerprint, type GitCredentials } from '../../source/index.js';
import { latestPipelineStatus, listPipelines, pipelineRunSeconds, triggerPipeline } from '../../scheduler/index.js';
import type { Repo } from '../../repos/index.js';
import { FORGE_STATUS_TOPIC, outboxSummary } from '../../outbox/index.js';
import type { ForgeDeliveryJson } from '../../api/index.js';
import type { ServerContext } from '../context.js';
import { requireRole, visibleRepoIds } from '../auth.js';
import { badgeStatusOf, pipelineBadge } from '../badge.js';
import { badgeParam, badgeRepo, sendBadge } from '../badge-reply.js';
import { ApiError, type RouteTable } from '../http.js';
import { pageParams, PIPELINE_PAGE } from '../query.js';
import { publishChanges } from '../notify.js';
import { checkOutboundUrl, checkRepoUrl, type CheckedRepoUrl } from '../repo-url.js';
import { forgeDeliveryView, pipelineView, repoView, variableView } from '../presenters.js';

const repoName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'letters, digits, ".", "_" and "-", starting with a letter or digit');

/** GitLab's project full path: `/`-separated segments of letters, digits, ".", "_" and "-". */
const projectPath = z
  .string()
  .max(255)
  .regex(
    /^[A-Za-z0-9_][A-Za-z0-9._-]*(\/[A-Za-z0-9_][A-Za-z0-9._-]*)*$/,
    'a project path such as group/name: segments of letters, digits, ".", "_" and "-" separated by "/"',
  )
  .refine((p) => !p.split('/').some((segment) => /^\.+$/.test(segment)), 'no "." or ".." segments');

/**
 * How git authenticates to the repository: write-only (responses show only its kind and public
 * parts); null removes it. A URL's `user:token@` is the token form too.
 */
const credentialsBody = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('token'),
      /** Default x-access-token (GitHub); Bitbucket's access tokens want x-token-auth, GitLab's deploy tokens their username. */
      username: z
        .string()
        .min(1)
        .max(255)
        .regex(/^[^:\s]+$/, 'no ":", spaces or line breaks')
        .optional(),
      token: z.string().min(1).max(4096).regex(/^\S+$/, 'no spaces or line breaks'),
    })
    .strict(),
  z
    .object({
      type: z.literal('ssh'),
      /** An OpenSSH private key without a passphrase. */
      privateKey: z
        .string()
        .min(1)
        .max(16 * 1024),
      /** known_hosts lines, one naming the URL's host (`ssh-keyscan HOST`): ssh connects to no other key. */
      knownHosts: z
        .string()
        .min(1, "required: the host key line(s) of the repository's host, as known_hosts has them")
        .max(64 * 1024),
    })
    .strict(),
]);

/** Where commit statuses go (the credential is write-only; a PATCH without it keeps the stored one). */
const forgeBody = z
  .object({
    type: z.enum(FORGE_TYPES),
    /** The API root; default the hosted service's (GitHub, GitLab.com, Bitbucket Cloud). */
    apiUrl: z
      .url({ protocol: /^https?$/, error: 'an http(s) URL, the API root' })
      .max(500)
      .optional(),
    /** `owner/name`, or GitLab's project id or path. */
    project: z.string().min(1).max(255),
    token: z.string().min(1).max(4096).optional(),
    /** A GitHub App: its id and private key (PEM); statuses then go as Checks runs. */
    appId: z
      .string()
      .regex(/^[0-9]{1,20}$/, 'the GitHub App id, digits')
      .optional(),
    privateKey: z.string().min(1).max(16_384).optional(),
    installationId: z.number().int().positive().nullable().optional(),
    /** 'jobs': one status per job as well as the pipeline's. */
    statuses: z.enum(['pipeline', 'jobs']).optional(),
  })
  .strict();

/** The registry jobs push to: CI_REGISTRY, CI_REGISTRY_IMAGE and (write-only password) its credentials. */
const registryBody = z
  .object({
    /** `host[:port]`, as image references name a registry. */
    host: z
      .string()
      .max(255)
      .refine(isRegistryHost, 'a registry host[:port] such as registry.example.com or 127.0.0.1:5000 (no scheme, no path)'),
    /** Default the repository's path; images are named CI_REGISTRY_IMAGE = host/path. */
    path: z.string().max(255).refine(isImagePath, 'an image path: lowercase segments separated by "/"').nullable().optional(),
    username: z
      .string()
      .min(1)
      .max(255)
      .regex(/^[^:\s]+$/, 'no ":", spaces or line breaks')
      .nullable()
      .optional(),
    password: z.string().min(1).max(4096).nullable().optional(),
  })
  .strict();

const createRepoBody = z
  .object({
    name: repoName,
    /** GitLab's project path (`group/name`) that include:project names; default the name. */
    path: projectPath.optional(),
    url: z.string().min(1),
    defaultBranch: z.string().min(1).optional(),
    pollInterval: z.number().int().min(0).max(86_400).optional(),
    webhookSecret: z.string().min(8).max(256).optional(),
    /** Globs (`main`, `release/*`, `!wip/*`); absent: every branch; []: none. */
    branches: z.array(z.string().min(1).max(200)).max(100).nullable().optional(),
    tags: z.array(z.string().min(1).max(200)).max(100).nullable().optional(),
    /** Merge requests from forks: 'approval' (default: their pipelines wait for a maintainer) or 'run'. */
    forkPullRequests: z.enum(['approval', 'run']).optional(),
    /** 'public': the badges are readable without a token; default 'private'. */
    visibility: z.enum(REPO_VISIBILITIES).optional(),
    /** A job whose only failing tests are known-flaky ones is allowed to fail. */
    quarantineFlakyTests: z.boolean().optional(),
    /** At most this many of the repository's jobs run at once; null: no limit (the default). */
    maxConcurrentJobs: z
      .number({ error: 'a whole number of jobs, at least 1, or null for no limit' })
      .int({ error: 'a whole number of jobs, at least 1, or null for no limit' })
      .min(1, { error: 'at least 1, or null for no limit' })
      .max(1_000_000)
      .nullable()
      .optional(),
    credentials: credentialsBody.nullable().optional(),
    /** Where commit statuses go; null: nowhere. */
    forge: forgeBody.nullable().optional(),
    /** The container registry jobs push to; null: none. */
    registry: registryBody.nullable().optional(),
  })
  .strict();

const updateRepoBody = createRepoBody.omit({ name: true }).partial().strict();

const variableBody = z
  .object({
    key: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a variable name: letters, digits and "_", not starting with a digit'),
    value: z.string().max(64 * 1024),
    masked: z.boolean().default(false),
    protected: z.boolean().default(false),
    file: z.boolean().default(false),
  })
  .strict();

/** Refuses a project path another repository already answers to (by its path, or its name when it has none). */
async function checkPathFree(ctx: ServerContext, projectPath: string, self: number | null): Promise<void> {
  const other = await findRepoByPath(ctx.store.db, projectPath);
  if (other && other.id !== self) throw new ApiError(409, `path: repository "${other.name}" already has the path "${projectPath}"`);
}

/** Where a repository's commit statuses go: the server sends them (and the token) there. */
const FORGE_API_URL = { field: 'forge.apiUrl', sends: 'statuses' };

/**
 * Applies `forge` to the repository (undefined: no change; null: none) after checking where its
 * statuses would go; what changed goes to the audit log, never the credential.
 */
async function applyForge(
  ctx: ServerContext,
  repo: Repo,
  forge: ForgeSettingsInput | null | undefined,
  who: { admin: boolean },
  audit: (details: Record<string, unknown>) => void,
): Promise<Repo> {
  if (forge === undefined) return repo;
  // The settings form sends the API URL as shown: keeping one an admin set is no new reach.
  if (forge?.apiUrl !== undefined && forge.apiUrl.replace(/\/+$/, '') !== repo.forge_api_url)
    await checkOutboundUrl(forge.apiUrl, who, FORGE_API_URL);
  const updated = await saveRepoForge(ctx, repo, forge);
  // Every replica's outbox writer, this one's included, reads the new settings from now on.
  ctx.hub.publish({ type: 'repo_forge', repoId: repo.id });
  audit({
    forge:
      forge === null
        ? null
        : {
            type: updated.forge_type,
            apiUrl: updated.forge_api_url,
            project: updated.forge_project,
            statuses: updated.forge_statuses,
            tokenChanged: forge.token !== undefined,
            appId: updated.forge_app_id,
            privateKeyChanged: forge.privateKey !== undefined,
          },
  });
  return updated;
}

/** Applies `registry` (undefined: no change; null: none); the audit log says what changed, never the password. */
async function applyRegistry(
  ctx: ServerContext,
  repo: Repo,
  registry: RegistrySettingsInput | null | undefined,
  audit: (details: Record<string, unknown>) => void,
): Promise<Repo> {
  if (registry === undefined) return repo;
  const updated = await saveRepoRegistry(ctx, repo, registry);
  audit({
    registry:
      registry === null
        ? null
        : {
            host: updated.registry_host,
            path: updated.registry_path,
            username: updated.registry_username,
            passwordChanged: registry.password !== undefined,
          },
  });
  return updated;
}

/** The outbox's delivery of the repository's commit statuses, for its view; undefined without a forge. */
async function forgeDelivery(ctx: ServerContext, repo: Repo): Promise<ForgeDeliveryJson | undefined> {
  if (repo.forge_type === null) return undefined;
  return forgeDeliveryView(await outboxSummary(ctx.store.db, { repoId: repo.id, topic: FORGE_STATUS_TOPIC }));
}

function isCurrentUrl(input: string, repo: Repo): boolean {
  try {
    return normalizeRepoUrl(input) === repo.url;
  } catch {
    return false;
  }
}

/**
 * The credential a request sets: its `credentials` field (null: none), else what a new URL carried
 * (a new URL takes its own credential or none: the old one never goes to another place); undefined
 * when neither changes.
 */
function requestedCredential(
  body: { credentials?: z.infer<typeof credentialsBody> | null },
  url: string,
  newUrl: CheckedRepoUrl | null,
): RepoCredential | null | undefined {
  if (body.credentials !== undefined && newUrl?.credentials)
    throw new ApiError(422, 'credentials: the URL carries credentials (user:token@) too: give them in one place');
  if (body.credentials === undefined) return newUrl === null ? undefined : urlCredential(newUrl.credentials);
  return body.credentials === null ? null : checkRepoCredential(url, body.credentials);
}

/**
 * Repositories at one URL share its mirror: what one's credential fetched, the others read. So
 * tying a repository to a URL where another has a credential, or setting a credential where others
 * are, is for those repositories' maintainers (or an admin) only.
 */
async function checkSharedUrl(
  ctx: ServerContext,
  principal: Principal,
  url: string,
  self: number | null,
  credential: RepoCredential | null | undefined,
): Promise<void> {
  for (const other of await reposSharingUrl(ctx.store.db, url, self)) {
    if (other.credentialed || (credential !== undefined && credential !== null))
      await requireRole(ctx, principal, other, 'maintainer', `repo.update of ${other.name}, which shares this URL and its mirror`);
  }
}

/** What the audit log says of a credential change: its kind and the key's fingerprint, never a secret. */
function credentialAudit(credential: RepoCredential | null | undefined): Record<string, unknown> {
  if (credential === undefined) return {};
  if (credential === null) return { credentials: 'removed' };
  return credential.type === 'ssh'
    ? { credentials: 'ssh', keyFingerprint: publicKeyFingerprint(credential.publicKey) }
    : { credentials: 'token' };
}

/** The default branch of a remote: its HEAD's target when advertised, else main/master. */
async function detectDefaultBranch(url: string, credentials: GitCredentials | null): Promise<string> {
  const refs = await lsRemote(url, { credentials });
  if (refs.size === 0) throw new ApiError(422, `repository ${url} has no branches yet: push a commit first or pass defaultBranch`);
  for (const candidate of ['main', 'master']) if (refs.has(`refs/heads/${candidate}`)) return candidate;
  const first = [...refs.keys()].find((r) => r.startsWith('refs/heads/'));
  if (!first) throw new ApiError(422, `repository ${url} has no branches: pass defaultBranch`);
  return first.slice('refs/heads/'.length);
}

export function registerRepoRoutes(routes: RouteTable, ctx: ServerContext): void {
  routes.add({
    method: 'POST',
    url: '/api/v1/repos',
    summary: 'Register a git repository',
    tag: 'repos',
    access: 'user',
    body: createRepoBody,
    async handler({ body, reply, principal, audit }) {
      const admin = principal.kind === 'user' && principal.admin;
      const checked = await checkRepoUrl(body.url, { admin }, ctx.config);
      const { url } = checked;
      const credential = requestedCredential(body, url, checked) ?? null;
      if (body.forge?.apiUrl !== undefined) await checkOutboundUrl(body.forge.apiUrl, { admin }, FORGE_API_URL);
      if (await findRepoByName(ctx.store.db, body.name)) throw new ApiError(409, `a repository named "${body.name}" already exists`);
      await checkPathFree(ctx, body.path ?? body.name, null);
      await checkSharedUrl(ctx, principal, url, null, credential);
      let defaultBranch = body.defaultBranch;
      try {
        defaultBranch ??= await detectDefaultBranch(url, gitCredentialsFrom(credential));
      } catch (err) {
        if (err instanceof ApiError) throw err;
        throw new ApiError(422, `url: repository unreachable: ${(err as Error).message}`);
      }
      const inserted = await insertRepo(ctx.store.db, {
        name: body.name,
        path: body.path === undefined || body.path === body.name ? null : body.path,
        url,
        defaultBranch,
        pollIntervalSeconds: body.pollInterval ?? 0,
        branchFilter: body.branches ?? null,
        tagFilter: body.tags ?? null,
        forkPullRequests: body.forkPullRequests ?? 'approval',
        visibility: body.visibility,
        quarantineFlakyTests: body.quarantineFlakyTests,
        maxConcurrentJobs: body.maxConcurrentJobs,
        now: ctx.clock.now(),
      });
      audit({
        visibility: inserted.visibility,
        ...(inserted.quarantine_flaky_tests === 1 ? { quarantineFlakyTests: true } : {}),
        ...(inserted.max_concurrent_jobs === null ? {} : { maxConcurrentJobs: inserted.max_concurrent_jobs }),
      });
      await setUpNewRepo(ctx.store.db, inserted, principal.kind === 'user' ? principal.userId : null, ctx.clock.now());
      // Sealed once the row exists: the ciphertexts are bound to the repository's id.
      let created = credential === null ? inserted : await saveRepoCredential(ctx, inserted.id, credential);
      audit(credentialAudit(credential ?? undefined));
      if (body.webhookSecret !== undefined) created = await saveWebhookSecret(ctx, inserted.id, body.webhookSecret);
      try {
        created = await applyForge(ctx, created, body.forge, { admin }, audit);
        created = await applyRegistry(ctx, created, body.registry, audit);
      } catch (err) {
        // A repository whose forge settings are refused is not registered half-way.
        await deleteRepo(ctx.store, { repoId: inserted.id, now: ctx.clock.now() });
        throw err;
      }
      reply.code(201);
      return repoView(created, ctx);
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/repos',
    summary: 'List repositories',
    tag: 'repos',
    access: 'user',
    async handler({ principal }) {
      const visible = await visibleRepoIds(ctx, principal);
      return (await listRepos(ctx.store.db, visible)).map((r) => repoView(r, ctx));
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/repos/:name',
    summary: "Show a repository, with the caller's role and repository permissions there (`you`)",
    tag: 'repos',
    access: 'user',
    async handler({ params, principal }) {
      const repo = await requireRepo(ctx.store, params.name);
      const role = principal.kind === 'user' && !principal.admin ? await roleIn(ctx.store.db, repo.id, principal.userId) : null;
      const you = { role, permissions: repoPermissionsOf(callerOf(principal), { repoId: repo.id, repoName: repo.name, role }) };
      return { ...repoView(repo, ctx, await forgeDelivery(ctx, repo)), you };
    },
  });

  routes.add({
    method: 'PATCH',
    url: '/api/v1/repos/:name',
    summary:
      'Change a repository (URL, credentials, project path, default branch, polling, concurrency limit, webhook secret, forge, registry)',
    tag: 'repos',
    access: 'user',
    body: updateRepoBody,
    async handler({ params, body, principal, audit }) {
      const repo = await requireRepo(ctx.store, params.name);
      const changes: Partial<Repo> = {};
      // The settings form sends the URL as shown (without its credentials): that is no change.
      const newUrl =
        body.url === undefined || isCurrentUrl(body.url, repo)
          ? null
          : await checkRepoUrl(body.url, { admin: principal.kind === 'user' && principal.admin }, ctx.config);
      if (newUrl !== null) changes.url = newUrl.url;
      const credential = requestedCredential(body, newUrl?.url ?? repo.url, newUrl);
      // Removing a credential, or keeping the URL without setting one, ties nothing new together.
      if (newUrl !== null || (credential !== undefined && credential !== null))
        await checkSharedUrl(ctx, principal, newUrl?.url ?? repo.url, repo.id, credential);
      if (body.defaultBranch !== undefined) changes.default_branch = body.defaultBranch;
      if (body.path !== undefined) {
        await checkPathFree(ctx, body.path, repo.id);
        changes.path = body.path === repo.name ? null : body.path;
      }
      if (body.pollInterval !== undefined) changes.poll_interval_seconds = body.pollInterval;
      if (body.branches !== undefined) changes.branch_filter = body.branches === null ? null : JSON.stringify(body.branches);
      if (body.tags !== undefined) changes.tag_filter = body.tags === null ? null : JSON.stringify(body.tags);
      if (body.forkPullRequests !== undefined) changes.fork_pull_requests = body.forkPullRequests;
      if (body.visibility !== undefined && body.visibility !== repo.visibility) {
        changes.visibility = body.visibility;
        audit({ visibility: { from: repo.visibility, to: body.visibility } });
      }
      if (body.quarantineFlakyTests !== undefined && body.quarantineFlakyTests !== (repo.quarantine_flaky_tests === 1)) {
        changes.quarantine_flaky_tests = body.quarantineFlakyTests ? 1 : 0;
        audit({ quarantineFlakyTests: body.quarantineFlakyTests });
      }
      if (body.maxConcurrentJobs !== undefined && body.maxConcurrentJobs !== repo.max_concurrent_jobs) {
        changes.max_concurrent_jobs = body.maxConcurrentJobs;
        audit({ maxConcurrentJobs: { from: repo.max_concurrent_jobs, to: body.maxConcurrentJobs } });
      }
      // First: refused forge settings leave the repository as it was.
      let updated = await applyForge(ctx, repo, body.forge, { admin: principal.kind === 'user' && principal.admin }, audit);
      updated = await applyRegistry(ctx, updated, body.registry, audit);
      if (body.webhookSecret !== undefined) updated = await saveWebhookSecret(ctx, repo.id, body.webhookSecret);
      if (credential !== undefined) {
        updated = await saveRepoCredential(ctx, repo.id, credential);
        audit(credentialAudit(credential));
      }
      if (Object.keys(changes).length > 0) updated = await updateRepo(ctx.store.db, repo.id, changes);
      return repoView(updated, ctx);
    },
  });

  routes.add({
    method: 'DELETE',
    url: '/api/v1/repos/:name',
    summary: 'Remove a repository and its pipelines',
    tag: 'repos',
    access: 'user',
    async handler({ params, reply }) {
      const repo = await requireRepo(ctx.store, params.name);
      await deleteRepo(ctx.store, { repoId: repo.id, now: ctx.clock.now() });
      reply.code(204);
      return null;
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/repos/:name/pipelines',
    summary: 'Run a pipeline for a branch, tag or commit',
    tag: 'pipelines',
    access: 'user',
    body: z
      .object({
        ref: z.string().min(1).optional(),
        sha: z
          .string()
          .regex(/^[0-9a-f]{40}$/)
          .optional(),
        variables: z.record(z.string(), z.string()).optional(),
      })
      .strict(),
    async handler({ params, body, reply, principal }) {
      const repo = await requireRepo(ctx.store, params.name);
      // A pipeline on a protected branch sees protected variables, and could run any commit there (sha).
      const authorizeRef = async (ref: { name: string; isTag: boolean }) => {
        const role = await protectedRefRole(ctx.store.db, repo.id, ref);
        if (role !== null) await requireRole(ctx, principal, repo, role, `pipeline.create on protected branch ${ref.name}`);
      };
      const result = await triggerPipeline(ctx, {
        repo,
        ref: body.ref ?? repo.default_branch,
        sha: body.sha,
        // GitLab's sources: the web UI's Run pipeline button (a signed-in session) is `web`, a token is `api`.
        source: principal.kind === 'user' && principal.sessionId !== null ? 'web' : 'api',
        variables: body.variables,
        authorizeRef,
      });
      publishChanges(ctx, result.changes);
      if (result.pipelineId === null) throw new ApiError(422, `pipeline not created: ${result.skippedReason}`);
      reply.code(201);
      return { id: result.pipelineId, status: result.status };
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/repos/:name/pipelines',
    summary: 'List pipelines of a repository, newest first',
    tag: 'pipelines',
    access: 'user',
    async handler({ params, query }) {
      const repo = await requireRepo(ctx.store, params.name);
      const rows = await listPipelines(ctx.store, { repoId: repo.id, ...pageParams(query, PIPELINE_PAGE) });
      const ran = await pipelineRunSeconds(
        ctx.store,
        rows.map((p) => p.id),
      );
      return rows.map((p) => pipelineView(p, repo.name, ran.get(p.id) ?? 0));
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/repos/:name/badges/pipeline.svg',
    summary:
      "The status badge (SVG) of a branch's latest pipeline (?ref=, default the default branch); without a token for public repositories only",
    tag: 'pipelines',
    access: 'public',
    produces: 'image/svg+xml',
    async handler(route) {
      const repo = await badgeRepo(ctx, route.params.name, route.principal);
      const ref = badgeParam(route.query, 'ref') ?? repo.default_branch;
      return sendBadge(route, repo, pipelineBadge(ref, badgeStatusOf(await latestPipelineStatus(ctx.store, repo.id, ref))));
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/repos/:name/variables',
    summary: 'List CI/CD variables (values are never returned: they are encrypted at rest and only jobs see them)',
    tag: 'variables',
    access: 'user',
    async handler({ params }) {
      const repo = await requireRepo(ctx.store, params.name);
      const rows = await listVariables(ctx.store.db, repo.id);
      return rows.map(variableView);
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/repos/:name/variables/:key',
    summary: 'Show a CI/CD variable (without its value)',
    tag: 'variables',
    access: 'user',
    async handler({ params }) {
      const repo = await requireRepo(ctx.store, params.name);
      const row = await findVariable(ctx.store.db, { repoId: repo.id, key: params.key });
      if (!row) throw new ApiError(404, `no variable ${params.key} in ${repo.name}`);
      return variableView(row);
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/repos/:name/variables',
    summary: 'Create or replace a CI/CD variable',
    tag: 'variables',
    access: 'user',
    body: variableBody,
    // A value of 64 KiB characters, escaped in JSON.
    bodyLimit: 'bulk',
    async handler({ params, body, reply }) {
      const repo = await requireRepo(ctx.store, params.name);
      if (body.masked && (body.value.length < 8 || /\s/.test(body.value))) {
        throw new ApiError(422, `value: a masked variable must be at least 8 characters without spaces (${body.key})`);
      }
      await saveVariable(ctx, { repoId: repo.id, ...body, now: ctx.clock.now() });
      reply.code(201);
      return { key: body.key, masked: body.masked, protected: body.protected, file: body.file };
    },
  });

  routes.add({
    method: 'DELETE',
    url: '/api/v1/repos/:name/variables/:key',
    summary: 'Delete a CI/CD variable',
    tag: 'variables',
    access: 'user',
    async handler({ params, reply }) {
      const repo = await requireRepo(ctx.store, params.name);
      if (!(await deleteVariable(ctx.store.db, { repoId: repo.id, key: params.key })))
        throw new ApiError(404, `no variable ${params.key} in ${repo.name}`);
      reply.code(204);
      return null;
    },
  });
}
