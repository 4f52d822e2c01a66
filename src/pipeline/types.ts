// The compiled form of a pipeline file: what the parser produces, the scheduler stores and the
// agent runs. Everything here is plain JSON (it is stored in the database as is).

/** A position in a pipeline file, 1-based, as editors show it. */
export interface SourcePosition {
  file: string;
  line: number;
  column: number;
}

export interface Diagnostic extends SourcePosition {
  severity: 'error' | 'warning';
  message: string;
  /** Key path inside the document, e.g. `build.script[2]`, when the problem is tied to a key. */
  path?: string;
}

/** GitLab's `when` values after rules are applied; `never` removes the job instead. */
export type JobWhen = 'on_success' | 'on_failure' | 'always' | 'manual' | 'delayed';

export interface NeedSpec {
  /** Name of the needed job; for a parallel job every instance is listed by its expanded name. */
  job: string;
  artifacts: boolean;
  optional: boolean;
}

export interface ArtifactsSpec {
  name?: string;
  paths: string[];
  exclude: string[];
  untracked: boolean;
  when: 'on_success' | 'on_failure' | 'always';
  /** Seconds until the artifacts expire; null keeps them forever ("never"). */
  expireInSeconds: number | null;
  /** `reports:dotenv` files (absent in jobs compiled before it was supported). */
  dotenv?: string[];
  /** Reports kept as artifacts without being read (pipeline/reports.ts): type → files and globs. */
  storedReports?: Record<string, string[]>;
  /** `reports:coverage_report:path` (Cobertura): the agent streams the matching files to the server. */
  coverageReport?: string;
  /** `reports:junit` files and globs (absent in jobs compiled before it was supported). */
  junit?: string[];
  /** Tandem's `images`: refs the job pushed, as written (the agent expands and pins them when the job succeeds). */
  images?: string[];
}

/** Most `artifacts:images` a job declares. */
export const MAX_ARTIFACT_IMAGES = 20;

export const CACHE_POLICIES = ['pull-push', 'pull', 'push'] as const;
export type CachePolicy = (typeof CACHE_POLICIES)[number];

export interface CacheSpec {
  /** The key after variable expansion; `files` keys are resolved by the agent (it has the files). */
  key: string | { files: string[]; prefix?: string };
  paths: string[];
  /** A `$VARIABLE` is expanded by the agent when the job runs (GitLab Runner's rule: empty is pull-push). */
  policy: CachePolicy | `$${string}`;
  when: 'on_success' | 'on_failure' | 'always';
  untracked: boolean;
  fallbackKeys: string[];
}

export interface RetrySpec {
  max: number; // 0..2 as GitLab allows
  /** GitLab failure reasons; `always` matches any. Script failures match `script_failure`. */
  when: string[];
  exitCodes: number[];
}

export interface EnvironmentSpec {
  name: string;
  url?: string;
  action: 'start' | 'prepare' | 'stop' | 'verify' | 'access';
  deploymentTier?: string;
  /** Other keys (auto_stop_in, on_stop, kubernetes, ...) kept verbatim for the deploy part. */
  extra: Record<string, unknown>;
}

export interface CompiledJob {
  /** Unique name in the pipeline: `test 1/3` for `parallel: 3`, `test: [18, linux]` for a matrix. */
  name: string;
  /** The name of the job definition in the file (before `parallel` expansion). */
  baseName: string;
  stage: string;
  stageIndex: number;
  script: string[];
  beforeScript: string[];
  afterScript: string[];
  /** Job variables (global ones are on the pipeline); values are raw strings, expanded at run time. */
  variables: Record<string, string>;
  /** null: the job follows stage order. [] (`needs: []`): starts at once. */
  needs: NeedSpec[] | null;
  /** Jobs whose artifacts are fetched; null: all jobs of earlier stages (GitLab's default). */
  dependencies: string[] | null;
  when: JobWhen;
  /** Seconds, for `when: delayed`. */
  startInSeconds: number | null;
  allowFailure: boolean;
  /** `allow_failure: exit_codes`: failures with these codes are allowed; others fail the job. */
  allowFailureExitCodes: number[];
  retry: RetrySpec;
  /** Seconds; null means the server's default. */
  timeoutSeconds: number | null;
  artifacts: ArtifactsSpec | null;
  cache: CacheSpec[];
  parallel: { index: number; total: number; matrix: Record<string, string> | null } | null;
  resourceGroup: string | null;
  interruptible: boolean;
  environment: EnvironmentSpec | null;
  /** Tandem's `deploy:` block as written (validated at compile time), run by the agent after the script. */
  deploy: unknown | null;
  tags: string[];
  /** Docker-only keys are kept so a container executor can use them later. */
  image: unknown | null;
  services: unknown[] | null;
  /** Where the job is defined, for messages. */
  position: SourcePosition;
  /**
   * `inherit:variables`: absent means the job sees every global variable; false none of them;
   * a list only those. The pipeline's variables must be filtered by it before they are merged.
   */
  inheritVariables?: false | string[];
  /** `id_tokens:`: the server signs one token per name, for these audiences, into a masked variable. */
  idTokens?: Record<string, { aud: string | string[] }>;
  /** `coverage:`: the `/regex/` the server applies to the log when the job ends (src/pipeline/coverage.ts). */
  coverage?: string;
  /** `trigger:`: the server starts a downstream pipeline instead of an agent running a script. */
  trigger?: TriggerSpec;
  /** `needs:pipeline:job`: artifacts of jobs of another pipeline (a child's parent). */
  pipelineNeeds?: PipelineNeed[];
  /** `needs:project`: artifacts of a job of another registered repository's latest successful pipeline. */
  projectNeeds?: ProjectNeed[];
}

