// The one description of every key Tandem accepts in a pipeline file. The validator walks it to
// report unknown or malformed keys, and pipelineJsonSchema() turns it into a JSON Schema, so the
// two can never disagree.
import { STORED_REPORT_NOTE, STORED_REPORT_TYPES } from './reports.js';
import { CACHE_POLICIES, MAX_ARTIFACT_IMAGES, type DeployBlockCheck } from './types.js';

export type Format =
  | 'expression'
  | 'duration'
  | 'duration-or-never'
  | 'ref-pattern'
  | 'coverage-regex'
  | 'file-glob'
  | 'cache-key'
  | 'environment-name'
  | 'image-ref';

interface Common {
  description?: string;
  /**
   * Checks of a value that its shape cannot express (the deploy block's own parser). Throws an
   * error whose `path` (when it has one) names the place, e.g. `deploy.target.local.dir`.
   */
  check?: (value: unknown, path: string) => void;
  /** Accepted for GitLab compatibility but has no effect here: a warning says so. */
  ignoredBecause?: string;
}

export type Shape = Common &
  /** `orVariable`: a `$NAME` is accepted besides the enum's values, for the agent to expand. */
  (
    | { kind: 'string'; enum?: readonly string[]; orVariable?: boolean; format?: Format }
    | { kind: 'boolean' }
    | { kind: 'integer'; min?: number; max?: number }
    /** A variable value: string, number or boolean (GitLab turns them into strings). */
    | { kind: 'scalar' }
    /** `flatten`: nested lists are flattened first, as GitLab does for scripts and rules. */
    /** `nonEmpty`: `[]` is an error, as GitLab's presence check on `rules` makes it. */
    | { kind: 'list'; items: Shape; flatten?: boolean; max?: number; nonEmpty?: boolean }
    | {
        kind: 'object';
        keys: Record<string, Shape>;
        required?: readonly string[];
        /** Shape of any other key (variables, matrix entries); without it other keys are errors. */
        values?: Shape;
        /** GitLab keys Tandem does not implement, with the reason given in the error. */
        unsupported?: Record<string, string>;
      }
    | { kind: 'oneOf'; options: Shape[] }
    | { kind: 'any' }
  );

const str = (description?: string, format?: Format): Shape => ({ kind: 'string', description, format });
const oneOf = (options: Shape[], description?: string): Shape => ({ kind: 'oneOf', options, description });
const list = (items: Shape, description?: string, extra: { flatten?: boolean; max?: number; nonEmpty?: boolean } = {}): Shape => ({
  kind: 'list',
  items,
  description,
  ...extra,
});
const bool = (description?: string): Shape => ({ kind: 'boolean', description });
const enumOf = (values: readonly string[], description?: string): Shape => ({ kind: 'string', enum: values, description });
const strings = (description?: string): Shape => list(str(), description);
const stringOrList = (description?: string): Shape => oneOf([str(), strings()], description);
const duration = (description: string): Shape => str(description, 'duration');
const ints = (description?: string): Shape => oneOf([{ kind: 'integer' }, list({ kind: 'integer' })], description);

export const JOB_WHEN = ['on_success', 'on_failure', 'always', 'manual', 'delayed', 'never'] as const;
export const RETRY_WHEN = [
  'always',
  'unknown_failure',
  'script_failure',
  'api_failure',
  'stuck_or_timeout_failure',
  'runner_system_failure',
  'runner_unsupported',
  'stale_schedule',
  'job_execution_timeout',
  'archived_failure',
  'unmet_prerequisites',
  'scheduler_failure',
  'data_integrity_failure',
] as const;
export const DEFAULT_KEYS = [
  'after_script',
  'artifacts',
  'before_script',
  'cache',
  'id_tokens',
  'image',
  'interruptible',
  'retry',
  'services',
  'tags',
  'timeout',
] as const;

const script = (description: string): Shape =>
  oneOf([str(), list(str(), undefined, { flatten: true })], `${description} (a string or a list; nested lists are flattened)`);

