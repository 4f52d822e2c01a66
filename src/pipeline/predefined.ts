// Predefined CI variables, shared by the scheduler (pipeline creation) and `tandem exec`, named
// as GitLab names them so that existing scripts keep working.
import { createHash } from 'node:crypto';
import { commitDescription, commitTitle, type CommitInfo } from './commit.js';
import type { EnvironmentSpec } from './types.js';

/** GitLab's CI_COMMIT_REF_SLUG: lower case, [^a-z0-9] → '-', at most 63 bytes, no '-' at the ends. */
export function slugify(ref: string): string {
  return ref
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '-')
    .slice(0, 63)
    .replace(/^-+|-+$/g, '');
}

/** ISO 8601 in UTC without milliseconds, as GitLab prints CI_*_AT variables. */
function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export interface PipelineVariablesInput {
  sha: string;
  /** Commit before the push; null or empty for a new branch (GitLab then uses 40 zeros). */
  beforeSha: string | null;
  /** Branch or tag name (without refs/heads/ or refs/tags/). */
  ref: string;
  isTag: boolean;
  defaultBranch: string;
  /** null while the pipeline row does not exist yet (rules evaluation before creation). */
  pipelineId: number | string | null;
  /** push, web, schedule, api, trigger, merge_request_event, ... */
  pipelineSource: string;
  pipelineCreatedAt: Date;
  /** The repository's name in Tandem (its web page, CI_PROJECT_URL). */
  repoName: string;
  /**
   * GitLab's project full path, e.g. `group/app` (CI_PROJECT_PATH, _NAMESPACE, _ROOT_NAMESPACE; its
   * last segment is CI_PROJECT_NAME); default the name.
   */
  repoPath?: string;
  repoUrl: string;
  serverUrl: string;
  configPath: string;
  /** The commit's message, author and date; null for pipelines stored before they were recorded (then unset). */
  commit?: CommitInfo | null;
  /** `workflow:name` as the pipeline got it (CI_PIPELINE_NAME); unset without one. */
  pipelineName?: string | null;
  /** The repository's id (CI_PROJECT_ID); unset where it is not known yet. */
  projectId?: number | null;
  /** Whether the ref is protected (CI_COMMIT_REF_PROTECTED); unset where it is not known yet. */
  refProtected?: boolean | null;
}

/** Tandem's web pages, as CI_PROJECT_URL, CI_PIPELINE_URL and CI_JOB_URL point at them. */
function webUrl(serverUrl: string, path: string): string {
  return `${serverUrl.replace(/\/+$/, '')}${path}`;
}

/**
 * GitLab's CI_PROJECT_NAMESPACE is the group or user path in front of the project's name. A
 * repository registered without a group (`app`) has none in Tandem: the variable is then empty,
 * so that `$CI_PROJECT_NAMESPACE/$CI_PROJECT_NAME` is still the path with a leading `/` only.
 */
function namespaceOf(path: string): string {
  const parts = path.split('/').filter(Boolean);
  return parts.slice(0, -1).join('/');
}

export function predefinedVariables(input: PipelineVariablesInput): Record<string, string> {
  const server = new URL(input.serverUrl);
  const projectPath = input.repoPath ?? input.repoName;
  const vars: Record<string, string> = {
    CI: 'true',
    GITLAB_CI: 'true',
    TANDEM: 'true',
    CI_COMMIT_SHA: input.sha,
    CI_COMMIT_SHORT_SHA: input.sha.slice(0, 8),
    CI_COMMIT_BEFORE_SHA: input.beforeSha || '0'.repeat(40),
    CI_COMMIT_REF_NAME: input.ref,
    CI_COMMIT_REF_SLUG: slugify(input.ref),
    CI_DEFAULT_BRANCH: input.defaultBranch,
    CI_PIPELINE_SOURCE: input.pipelineSource,
    CI_PIPELINE_CREATED_AT: isoSeconds(input.pipelineCreatedAt),
    CI_PROJECT_NAME: projectPath.split('/').filter(Boolean).pop() ?? projectPath,
    CI_PROJECT_PATH: projectPath,
    CI_PROJECT_PATH_SLUG: slugify(projectPath),
    CI_PROJECT_NAMESPACE: namespaceOf(projectPath),
    CI_PROJECT_ROOT_NAMESPACE: namespaceOf(projectPath).split('/')[0] ?? '',
    CI_PROJECT_URL: webUrl(input.serverUrl, `/repos/${encodeURIComponent(input.repoName)}`),
    CI_REPOSITORY_URL: input.repoUrl,
    CI_SERVER_URL: input.serverUrl.replace(/\/+$/, ''),
    CI_SERVER_HOST: server.hostname,
    // GitLab: the host, with the port when it is not the protocol's default (gitlab.example.com:8080).
    CI_SERVER_FQDN: server.host,
    CI_SERVER_PROTOCOL: server.protocol.replace(':', ''),
    CI_SERVER_PORT: server.port || (server.protocol === 'https:' ? '443' : '80'),
    CI_SERVER_NAME: 'Tandem',
    CI_CONFIG_PATH: input.configPath,
  };
  if (input.pipelineId !== null) {
    vars.CI_PIPELINE_ID = String(input.pipelineId);
    // Tandem numbers pipelines once for the whole server: the per-project number is the id.
    vars.CI_PIPELINE_IID = String(input.pipelineId);
    vars.CI_PIPELINE_URL = webUrl(input.serverUrl, `/pipelines/${input.pipelineId}`);
  }
  if (input.commit) {
    vars.CI_COMMIT_MESSAGE = input.commit.message;
    vars.CI_COMMIT_TITLE = commitTitle(input.commit.message);
    vars.CI_COMMIT_DESCRIPTION = commitDescription(input.commit.message);
    vars.CI_COMMIT_AUTHOR = input.commit.author;
    vars.CI_COMMIT_TIMESTAMP = input.commit.timestamp;
  }
  if (input.pipelineName) vars.CI_PIPELINE_NAME = input.pipelineName;
  if (input.projectId !== undefined && input.projectId !== null) vars.CI_PROJECT_ID = String(input.projectId);
  if (input.refProtected !== undefined && input.refProtected !== null) vars.CI_COMMIT_REF_PROTECTED = String(input.refProtected);
  if (input.isTag) vars.CI_COMMIT_TAG = input.ref;
  else if (input.pipelineSource !== 'merge_request_event') vars.CI_COMMIT_BRANCH = input.ref;
  return vars;
}

