// From a job's YAML (templates, defaults and !reference already applied) to CompiledJob values.
import type { Diagnostics } from './diagnostics.js';
import { nearest } from './diagnostics.js';
import { parseDuration } from './duration.js';
import { MAX_PARALLEL } from './limits.js';
import { checkProjectNeeds, checkTriggerJob, pipelineNeedsOf, projectNeedsOf, triggerOf, wantsArtifacts } from './trigger.js';
import { storedReportsOf } from './reports.js';
import { stringsOf } from './rules.js';
import type { ArtifactsSpec, CacheSpec, CompiledJob, EnvironmentSpec, JobWhen, RetrySpec, SourcePosition } from './types.js';
import { escapeVariableValue, expandVariables } from './variables.js';
import { flatten, mapGet, textOf, toPlain, type YEntry, type YMap, type YNode } from './yaml-source.js';

const WEEK = 7 * 86400;
/** GitLab's instance default for artifacts without expire_in. */
const DEFAULT_ARTIFACT_EXPIRY = 30 * 86400;

export interface NeedRef {
  job: string;
  artifacts: boolean;
  optional: boolean;
  /** `needs:parallel:matrix` as written (values may hold `$[[ matrix.X ]]`); null: no such key. */
  matrix: YNode | null;
  /** One instance named in full (`"build: [aws, x]"`, `"test 2/3"`); null: not that form. */
  instance: string | null;
  pos: SourcePosition;
}

const MATRIX_EXPRESSION = /\$\[\[\s*matrix\.([A-Za-z_][A-Za-z0-9_]*)\s*\]\]/g;

/** `needs:parallel:matrix` with `$[[ matrix.X ]]` replaced by the needing instance's own values. */
function substituteMatrix(node: YNode, own: Record<string, string> | null): YNode | string {
  switch (node.kind) {
    case 'scalar': {
      if (typeof node.value !== 'string' || !node.value.includes('$[[')) return node;
      let unknown: string | null = null;
      const value = node.value.replace(MATRIX_EXPRESSION, (whole, id: string) => {
        if (own?.[id] === undefined) unknown ??= id;
        return own?.[id] ?? whole;
      });
      if (unknown !== null) {
        return own
          ? `\`$[[ matrix.${unknown} ]]\`: \`${unknown}\` is not an identifier of this job's parallel:matrix (${Object.keys(own).join(', ')})`
          : `\`$[[ matrix.${unknown} ]]\` needs the job itself to have parallel:matrix`;
      }
      return { ...node, value };
    }
    case 'seq': {
      const items: YNode[] = [];
      for (const item of node.items) {
        const done = substituteMatrix(item, own);
        if (typeof done === 'string') return done;
        items.push(done);
      }
      return { ...node, items };
    }
    case 'map': {
      const entries = new Map<string, YEntry>();
      for (const [key, entry] of node.entries) {
        const done = substituteMatrix(entry.value, own);
        if (typeof done === 'string') return done;
        entries.set(key, { ...entry, value: done });
      }
      return { ...node, entries };
    }
    case 'reference':
      return node;
  }
}

/**
 * The instance names a need wants of its job, for the needing instance whose matrix is `own`:
 * null means every instance; an error message when a matrix expression does not resolve.
 * https://docs.gitlab.com/ee/ci/yaml/#needsparallelmatrix, https://docs.gitlab.com/ci/yaml/matrix_expressions/
 */
export function neededInstances(need: NeedRef, own: Record<string, string> | null): { names: string[] | null } | { error: string } {
  if (need.instance !== null) return { names: [need.instance] };
  if (need.matrix === null) return { names: null };
  const matrix = substituteMatrix(need.matrix, own);
  if (typeof matrix === 'string') return { error: matrix };
  return { names: (matrixCombinations(matrix) ?? []).map((c) => matrixJobName(need.job, c)) };
}

export interface Instance {
  name: string;
  index: number;
  total: number;
  matrix: Record<string, string> | null;
  /** Made by `parallel:`: GitLab then sets CI_NODE_INDEX/CI_NODE_TOTAL, even for `parallel: 1`. */
  parallel: boolean;
}

export interface JobDef {
  name: string;
  pos: SourcePosition;
  node: YMap;
  stage: string;
  stageIndex: number;
  variables: Record<string, string>;
  inheritVariables: boolean | string[];
  needs: NeedRef[] | null;
  /** The `needs` of each rule (flattened `rules` order; null: the rule has none), which replace the job's when it matches. */
  ruleNeeds: (NeedRef[] | null)[];
  /** `instance`: one instance named in full (see NeedRef). */
  dependencies: { job: string; pos: SourcePosition; instance?: string }[] | null;
  instances: Instance[];
}