const image: Shape = oneOf(
  [
    str(),
    {
      kind: 'object',
      keys: {
        name: str('Image name'),
        entrypoint: strings(),
        pull_policy: stringOrList(),
        docker: { kind: 'any' },
        kubernetes: { kind: 'any' },
      },
      required: ['name'],
    },
  ],
  'Container image the job runs in, on agents with a container engine (others run it on the host and say so in the log)',
);
const services: Shape = list(
  oneOf([
    str(),
    {
      kind: 'object',
      keys: {
        name: str(),
        alias: str(),
        entrypoint: strings(),
        command: strings(),
        variables: { kind: 'object', keys: {}, values: { kind: 'scalar' } },
        pull_policy: stringOrList(),
        docker: { kind: 'any' },
        kubernetes: { kind: 'any' },
      },
      required: ['name'],
    },
  ]),
  'Service containers beside the job, reachable by their aliases (on agents with a container engine)',
);

const variableValue = (full: boolean): Shape =>
  oneOf([
    { kind: 'scalar' },
    {
      kind: 'object',
      keys: full
        ? { value: { kind: 'scalar' }, description: str(), options: list({ kind: 'scalar' }), expand: bool() }
        : { value: { kind: 'scalar' }, expand: bool('false: $ in the value is taken literally') },
    },
  ]);
export const globalVariables: Shape = {
  kind: 'object',
  keys: {},
  values: variableValue(true),
  description: 'Variables for every job',
};
export const jobVariables: Shape = { kind: 'object', keys: {}, values: variableValue(false), description: 'Job variables' };

const globs = (): Shape => list(str(undefined, 'file-glob'));
const changes: Shape = oneOf(
  [globs(), { kind: 'object', keys: { paths: globs(), compare_to: str() }, required: ['paths'] }],
  'Globs of changed files',
);
const exists: Shape = oneOf(
  [
    globs(),
    {
      kind: 'object',
      keys: { paths: globs() },
      required: ['paths'],
      unsupported: { project: 'only this repository is searched', ref: 'only the pipeline commit is searched' },
    },
  ],
  'Globs of files that must exist',
);
const ifExpr = str('Expression, e.g. $CI_COMMIT_BRANCH == "main"', 'expression');

const workflowRule: Shape = {
  kind: 'object',
  keys: {
    if: ifExpr,
    changes,
    exists,
    when: enumOf(['always', 'never']),
    variables: globalVariables,
    auto_cancel: { kind: 'any', ignoredBecause: 'auto-cancel settings are not implemented' },
  },
};

const matrix: Shape = list(
  { kind: 'object', keys: {}, values: oneOf([{ kind: 'scalar' }, list({ kind: 'scalar' })]) },
  'One entry per variable combination set; list values multiply',
);

const artifacts: Shape = {
  kind: 'object',
  keys: {
    paths: strings('Files and globs to keep'),
    exclude: strings('Globs removed from paths'),
    expire_in: str('e.g. "1 week" or "never"', 'duration-or-never'),
    name: str('Archive name (variables expanded)'),
    untracked: bool('Add files git does not track'),
    when: enumOf(['on_success', 'on_failure', 'always']),
    reports: {
      kind: 'object',
      keys: {
        dotenv: stringOrList("KEY=VALUE files whose variables later jobs get (GitLab's artifacts:reports:dotenv)"),
        ...Object.fromEntries(STORED_REPORT_TYPES.map((type) => [type, stringOrList(`GitLab's ${type} report: ${STORED_REPORT_NOTE}`)])),
        coverage_report: {
          kind: 'object',
          description: 'A Cobertura XML file (or glob) the server summarizes: line and branch rates, per package and file',
          keys: { coverage_format: enumOf(['cobertura']), path: str('The report file; globs match several') },
          required: ['coverage_format', 'path'],
        },
        junit: stringOrList('JUnit XML files (globs) whose test results the server reads and shows'),
      },
      values: { kind: 'any', ignoredBecause: 'GitLab defines no such report type' },
    },
    images: list(
      str('An image reference the job pushed, e.g. $CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA (variables expanded when it ends)', 'image-ref'),
      'Tandem: images the job pushed, recorded by digest when it succeeds',
      { max: MAX_ARTIFACT_IMAGES },
    ),
    expose_as: { kind: 'any', ignoredBecause: 'merge request widgets do not exist here' },
    public: { kind: 'any', ignoredBecause: 'artifact access follows project permissions' },
    access: { kind: 'any', ignoredBecause: 'artifact access follows project permissions' },
  },
};