export interface JobVariablesInput {
  jobId: number | string;
  jobName: string;
  stage: string;
  startedAt: Date;
  timeoutSeconds: number;
  projectDir: string;
  buildsDir: string;
  /** 1-based; only for parallel jobs. */
  nodeIndex?: number;
  nodeTotal?: number;
  runnerTags: string[];
  /** The Tandem server's URL (CI_JOB_URL points at the job's page there). */
  serverUrl: string;
  environment: EnvironmentSpec | null;
}

/**
 * GitLab's environment slug (Gitlab::Slug::Environment): lower case, [^a-z0-9] → '-', starting with
 * a letter (else `env-` in front), no repeated '-'; when that changed the name or is longer than
 * 24 characters, its first 17 characters, '-' and 6 characters of the name's SHA-256 in base 36,
 * so that different names never share a slug.
 */
export function environmentSlug(name: string): string {
  let slug = name.toLowerCase().replace(/[^a-z0-9]/g, '-');
  if (!/^[a-z]/.test(slug)) slug = `env-${slug}`;
  slug = slug.replace(/-+/g, '-');
  if (slug.length <= 24 && slug === name) return slug.replace(/-$/, '');
  const suffix = BigInt(`0x${createHash('sha256').update(name).digest('hex')}`)
    .toString(36)
    .slice(-6);
  const short = slug.slice(0, 17);
  return `${short}${short.endsWith('-') ? '' : '-'}${suffix}`;
}

/**
 * The tier GitLab gives an environment whose `deployment_tier` is not set, from its name
 * (Environment#guess_tier): "By default, GitLab assumes a tier based on the environment name."
 * https://docs.gitlab.com/ee/ci/environments/#deployment-tier-of-environments
 */
export function guessTier(name: string): string {
  if (/(dev|review|trunk)/i.test(name)) return 'development';
  if (/(test|tst|int|ac(ce|)pt|qa|qc|control|quality)/i.test(name)) return 'testing';
  if (/(st(a|)g|mod(e|)l|pre|demo|non)/i.test(name)) return 'staging';
  if (/(pr(o|)d|live)/i.test(name)) return 'production';
  return 'other';
}

/** GitLab's CI_ENVIRONMENT_* of a job with `environment:`. */
function environmentVariables(env: EnvironmentSpec): Record<string, string> {
  const vars: Record<string, string> = {
    CI_ENVIRONMENT_NAME: env.name,
    CI_ENVIRONMENT_SLUG: environmentSlug(env.name),
    CI_ENVIRONMENT_ACTION: env.action,
    CI_ENVIRONMENT_TIER: env.deploymentTier ?? guessTier(env.name),
  };
  if (env.url !== undefined) vars.CI_ENVIRONMENT_URL = env.url;
  return vars;
}

export function jobVariables(input: JobVariablesInput): Record<string, string> {
  const vars: Record<string, string> = {
    CI_JOB_ID: String(input.jobId),
    CI_JOB_NAME: input.jobName,
    CI_JOB_NAME_SLUG: slugify(input.jobName),
    CI_JOB_STAGE: input.stage,
    CI_JOB_STARTED_AT: isoSeconds(input.startedAt),
    CI_JOB_TIMEOUT: String(input.timeoutSeconds),
    CI_PROJECT_DIR: input.projectDir,
    CI_BUILDS_DIR: input.buildsDir,
    // GitLab prints the tags as a JSON array.
    CI_RUNNER_TAGS: JSON.stringify(input.runnerTags),
    CI_JOB_URL: webUrl(input.serverUrl, `/jobs/${input.jobId}`),
    // GitLab: 1 for a job without `parallel:`; CI_NODE_INDEX only for jobs made by `parallel:`.
    CI_NODE_TOTAL: String(input.nodeTotal ?? 1),
    ...(input.environment ? environmentVariables(input.environment) : {}),
  };
  if (input.nodeIndex !== undefined) vars.CI_NODE_INDEX = String(input.nodeIndex);
  return vars;
}