/** What rules (or their absence) decided for one job instance. */
export interface Outcome {
  when: JobWhen;
  allowFailure: boolean;
  /** The job's `allow_failure:exit_codes`, unless the matched rule set `allow_failure` (it replaces them). */
  allowFailureExitCodes: number[];
  startInSeconds: number | null;
  variables: Record<string, string>;
  /** The matched rule's `interruptible`, which replaces the job's. */
  interruptible: boolean | undefined;
}

/** `variables:` in either the `NAME: value` or the `NAME: {value, expand}` form. */
export function variablesOf(node: YNode | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (node?.kind !== 'map') return out;
  for (const [name, entry] of node.entries) {
    const v = entry.value;
    if (v.kind === 'map') {
      const value = textOf(mapGet(v, 'value')) ?? '';
      const expand = mapGet(v, 'expand');
      // Values are expanded at run time; `expand: false` is kept literal by escaping its `$`.
      out[name] = expand?.kind === 'scalar' && expand.value === false ? escapeVariableValue(value) : value;
    } else {
      out[name] = textOf(v) ?? '';
    }
  }
  return out;
}

/** How many combinations a `parallel:matrix` list makes, counted without making them. */
export function matrixSize(matrix: YNode | undefined): number {
  let total = 0;
  for (const entry of matrix?.kind === 'seq' ? matrix.items : []) {
    if (entry.kind !== 'map') continue;
    let product = 1;
    for (const e of entry.entries.values()) product *= stringsOf(e.value).length;
    total += product;
  }
  return total;
}

/**
 * Every combination of one `parallel:matrix` list, in GitLab's order and naming; null (make none)
 * past MAX_PARALLEL, since a 50×50×50 matrix would be 125,000 jobs.
 */
export function matrixCombinations(matrix: YNode | undefined): Record<string, string>[] | null {
  if (matrixSize(matrix) > MAX_PARALLEL) return null;
  const combos: Record<string, string>[] = [];
  for (const entry of matrix?.kind === 'seq' ? matrix.items : []) {
    if (entry.kind !== 'map') continue;
    let partial: Record<string, string>[] = [{}];
    for (const [key, e] of entry.entries) {
      const values = stringsOf(e.value);
      partial = partial.flatMap((p) => values.map((v) => ({ ...p, [key]: v })));
    }
    for (const combo of partial) combos.push(combo);
  }
  return combos;
}

export function matrixJobName(base: string, combo: Record<string, string>): string {
  return `${base}: [${Object.values(combo).join(', ')}]`;
}

function instancesOf(name: string, node: YMap, diags: Diagnostics): Instance[] {
  const parallel = mapGet(node, 'parallel');
  if (parallel?.kind === 'scalar' && typeof parallel.value === 'number') {
    const total = parallel.value;
    if (total === 1) return [{ name, index: 1, total: 1, matrix: null, parallel: true }];
    return Array.from({ length: total }, (_, i) => ({
      name: `${name} ${i + 1}/${total}`,
      index: i + 1,
      total,
      matrix: null,
      parallel: true,
    }));
  }
  if (parallel?.kind === 'map') {
    const combos = matrixCombinations(mapGet(parallel, 'matrix'));
    if (combos === null) {
      const size = matrixSize(mapGet(parallel, 'matrix'));
      diags.error(
        parallel.pos,
        `\`${name}.parallel:matrix\` makes ${size.toLocaleString('en')} jobs; at most ${MAX_PARALLEL} are allowed`,
        `${name}.parallel`,
      );
      return [];
    }
    const names = new Set<string>();
    return combos.map((matrix, i) => {
      const instanceName = matrixJobName(name, matrix);
      if (names.has(instanceName)) diags.error(parallel.pos, `\`${name}.parallel:matrix\` repeats the combination ${instanceName}`);
      names.add(instanceName);
      return { name: instanceName, index: i + 1, total: combos.length, matrix, parallel: true };
    });
  }
  return [{ name, index: 1, total: 1, matrix: null, parallel: false }];
}