const cacheItem: Shape = {
  kind: 'object',
  keys: {
    key: oneOf([
      str(undefined, 'cache-key'),
      { kind: 'object', keys: { files: list(str(), undefined, { max: 2 }), prefix: str() }, required: ['files'] },
    ]),
    paths: strings(),
    // GitLab 16.1+: `policy: $POLICY`, expanded by the runner (https://docs.gitlab.com/ee/ci/caching/#use-a-variable-to-control-a-jobs-cache-policy).
    policy: { kind: 'string', enum: CACHE_POLICIES, orVariable: true },
    when: enumOf(['on_success', 'on_failure', 'always']),
    untracked: bool(),
    fallback_keys: strings(),
    unprotect: { kind: 'any', ignoredBecause: 'caches are not split by protected branches' },
  },
};
const cache: Shape = oneOf(
  [cacheItem, list(cacheItem, undefined, { max: 4, flatten: true })],
  'Cache (one or a list of up to 4; nested lists are flattened)',
);

const retry: Shape = oneOf([
  { kind: 'integer', min: 0, max: 2 },
  {
    kind: 'object',
    keys: {
      max: { kind: 'integer', min: 0, max: 2 },
      when: oneOf([enumOf(RETRY_WHEN), list(enumOf(RETRY_WHEN))]),
      exit_codes: ints(),
    },
  },
]);

const refPattern = str('A ref keyword, a branch or tag name, or a /regex/ (RE2)', 'ref-pattern');
const refPolicy: Shape = oneOf([
  refPattern,
  list(refPattern),
  {
    kind: 'object',
    keys: { refs: list(refPattern), variables: list(str(undefined, 'expression')), changes },
    unsupported: { kubernetes: 'only:kubernetes is not supported' },
  },
]);

const environment: Shape = oneOf([
  str(undefined, 'environment-name'),
  {
    kind: 'object',
    keys: {
      name: str('Environment name (variables expanded)', 'environment-name'),
      url: str(),
      action: enumOf(['start', 'prepare', 'stop', 'verify', 'access']),
      deployment_tier: enumOf(['production', 'staging', 'testing', 'development', 'other']),
      on_stop: str(),
      auto_stop_in: str(),
      kubernetes: { kind: 'any' },
    },
    required: ['name'],
  },
]);

const needItem: Shape = oneOf([
  str(),
  {
    kind: 'object',
    keys: {
      job: str(),
      artifacts: bool(),
      optional: bool(),
      parallel: { kind: 'object', keys: { matrix }, required: ['matrix'] },
      pipeline: str('Id of another pipeline of this repository, e.g. $PARENT_PIPELINE_ID (needs:pipeline:job)'),
      project: str('Path (group/name) of a registered repository whose latest successful pipeline on `ref` has `job` (needs:project)'),
      ref: str('The branch or tag of `project` whose latest successful pipeline is searched (needs:project)'),
    },
    required: ['job'],
  },
]);

const GITLAB_ONLY = 'this GitLab feature is not supported by Tandem';

// https://docs.gitlab.com/ee/ci/yaml/#triggerinclude: the files of a child pipeline.
const triggerIncludeItem: Shape = oneOf([
  str('Path of a file in this repository'),
  {
    kind: 'object',
    keys: {
      local: str('Path of a file in this repository'),
      artifact: str('A file of the artifacts of `job` (a dynamic child pipeline)'),
      job: str('The job of this pipeline whose artifacts hold `artifact`'),
      project: str('A repository path (group/name)'),
      file: stringOrList(),
      ref: str(),
      template: str(),
      remote: str(),
      component: str(),
      inputs: { kind: 'object', keys: {}, values: { kind: 'any' } },
    },
  },
]);
const triggerShape: Shape = oneOf(
  [
    str('Path (group/name) of a registered repository whose pipeline is started'),
    {
      kind: 'object',
      keys: {
        include: oneOf([triggerIncludeItem, list(triggerIncludeItem)]),
        project: str('Path (group/name) of a registered repository'),
        branch: str('Branch of the downstream repository; default: its default branch'),
        strategy: enumOf(['depend'], 'depend: the trigger job takes the status of the downstream pipeline'),
        forward: { kind: 'object', keys: { yaml_variables: bool(), pipeline_variables: bool() } },
      },
    },
  ],
  'Start a child pipeline (include) or a pipeline of another repository (project)',
);