/** https://docs.gitlab.com/ci/yaml/#needsproject: `ref` is expanded when the job is handed out. */
export interface ProjectNeed {
  /** The repository's path (group/name) or name, as `findRepoByPath` looks it up. */
  project: string;
  job: string;
  ref: string;
  artifacts: boolean;
}

export interface PipelineNeed {
  /** The pipeline's id as written, usually `$PARENT_PIPELINE_ID`: expanded with the pipeline's variables. */
  pipeline: string;
  job: string;
  artifacts: boolean;
}

/**
 * A trigger job (https://docs.gitlab.com/ee/ci/yaml/#trigger): a child pipeline built from
 * `include` entries of this repository (or of an artifact of an earlier job), or a multi-project
 * pipeline of another registered repository.
 */
export interface TriggerSpec {
  /** Child pipeline: the `trigger:include` entries as written (strings are local paths); null for a multi-project one. */
  include: unknown[] | null;
  /** Multi-project pipeline: the downstream repository's path (`group/name`), variables expanded. */
  project: string | null;
  /** The downstream branch of a multi-project pipeline; null: its default branch. */
  branch: string | null;
  /** `strategy: depend`: the trigger job waits for the downstream pipeline and takes its status. */
  depend: boolean;
  /** `forward:`: which variables the downstream pipeline receives (GitLab's defaults: yaml true, pipeline false). */
  forward: { yamlVariables: boolean; pipelineVariables: boolean };
}

export interface CompiledPipeline {
  /** File that was read (`.tandem.yml` or `.gitlab-ci.yml`). */
  configPath: string;
  stages: string[];
  /** Global variables after `workflow:rules:variables` are applied. */
  variables: Record<string, string>;
  jobs: CompiledJob[];
  /** `workflow: name`, expanded. */
  name: string | null;
  warnings: Diagnostic[];
}

/** What the parser needs from the outside world. */
export interface CompileContext {
  /** Reads a file of the repository at the pipeline's commit; null when it does not exist. */
  readFile(path: string): Promise<string | null>;
  /** Predefined and user variables visible to `rules:if`, `workflow:rules` and expansion. */
  variables: Record<string, string>;
  /**
   * Project, schedule and manual-run variables. GitLab gives them precedence over the file's
   * `variables:`, while predefined ones (in `variables`) lose to the file. Optional.
   */
  userVariables?: Record<string, string>;
  /**
   * Files changed by the push (for `rules:changes`); null when unknown (new branch, manual run),
   * in which case `changes` rules match as GitLab does for such pipelines (true).
   */
  changedFiles(): Promise<string[] | null>;
  /** Files present at the commit, for `rules:exists`; optional. */
  listFiles?(): Promise<string[]>;
  /** Most jobs a pipeline may define (parallel and matrix jobs counted); default 2,000. */
  maxJobs?: number;
  /**
   * Checks each job's `deploy:` block with the deploy parser (src/deploy's checkDeployBlock), which
   * the compiler does not import. Without it any value passes, and only the agent's parser checks.
   */
  checkDeployBlock?: DeployBlockCheck;
  /**
   * Reads a file from outside the repository (`include:project`, `include:component`,
   * `include:remote`, `include:template`). Without it those includes are positioned errors.
   */
  readIncludeFile?(request: ForeignIncludeRequest): Promise<ForeignIncludeResult>;
}

/**
 * A file an include names outside the pipeline's repository. Components are read as project files
 * (templates/<name>.yml, then templates/<name>/template.yml), with the component's host given.
 */
export type ForeignIncludeRequest =
  | {
      kind: 'project';
      /** GitLab's full path of the project, e.g. `group/sub/name`. */
      project: string;
      /** Branch, tag or sha; null: the project's default branch. */
      ref: string | null;
      file: string;
      /** The host of an `include:component` address; absent for `include:project`. */
      host?: string;
    }
  | { kind: 'remote'; url: string }
  | { kind: 'template'; name: string };

/**
 * What the host found. For a project file, `project` and `sha` say where `include:local` entries
 * nested in it are read (GitLab resolves them in that project, at that commit).
 */
export type ForeignIncludeResult =
  | { ok: true; content: string; project?: { path: string; sha: string } }
  /** A project file that does not exist at that ref (the project and ref do). */
  | { ok: false; missing: true; message: string }
  /** Anything else: unknown project or ref, refused by the access rule, network failure, too large. */
  | { ok: false; missing?: false; message: string };

/** Throws when a `deploy:` block is invalid, with the error's `path` naming the bad key when it can. */
export type DeployBlockCheck = (value: unknown, path: string) => void;

export type CompileResult =
  | { ok: true; pipeline: CompiledPipeline }
  /** `workflow:rules` decided not to run: not an error. */
  | { ok: false; skipped: true; reason: string; warnings: Diagnostic[] }
  | { ok: false; skipped: false; errors: Diagnostic[]; warnings: Diagnostic[] };