function needsOf(node: YNode | undefined): NeedRef[] | null {
  if (!node) return null;
  return flatten(node).flatMap((item): NeedRef[] => {
    if (item.kind === 'scalar')
      return [{ job: textOf(item) ?? '', artifacts: true, optional: false, matrix: null, instance: null, pos: item.pos }];
    // `needs:pipeline:job` and `needs:project` name a job of another pipeline: not part of this
    // one's order (trigger.ts).
    if (item.kind !== 'map' || mapGet(item, 'pipeline') || mapGet(item, 'project')) return [];
    return [
      {
        job: textOf(mapGet(item, 'job')) ?? '',
        artifacts: wantsArtifacts(item),
        optional: (mapGet(item, 'optional') as { value?: unknown } | undefined)?.value === true,
        matrix: mapGet(mapGet(item, 'parallel'), 'matrix') ?? null,
        instance: null,
        pos: item.pos,
      },
    ];
  });
}

function inheritVariablesOf(node: YMap): boolean | string[] {
  const v = mapGet(mapGet(node, 'inherit'), 'variables');
  if (!v) return true;
  if (v.kind === 'scalar') return v.value !== false;
  return stringsOf(v);
}

/** Static facts of a job and the checks that need nothing but the file. */
export function defineJob(name: string, pos: SourcePosition, node: YMap, stages: string[], diags: Diagnostics): JobDef {
  const stageNode = mapGet(node, 'stage');
  const stage = textOf(stageNode) ?? 'test';
  let stageIndex = stages.indexOf(stage);
  if (stageIndex < 0) {
    const hint = nearest(stage, stages);
    diags.error(
      stageNode?.pos ?? pos,
      `\`${name}\`: stage \`${stage}\` is not defined; stages are ${stages.join(', ')}${hint ? ` (did you mean \`${hint}\`?)` : ''}`,
      `${name}.stage`,
    );
    stageIndex = 0;
  }
  checkProjectNeeds(name, mapGet(node, 'needs'), diags);
  // A deploy job's work is its `deploy:` block, a trigger job's the downstream pipeline.
  if (mapGet(node, 'trigger')) checkTriggerJob(name, pos, node, diags);
  else if (stringsOf(mapGet(node, 'script')).length === 0 && !mapGet(node, 'deploy')) {
    diags.error(pos, `job \`${name}\` has no \`script\` (every job needs one, a \`deploy\` block or a \`trigger\`)`, name);
  }
  if (mapGet(node, 'rules') && (mapGet(node, 'only') || mapGet(node, 'except'))) {
    diags.error(pos, `job \`${name}\` uses \`rules\` together with \`only\`/\`except\`; use one or the other`, name);
  }
  checkDelays(name, node, diags);
  const rules = mapGet(node, 'rules');
  const dependencies = mapGet(node, 'dependencies');
  const def: JobDef = {
    name,
    pos,
    node,
    stage,
    stageIndex,
    variables: variablesOf(mapGet(node, 'variables')),
    inheritVariables: inheritVariablesOf(node),
    needs: needsOf(mapGet(node, 'needs')),
    ruleNeeds: rules ? flatten(rules).map((rule) => needsOf(mapGet(rule, 'needs'))) : [],
    dependencies: dependencies ? flatten(dependencies).map((d) => ({ job: textOf(d) ?? '', pos: d.pos })) : null,
    instances: instancesOf(name, node, diags),
  };
  checkDependenciesNeeded(def, node.entries.get('dependencies')?.keyPos ?? pos, diags);
  return def;
}

/**
 * A job with both `needs` and `dependencies` may depend only on jobs it needs: GitLab refuses the
 * file otherwise ("dependencies the X should be part of needs"), at the job's `dependencies`.
 * https://docs.gitlab.com/ee/ci/yaml/#dependencies
 */
function checkDependenciesNeeded(def: JobDef, at: SourcePosition, diags: Diagnostics): void {
  if (def.needs === null || def.dependencies === null) return;
  const needed = new Set(def.needs.map((n) => n.job));
  for (const dep of def.dependencies) {
    if (!needed.has(dep.job)) {
      diags.error(
        at,
        `\`${def.name}.dependencies\`: \`${dep.job}\` must also be in \`needs\` (GitLab: a job with needs depends only on jobs it needs)`,
        `${def.name}.dependencies`,
      );
    }
  }
}

