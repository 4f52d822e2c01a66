// Predefined CI variables, shared by the scheduler (pipeline creation) and `tandem exec`, named
// as GitLab names them so that existing scripts keep working.

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
  /** Project path, e.g. `group/app`; its last segment is CI_PROJECT_NAME. */
  repoName: string;
  repoUrl: string;
  serverUrl: string;
  configPath: string;
}

export function predefinedVariables(input: PipelineVariablesInput): Record<string, string> {
  const server = new URL(input.serverUrl);
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
    CI_PROJECT_NAME: input.repoName.split('/').filter(Boolean).pop() ?? input.repoName,
    CI_PROJECT_PATH: input.repoName,
    CI_PROJECT_PATH_SLUG: slugify(input.repoName),
    CI_REPOSITORY_URL: input.repoUrl,
    CI_SERVER_URL: input.serverUrl.replace(/\/+$/, ''),
    CI_SERVER_HOST: server.hostname,
    CI_SERVER_PROTOCOL: server.protocol.replace(':', ''),
    CI_SERVER_PORT: server.port || (server.protocol === 'https:' ? '443' : '80'),
    CI_SERVER_NAME: 'Tandem',
    CI_CONFIG_PATH: input.configPath,
  };
  if (input.pipelineId !== null) vars.CI_PIPELINE_ID = String(input.pipelineId);
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
  };
  if (input.nodeIndex !== undefined && input.nodeTotal !== undefined) {
    vars.CI_NODE_INDEX = String(input.nodeIndex);
    vars.CI_NODE_TOTAL = String(input.nodeTotal);
  }
  return vars;
}