/** Token names become job variables, so they must be variable names. */
function checkIdTokenNames(value: unknown, path: string): void {
  for (const name of Object.keys(value as Record<string, unknown>)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw Object.assign(
        new Error(`\`${path}.${name}\`: a token name is a variable name (letters, digits and "_", not starting with a digit)`),
        { path: `${path}.${name}` },
      );
    }
  }
}

const idTokens: Shape = {
  kind: 'object',
  keys: {},
  values: {
    kind: 'object',
    keys: { aud: stringOrList('Audience: what the token is for (e.g. the URL of the service that checks it)') },
    required: ['aud'],
  },
  check: checkIdTokenNames,
  description: 'ID tokens: JWTs signed by Tandem naming the repository, ref and job, set as masked variables (`NAME: {aud: ...}`)',
};

type ObjectShape = Extract<Shape, { kind: 'object' }>;

/** GitLab Pages: `pages`, and `publish` (the folder a Pages job publishes). */
const gitlabPages: Shape = { kind: 'any', ignoredBecause: 'Tandem does not host GitLab Pages; keep the site with artifacts or deploy it' };

/**
 * Job keys that ask GitLab's own services for something Tandem has no counterpart of. Real files
 * use them, and GitLab accepts those files, so they lint with a warning instead of failing.
 */
const gitlabServiceKeys: Record<string, Shape> = {
  release: {
    kind: 'any',
    ignoredBecause: 'Tandem creates no GitLab releases; create them in the script (e.g. with glab or the forge API)',
  },
  secrets: {
    kind: 'any',
    ignoredBecause: 'external secret managers (Vault, GCP, Azure) are not read; use Tandem secrets, which reach jobs as variables',
  },
  pages: gitlabPages,
  publish: gitlabPages,
  hooks: { kind: 'any', ignoredBecause: 'runner hooks (pre_get_sources_script) are not run; put the commands in before_script' },
  manual_confirmation: { kind: 'any', ignoredBecause: 'manual jobs are played without a confirmation message' },
};

export const jobRule: Shape = {
  kind: 'object',
  keys: {
    if: ifExpr,
    changes,
    exists,
    when: enumOf(JOB_WHEN),
    allow_failure: bool(),
    variables: jobVariables,
    start_in: duration('Delay for when: delayed'),
    interruptible: bool('Replaces the job’s interruptible when this rule matches'),
    needs: list(needItem, 'Replaces the job’s needs when this rule matches', { flatten: true }),
  },
};