/** `when: delayed` needs a `start_in` of at most a week, from the job or the rule. */
function checkDelays(name: string, node: YMap, diags: Diagnostics): void {
  const jobStart = mapGet(node, 'start_in');
  const check = (when: string | undefined, start: YNode | undefined, at: SourcePosition, where: string): void => {
    if (when !== 'delayed') return;
    if (!start) {
      diags.error(at, `\`${where}\`: when: delayed needs start_in (e.g. start_in: 30 minutes)`, where);
      return;
    }
    const seconds = parseDuration(textOf(start) ?? '');
    if (seconds !== null && seconds > WEEK) diags.error(start.pos, `\`${where}\`: start_in must be at most one week`, where);
  };
  const jobWhen = textOf(mapGet(node, 'when'));
  const rules = mapGet(node, 'rules');
  // GitLab's Job entry: `validates :start_in, absence: true, if: -> { has_rules? || !delayed? }`
  // ("job start in must be blank"): with rules, the delay belongs in the rule.
  const startKey = node.entries.get('start_in');
  if (startKey && (rules || jobWhen !== 'delayed')) {
    diags.error(
      startKey.keyPos,
      rules
        ? `\`${name}.start_in\`: on a job with rules, start_in goes in the rule that sets when: delayed`
        : `\`${name}.start_in\` needs when: delayed (GitLab: "start in must be blank" otherwise)`,
      `${name}.start_in`,
    );
  }
  if (!rules) {
    check(jobWhen, jobStart, mapGet(node, 'when')?.pos ?? node.pos, name);
    return;
  }
  // A job-level start_in was reported above; its rules are not told again that they lack one.
  if (startKey) return;
  flatten(rules).forEach((rule, i) => {
    const when = textOf(mapGet(rule, 'when')) ?? jobWhen;
    check(when, mapGet(rule, 'start_in'), rule.pos, `${name}.rules[${i}]`);
  });
}

/** Applies the matched rule (or, without rules, the job's own keys). Null: the job does not run. */
export function decideOutcome(node: YMap, rule: YMap | null): Outcome | null {
  const jobWhen = textOf(mapGet(node, 'when'));
  const ruleWhen = rule ? textOf(mapGet(rule, 'when')) : undefined;
  const when = ruleWhen ?? jobWhen ?? 'on_success';
  if (when === 'never') return null;
  const ruleAllow = rule ? mapGet(rule, 'allow_failure') : undefined;
  const jobAllow = mapGet(node, 'allow_failure');
  let allowFailure: boolean;
  if (ruleAllow?.kind === 'scalar') allowFailure = ruleAllow.value === true;
  else if (jobAllow?.kind === 'scalar') allowFailure = jobAllow.value === true;
  else if (jobAllow?.kind === 'map') allowFailure = false;
  // A manual job is non-blocking when `when: manual` is the job's own, blocking when a rule says it.
  else allowFailure = when === 'manual' && ruleWhen === undefined;
  const startIn = (rule && mapGet(rule, 'start_in')) ?? mapGet(node, 'start_in');
  return {
    when: when as JobWhen,
    allowFailure,
    allowFailureExitCodes: ruleAllow === undefined && jobAllow?.kind === 'map' ? intsOf(mapGet(jobAllow, 'exit_codes')) : [],
    startInSeconds: when === 'delayed' && startIn ? parseDuration(textOf(startIn) ?? '') : null,
    variables: rule ? variablesOf(mapGet(rule, 'variables')) : {},
    interruptible: rule ? booleanOf(mapGet(rule, 'interruptible')) : undefined,
  };
}

function booleanOf(node: YNode | undefined): boolean | undefined {
  return node?.kind === 'scalar' && typeof node.value === 'boolean' ? node.value : undefined;
}

function intsOf(node: YNode | undefined): number[] {
  if (!node) return [];
  return flatten(node).flatMap((n) => (n.kind === 'scalar' && typeof n.value === 'number' ? [n.value] : []));
}

function retryOf(node: YNode | undefined): RetrySpec {
  if (node?.kind === 'scalar' && typeof node.value === 'number') return { max: node.value, when: ['always'], exitCodes: [] };
  if (node?.kind === 'map') {
    const max = mapGet(node, 'max');
    const when = stringsOf(mapGet(node, 'when'));
    return {
      max: max?.kind === 'scalar' && typeof max.value === 'number' ? max.value : 0,
      when: when.length > 0 ? when : ['always'],
      exitCodes: intsOf(mapGet(node, 'exit_codes')),
    };
  }
  return { max: 0, when: ['always'], exitCodes: [] };
}

type When = ArtifactsSpec['when'];

function artifactsOf(node: YNode | undefined, vars: Record<string, string>): ArtifactsSpec | null {
  if (node?.kind !== 'map') return null;
  const paths = stringsOf(mapGet(node, 'paths'));
  const untracked = mapGet(node, 'untracked');
  const isUntracked = untracked?.kind === 'scalar' && untracked.value === true;
  const reports = mapGet(node, 'reports');
  const dotenv = stringsOf(mapGet(reports, 'dotenv'));
  const storedReports = storedReportsOf(reports);
  const coverageReport = textOf(mapGet(mapGet(reports, 'coverage_report'), 'path'));
  const junit = stringsOf(mapGet(reports, 'junit'));
  const images = stringsOf(mapGet(node, 'images'));
  const hasReports = dotenv.length > 0 || !!storedReports || coverageReport !== undefined || junit.length > 0;
  if (paths.length === 0 && !isUntracked && !hasReports && images.length === 0) return null;
  const expire = textOf(mapGet(node, 'expire_in'));
  const name = textOf(mapGet(node, 'name'));
  const spec: ArtifactsSpec = {
    paths,
    exclude: stringsOf(mapGet(node, 'exclude')),
    untracked: isUntracked,
    when: (textOf(mapGet(node, 'when')) ?? 'on_success') as When,
    expireInSeconds: expire === undefined ? DEFAULT_ARTIFACT_EXPIRY : expire === 'never' ? null : parseDuration(expire),
  };
  if (name !== undefined) spec.name = expandVariables(name, vars, { keepUnknown: true });
  if (dotenv.length > 0) spec.dotenv = dotenv;
  if (storedReports) spec.storedReports = storedReports;
  if (coverageReport !== undefined) spec.coverageReport = coverageReport;
  if (junit.length > 0) spec.junit = junit;
  if (images.length > 0) spec.images = images;
  return spec;
}

function cacheOf(node: YNode | undefined, vars: Record<string, string>): CacheSpec[] {
  if (!node) return [];
  return flatten(node).flatMap((item): CacheSpec[] => {
    if (item.kind !== 'map') return [];
    const keyNode = mapGet(item, 'key');
    let key: CacheSpec['key'];
    if (keyNode?.kind === 'map') {
      const prefix = textOf(mapGet(keyNode, 'prefix'));
      key = { files: stringsOf(mapGet(keyNode, 'files')) };
      if (prefix !== undefined) key.prefix = expandVariables(prefix, vars, { keepUnknown: true });
    } else {
      key = expandVariables(textOf(keyNode) ?? 'default', vars, { keepUnknown: true }) || 'default';
    }
    const untracked = mapGet(item, 'untracked');
    return [
      {
        key,
        paths: stringsOf(mapGet(item, 'paths')),
        policy: (textOf(mapGet(item, 'policy')) ?? 'pull-push') as CacheSpec['policy'],
        when: (textOf(mapGet(item, 'when')) ?? 'on_success') as When,
        untracked: untracked?.kind === 'scalar' && untracked.value === true,
        fallbackKeys: stringsOf(mapGet(item, 'fallback_keys')).map((k) => expandVariables(k, vars, { keepUnknown: true })),
      },
    ];
  });
}

function environmentOf(node: YNode | undefined, vars: Record<string, string>): EnvironmentSpec | null {
  if (!node) return null;
  const expand = (s: string): string => expandVariables(s, vars, { keepUnknown: true });
  if (node.kind === 'scalar') return { name: expand(textOf(node) ?? ''), action: 'start', extra: {} };
  if (node.kind !== 'map') return null;
  const spec: EnvironmentSpec = {
    name: expand(textOf(mapGet(node, 'name')) ?? ''),
    action: (textOf(mapGet(node, 'action')) ?? 'start') as EnvironmentSpec['action'],
    extra: {},
  };
  const url = textOf(mapGet(node, 'url'));
  if (url !== undefined) spec.url = expand(url);
  const tier = textOf(mapGet(node, 'deployment_tier'));
  if (tier !== undefined) spec.deploymentTier = tier;
  for (const [key, entry] of node.entries) {
    if (!['name', 'url', 'action', 'deployment_tier'].includes(key)) spec.extra[key] = toPlain(entry.value);
  }
  return spec;
}