export const jobShape: ObjectShape = {
  kind: 'object',
  keys: {
    stage: str('Stage name (default: test)'),
    extends: stringOrList('Templates to merge into this job'),
    script: script('Commands'),
    before_script: script('Commands run before script'),
    after_script: script('Commands run after script, even on failure'),
    variables: jobVariables,
    needs: list(needItem, 'Jobs to wait for (a DAG); [] starts at once; nested lists are flattened', { flatten: true }),
    dependencies: strings('Jobs whose artifacts are downloaded'),
    rules: list(jobRule, 'First matching rule decides', { flatten: true, nonEmpty: true }),
    when: enumOf(JOB_WHEN),
    start_in: duration('Delay for when: delayed, e.g. "30 minutes"'),
    only: refPolicy,
    except: refPolicy,
    allow_failure: oneOf([bool(), { kind: 'object', keys: { exit_codes: ints() }, required: ['exit_codes'] }]),
    retry,
    timeout: duration('e.g. "1h 30m"'),
    artifacts,
    cache,
    parallel: oneOf([
      { kind: 'integer', min: 1, max: 200 },
      { kind: 'object', keys: { matrix }, required: ['matrix'] },
    ]),
    resource_group: str('Only one job of the group runs at a time'),
    interruptible: bool(),
    environment,
    deploy: {
      kind: 'any',
      description:
        'Tandem: make the files of `source` a release on a target, verify it and roll back on failure (see docs/pipeline-reference.md, Deployments)',
    },
    tags: strings('Agent tags required'),
    trigger: triggerShape,
    coverage: str('A /regex/ (RE2) whose last match in the log gives the coverage percentage', 'coverage-regex'),
    id_tokens: idTokens,
    ...gitlabServiceKeys,
    image,
    services,
    inherit: {
      kind: 'object',
      keys: {
        default: oneOf([bool(), list(enumOf(DEFAULT_KEYS))]),
        variables: oneOf([bool(), strings()]),
      },
    },
  },
  unsupported: {
    identity: GITLAB_ONLY,
    dast_configuration: GITLAB_ONLY,
    run: GITLAB_ONLY,
  },
};

/** The job keys with the `deploy:` block checked by the caller's parser (this folder has none). */
export function jobShapeChecking(checkDeployBlock: DeployBlockCheck): ObjectShape {
  return { ...jobShape, keys: { ...jobShape.keys, deploy: { ...jobShape.keys.deploy, check: checkDeployBlock } } };
}

export const defaultShape: Shape = {
  kind: 'object',
  keys: { ...Object.fromEntries(DEFAULT_KEYS.map((k) => [k, jobShape.keys[k]])), hooks: gitlabServiceKeys.hooks },
  description: 'Defaults for every job',
};

const includeItem: Shape = oneOf([
  str('Path of a file in this repository, or an https:// URL'),
  {
    kind: 'object',
    keys: {
      local: str('Path of a file in this repository (`*` and `**` wildcards)'),
      project: str('Full path of another project (`group/name`), with `file` and optionally `ref`'),
      file: stringOrList('Files of the project named by `project`'),
      ref: str('Branch, tag or commit of the project named by `project` (default: its default branch)'),
      component: str('A CI/CD component: host/group/project/name@version'),
      remote: str('An https:// URL of a YAML file'),
      template: str('A template of the configured forge (forge.url), e.g. `Jobs/Build.gitlab-ci.yml`'),
      integrity: str('SHA-256 of the remote file: sha256-<base64>'),
      cache: { kind: 'any', ignoredBecause: 'Tandem caches remote files itself, for includeCacheSeconds' },
      rules: list({ kind: 'object', keys: { if: ifExpr, exists, when: enumOf(['always', 'never']) } }),
      inputs: { kind: 'object', keys: {}, values: { kind: 'any' }, description: "Values of the included file's spec:inputs" },
    },
  },
]);
export const includeShape: Shape = oneOf([includeItem, list(includeItem)], 'Files merged into this one');

export const workflowShape: Shape = {
  kind: 'object',
  keys: {
    name: str('Pipeline name (variables expanded)'),
    rules: list(workflowRule, undefined, { flatten: true, nonEmpty: true }),
    auto_cancel: { kind: 'any', ignoredBecause: 'auto-cancel settings are not implemented' },
  },
};

/** Top-level keywords; every other top-level key is a job (hidden when it starts with a dot). */
export const topLevelKeys: Record<string, Shape> = {
  stages: strings('Stage order'),
  variables: globalVariables,
  default: defaultShape,
  workflow: workflowShape,
  include: includeShape,
  // Deprecated global forms of the `default` keys, still valid in GitLab.
  image,
  services,
  cache,
  before_script: script('Commands run before every job script'),
  after_script: script('Commands run after every job script'),
};

export const unsupportedTopLevel: Record<string, string> = {
  spec: 'a `spec` header must be followed by a `---` line (https://docs.gitlab.com/ci/inputs/)',
  types: 'the deprecated `types` keyword is not supported; use stages',
};