/** `id_tokens:` with each audience's variables expanded (GitLab expands them too). */
function idTokensOf(node: YNode | undefined, vars: Record<string, string>): CompiledJob['idTokens'] {
  if (node?.kind !== 'map') return undefined;
  const expand = (s: string): string => expandVariables(s, vars, { keepUnknown: true });
  const tokens: NonNullable<CompiledJob['idTokens']> = {};
  for (const [name, entry] of node.entries) {
    const aud = mapGet(entry.value, 'aud');
    tokens[name] = { aud: aud?.kind === 'seq' ? stringsOf(aud).map(expand) : expand(textOf(aud) ?? '') };
  }
  return tokens;
}

/** Builds the compiled job of one instance. `vars` is what compile-time expansion may use. */
export function compileInstance(
  def: JobDef,
  instance: Instance,
  outcome: Outcome,
  vars: Record<string, string>,
  needs: CompiledJob['needs'],
  dependencies: string[] | null,
): CompiledJob {
  const node = def.node;
  const timeout = textOf(mapGet(node, 'timeout'));
  const resourceGroup = textOf(mapGet(node, 'resource_group'));
  const services = mapGet(node, 'services');
  const job: CompiledJob = {
    name: instance.name,
    baseName: def.name,
    stage: def.stage,
    stageIndex: def.stageIndex,
    script: stringsOf(mapGet(node, 'script')),
    beforeScript: stringsOf(mapGet(node, 'before_script')),
    afterScript: stringsOf(mapGet(node, 'after_script')),
    variables: { ...def.variables, ...(instance.matrix ?? {}), ...outcome.variables },
    needs,
    dependencies,
    when: outcome.when,
    startInSeconds: outcome.startInSeconds,
    allowFailure: outcome.allowFailure,
    allowFailureExitCodes: outcome.allowFailureExitCodes,
    retry: retryOf(mapGet(node, 'retry')),
    timeoutSeconds: timeout === undefined ? null : parseDuration(timeout),
    artifacts: artifactsOf(mapGet(node, 'artifacts'), vars),
    cache: cacheOf(mapGet(node, 'cache'), vars),
    parallel: instance.parallel ? { index: instance.index, total: instance.total, matrix: instance.matrix } : null,
    resourceGroup: resourceGroup === undefined ? null : expandVariables(resourceGroup, vars, { keepUnknown: true }),
    interruptible: outcome.interruptible ?? booleanOf(mapGet(node, 'interruptible')) ?? false,
    environment: environmentOf(mapGet(node, 'environment'), vars),
    deploy: mapGet(node, 'deploy') ? toPlain(mapGet(node, 'deploy')) : null,
    tags: stringsOf(mapGet(node, 'tags')).map((t) => expandVariables(t, vars)),
    image: mapGet(node, 'image') ? toPlain(mapGet(node, 'image')) : null,
    services: services ? (toPlain(services) as unknown[]) : null,
    position: def.pos,
  };
  if (def.inheritVariables !== true) job.inheritVariables = def.inheritVariables;
  const idTokens = idTokensOf(mapGet(node, 'id_tokens'), vars);
  if (idTokens) job.idTokens = idTokens;
  const coverage = textOf(mapGet(node, 'coverage'));
  if (coverage !== undefined) job.coverage = coverage;
  const trigger = triggerOf(mapGet(node, 'trigger'), vars);
  if (trigger) job.trigger = trigger;
  const pipelineNeeds = pipelineNeedsOf(mapGet(node, 'needs'));
  if (pipelineNeeds.length > 0) job.pipelineNeeds = pipelineNeeds;
  const projectNeeds = projectNeedsOf(mapGet(node, 'needs'));
  if (projectNeeds.length > 0) job.projectNeeds = projectNeeds;
  return job;
}

/**
 * A job built in code rather than read from a file (a rollback job, tests): GitLab's defaults for
 * every key, overridden by `fields`.
 */
export function compiledJob(fields: Pick<CompiledJob, 'name' | 'stage' | 'stageIndex' | 'position'> & Partial<CompiledJob>): CompiledJob {
  return {
    baseName: fields.name,
    script: [],
    beforeScript: [],
    afterScript: [],
    variables: {},
    needs: null,
    dependencies: null,
    when: 'on_success',
    startInSeconds: null,
    allowFailure: false,
    allowFailureExitCodes: [],
    retry: { max: 0, when: [], exitCodes: [] },
    timeoutSeconds: null,
    artifacts: null,
    cache: [],
    parallel: null,
    resourceGroup: null,
    interruptible: false,
    environment: null,
    deploy: null,
    tags: [],
    image: null,
    services: null,
    ...fields,
  };
}
