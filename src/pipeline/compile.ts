// compilePipeline: pipeline file text → CompiledPipeline, with GitLab's semantics for the subset
// documented in docs/pipeline-reference.md.
import { Diagnostics, nearest } from './diagnostics.js';
import { loadWithIncludes, type IncludeEnv } from './include.js';
import { jobShape, jobShapeChecking, topLevelKeys, unsupportedTopLevel, DEFAULT_KEYS } from './keys.js';
import {
  compileInstance,
  decideOutcome,
  defineJob,
  neededInstances,
  variablesOf,
  type Instance,
  type JobDef,
  type NeedRef,
  type Outcome,
} from './jobs.js';
import { slugify } from './predefined.js';
import { resolveExtends } from './extends.js';
import { DEFAULT_MAX_PIPELINE_JOBS, ExpansionBudget, LimitExceeded, MAX_COMPILED_BYTES } from './limits.js';
import { resolveReferences } from './references.js';
import { firstMatchingRule, refPolicyMatches, refsMatch, stringsOf } from './rules.js';
import type { CompileContext, CompiledJob, CompileResult, NeedSpec } from './types.js';
import { validate } from './validate.js';
import { expandVariables, resolveVariables } from './variables.js';
import { deepMerge, describeNode, mapGet, scalarText, textOf, type YEntry, type YMap, type YNode } from './yaml-source.js';

const DEFAULT_STAGES = ['build', 'test', 'deploy'];

function failure(diags: Diagnostics): CompileResult {
  return { ok: false, skipped: false, errors: diags.sorted(diags.errors), warnings: diags.sorted(diags.warnings) };
}

/**
 * The repository facts rules read, asked of the context at most once per compilation: every job's
 * rules see the same commit, and each question costs a git process (and, isolated, a message).
 */
function repoFacts(ctx: CompileContext): (variables: Record<string, string>) => IncludeEnv {
  let listing: Promise<string[] | null> | undefined;
  let changed: Promise<string[] | null> | undefined;
  return (variables) => ({
    variables,
    changedFiles: () => (changed ??= ctx.changedFiles()),
    readFile: (p) => ctx.readFile(p),
    readIncludeFile: ctx.readIncludeFile?.bind(ctx),
    fileExists: async (p) => (await ctx.readFile(p)) !== null,
    listFiles: () => (listing ??= ctx.listFiles ? ctx.listFiles() : Promise.resolve(null)),
  });
}

/**
 * A key left empty (`image:`, `cache: null`) is unset, as GitLab's config factory makes a nil value
 * an unspecified entry: the key is absent, so defaults still apply and a job without a script still
 * has no script. Applied after `extends`, where a null in the job replaces the template's value.
 */
function withoutNullKeys(map: YMap): YMap {
  const entries = new Map([...map.entries].filter(([, e]) => !(e.value.kind === 'scalar' && e.value.value === null)));
  return entries.size === map.entries.size ? map : { ...map, entries };
}

/** Top-level keywords, and keys of `default` and `workflow`, without the empty ones; jobs stay, even empty ones. */
function withoutNullKeywords(root: YMap): YMap {
  const isNullKeyword = ([key, e]: [string, YEntry]): boolean => key in topLevelKeys && e.value.kind === 'scalar' && e.value.value === null;
  const entries = new Map([...root.entries].filter((entry) => !isNullKeyword(entry)));
  for (const key of ['default', 'workflow']) {
    const entry = entries.get(key);
    if (entry?.value.kind === 'map') entries.set(key, { ...entry, value: withoutNullKeys(entry.value) });
  }
  return { ...root, entries };
}

/** Every job and template with its `extends` applied (GitLab's Extendable handles hidden keys too). */
function withExtends(root: YMap, diags: Diagnostics): YMap {
  const names = [...root.entries]
    .filter(([key, e]) => !topLevelKeys[key] && !unsupportedTopLevel[key] && e.value.kind === 'map')
    .map(([key]) => key);
  const resolved = resolveExtends(root, names, diags);
  const entries = new Map([...root.entries].map(([key, e]) => [key, { ...e, value: resolved.get(key) ?? e.value }]));
  return { ...root, entries };
}

/** The `default:` keys, with the deprecated top-level forms (image, cache, ...) under them. */
function defaultsOf(root: YMap): YMap {
  const entries = new Map<string, YEntry>();
  for (const key of DEFAULT_KEYS) {
    const top = root.entries.get(key);
    if (top && key in topLevelKeys) entries.set(key, top);
  }
  const legacy: YMap = { kind: 'map', entries, pos: root.pos };
  const def = mapGet(root, 'default');
  return def?.kind === 'map' ? deepMerge(legacy, def) : legacy;
}

/** A job's own keys win over defaults as a whole (no deep merge), as in GitLab. */
function withDefaults(job: YMap, defaults: YMap): YMap {
  // A trigger job runs no script, so `default:` (image, before_script, ...) is not for it (GitLab's bridges).
  if (mapGet(job, 'trigger')) return job;
  const inherit = mapGet(mapGet(job, 'inherit'), 'default');
  const allowed = (key: string): boolean =>
    !inherit || (inherit.kind === 'scalar' ? inherit.value !== false : stringsOf(inherit).includes(key));
  const entries = new Map(job.entries);
  for (const [key, entry] of defaults.entries) {
    if (!entries.has(key) && allowed(key)) entries.set(key, entry);
  }
  return { ...job, entries };
}

function stagesOf(root: YMap): string[] {
  const declared = mapGet(root, 'stages');
  const list = declared ? stringsOf(declared) : DEFAULT_STAGES;
  return ['.pre', ...new Set(list.filter((s) => s !== '.pre' && s !== '.post')), '.post'];
}

function pick(vars: Record<string, string>, inherit: boolean | string[]): Record<string, string> {
  if (inherit === true) return vars;
  if (inherit === false) return {};
  return Object.fromEntries(Object.entries(vars).filter(([k]) => inherit.includes(k)));
}

export async function compilePipeline(configPath: string, content: string, ctx: CompileContext): Promise<CompileResult> {
  const diags = new Diagnostics();
  try {
    return await compileWithin(configPath, content, ctx, diags);
  } catch (err) {
    if (!(err instanceof LimitExceeded)) throw err;
    diags.error(err.pos, err.message);
    return failure(diags);
  }
}

async function compileWithin(configPath: string, content: string, ctx: CompileContext, diags: Diagnostics): Promise<CompileResult> {
  const user = ctx.userVariables ?? {};
  const baseVars = { ...ctx.variables, ...user };
  const budget = new ExpansionBudget();
  const ruleEnv = repoFacts(ctx);
  const loaded = await loadWithIncludes(configPath, content, ruleEnv(baseVars), diags, budget);
  if (!loaded || diags.errors.length > 0) return failure(diags);
  // GitLab's order (Gitlab::Ci::Config#build_config): includes, then `extends`, then `!reference`,
  // so a reference sees what templates brought and a template may hold a reference.
  const root = withoutNullKeywords(resolveReferences(withExtends(loaded, diags), diags, budget));

  // Top level: keywords are validated, everything else is a job or a hidden template.
  const jobNames: string[] = [];
  for (const [key, entry] of root.entries) {
    if (topLevelKeys[key]) validate(entry.value, topLevelKeys[key], key, diags);
    else if (unsupportedTopLevel[key]) diags.error(entry.keyPos, `\`${key}\`: ${unsupportedTopLevel[key]}`, key);
    else if (key.startsWith('.')) continue;
    else if (entry.value.kind === 'map') jobNames.push(key);
    else {
      const hint = nearest(key, [...Object.keys(topLevelKeys), ...Object.keys(unsupportedTopLevel)]);
      diags.error(
        entry.keyPos,
        hint
          ? `unknown key \`${key}\` (did you mean \`${hint}\`?)`
          : `job \`${key}\` must be a map of job keys, not ${describeNode(entry.value)}`,
        key,
      );
    }
  }
  // Counted again with parallel jobs below.
  const maxJobs = ctx.maxJobs ?? DEFAULT_MAX_PIPELINE_JOBS;
  if (jobNames.length > maxJobs) return tooManyJobs(root, jobNames.length, maxJobs, diags);
  const resolved = new Map(jobNames.map((name) => [name, withoutNullKeys((root.entries.get(name) as YEntry).value as YMap)]));
  const shape = ctx.checkDeployBlock ? jobShapeChecking(ctx.checkDeployBlock) : jobShape;
  const fileErrors = diags.errors.length;
  // Jobs with errors of their own are left out of the checks below; the others are still checked
  // (stages, needs), so one lint run shows every error of the file, not one round at a time.
  const invalid = new Set<string>();
  for (const [name, job] of resolved) {
    const before = diags.errors.length;
    validate(job, shape, name, diags);
    if (diags.errors.length > before) invalid.add(name);
  }
  if (jobNames.length === 0 && diags.errors.length === 0) {
    diags.error(root.pos, 'the pipeline has no jobs (keys starting with a dot are hidden templates)');
  }
  if (fileErrors > 0 || jobNames.length === 0) return failure(diags);

  const stages = stagesOf(root);
  const defaults = defaultsOf(root);
  const defs = withInstanceNeeds(
    [...resolved]
      .filter(([name]) => !invalid.has(name))
      .map(([name, job]) => defineJob(name, (root.entries.get(name) as YEntry).keyPos, withDefaults(job, defaults), stages, diags)),
  );
  if (invalid.size === 0 && defs.length > 0 && defs.every((d) => d.stage === '.pre' || d.stage === '.post')) {
    diags.error(root.pos, 'the pipeline needs at least one job outside the .pre and .post stages');
  }
  const defined = defs.reduce((sum, d) => sum + d.instances.length, 0);
  if (defined > maxJobs) return tooManyJobs(root, defined, maxJobs, diags);
  checkGraph(defs, invalid, diags);
  checkStopJobs(defs, invalid, diags);
  if (diags.errors.length > 0) return failure(diags);

  // workflow:rules decide whether there is a pipeline at all, and may set global variables.
  const globalVars = variablesOf(mapGet(root, 'variables'));
  const workflowEnv = ruleEnv(resolveVariables({ ...ctx.variables, ...globalVars, ...user }));
  const workflow = mapGet(root, 'workflow');
  const workflowRules = mapGet(workflow, 'rules');
  let pipelineVars = globalVars;
  if (workflowRules) {
    const matched = await firstMatchingRule(workflowRules, workflowEnv);
    if (!matched) return skipped('no workflow:rules entry matched', diags);
    const when = mapGet(matched.rule, 'when');
    if (when && scalarText(when) === 'never') {
      return skipped(`workflow:rules[${matched.index}] has when: never`, diags);
    }
    pipelineVars = { ...globalVars, ...variablesOf(mapGet(matched.rule, 'variables')) };
  }
  const nameNode = mapGet(workflow, 'name');
  const pipelineName = nameNode
    ? expandVariables(scalarText(nameNode) ?? '', resolveVariables({ ...ctx.variables, ...pipelineVars, ...user }))
    : null;

  const kept: Kept[] = [];
  let compiledBytes = 0;
  for (const def of defs) {
    for (const instance of def.instances) {
      const predefinedJob: Record<string, string> = {
        CI_JOB_NAME: instance.name,
        CI_JOB_NAME_SLUG: slugify(instance.name),
        CI_JOB_STAGE: def.stage,
        // GitLab: 1 for a job without `parallel:`; CI_NODE_INDEX only for jobs made by `parallel:`.
        CI_NODE_TOTAL: String(instance.total),
      };
      if (instance.parallel) predefinedJob.CI_NODE_INDEX = String(instance.index);
      const layered = (extra: Record<string, string>): Record<string, string> =>
        resolveVariables({
          ...ctx.variables,
          ...predefinedJob,
          ...pick(pipelineVars, def.inheritVariables),
          ...def.variables,
          ...(instance.matrix ?? {}),
          ...extra,
          ...user,
        });
      const env = ruleEnv(layered({}));
      const decided = await decide(def, env);
      if (!decided) continue;
      const { outcome } = decided;
      const job = compileInstance(def, instance, outcome, layered(outcome.variables), null, null);
      compiledBytes += JSON.stringify(job).length;
      if (compiledBytes > MAX_COMPILED_BYTES) {
        throw new LimitExceeded(
          def.pos,
          `the compiled jobs pass ${MAX_COMPILED_BYTES / 1024 / 1024} MB at \`${instance.name}\` (templates shared through extends are copied into every job)`,
        );
      }
      kept.push({ def, instance, job, needs: decided.ruleNeeds ?? def.needs });
    }
  }
  if (kept.length === 0 || kept.every((k) => k.def.stage === '.pre' || k.def.stage === '.post')) {
    return skipped('no job of the pipeline matched its rules', diags);
  }
  linkJobs(kept, diags);
  if (diags.errors.length > 0) return failure(diags);
  return {
    ok: true,
    pipeline: {
      configPath,
      stages,
      variables: pipelineVars,
      jobs: kept.map((k) => k.job),
      name: pipelineName,
      warnings: diags.sorted(diags.warnings),
    },
  };
}

function tooManyJobs(root: YMap, count: number, max: number, diags: Diagnostics): CompileResult {
  diags.error(
    root.pos,
    `the pipeline defines ${count.toLocaleString('en')} jobs (parallel and matrix jobs counted); at most ${max.toLocaleString('en')} are allowed (maxPipelineJobs)`,
  );
  return failure(diags);
}

function skipped(reason: string, diags: Diagnostics): CompileResult {
  return { ok: false, skipped: true, reason, warnings: diags.sorted(diags.warnings) };
}

/** The job's outcome, with the needs of its matched rule (null: the job's own apply); null: the job does not run. */
async function decide(def: JobDef, env: IncludeEnv): Promise<{ outcome: Outcome; ruleNeeds: NeedRef[] | null } | null> {
  const rules = mapGet(def.node, 'rules');
  if (rules) {
    const matched = await firstMatchingRule(rules, env);
    const outcome = matched && decideOutcome(def.node, matched.rule);
    return outcome ? { outcome, ruleNeeds: def.ruleNeeds[matched.index] } : null;
  }
  const only = mapGet(def.node, 'only');
  const except = mapGet(def.node, 'except');
  // Without rules or only, GitLab runs a job for branches and tags (not merge request pipelines).
  const onlyOk = only ? await refPolicyMatches(only, env, 'only') : refsMatch(['branches', 'tags'], env.variables);
  if (!onlyOk) return null;
  if (except && (await refPolicyMatches(except, env, 'except'))) return null;
  const outcome = decideOutcome(def.node, null);
  return outcome && { outcome, ruleNeeds: null };
}

/** A job instance in the pipeline, with the needs its matched rule gave it (or its own). */
interface Kept {
  def: JobDef;
  instance: Instance;
  job: CompiledJob;
  needs: NeedRef[] | null;
}

/**
 * A need or dependency that names one instance of a parallel job in full (`"build: [aws, x]"`,
 * `"test 2/3"`) is a need of that job limited to that instance; GitLab matches needs against the
 * names of the jobs after `parallel` expanded them.
 */
function withInstanceNeeds(defs: JobDef[]): JobDef[] {
  const jobs = new Set(defs.map((d) => d.name));
  const ownerOf = new Map<string, string>();
  for (const def of defs) for (const instance of def.instances) if (instance.name !== def.name) ownerOf.set(instance.name, def.name);
  const resolve = (need: NeedRef): NeedRef => {
    const owner = jobs.has(need.job) ? undefined : ownerOf.get(need.job);
    return owner === undefined ? need : { ...need, job: owner, instance: need.job };
  };
  return defs.map((def) => ({
    ...def,
    needs: def.needs?.map(resolve) ?? null,
    ruleNeeds: def.ruleNeeds.map((needs) => needs?.map(resolve) ?? null),
    dependencies: def.dependencies?.map((d) => (jobs.has(d.job) ? d : { ...d, job: ownerOf.get(d.job) ?? d.job, instance: d.job })) ?? null,
  }));
}

/**
 * `environment:on_stop` names a job of the file with the same environment and `action: stop`, as
 * GitLab's YAML processor checks (on the jobs as written, whatever rules later decide).
 */
function checkStopJobs(defs: JobDef[], invalid: ReadonlySet<string>, diags: Diagnostics): void {
  const byName = new Map(defs.map((d) => [d.name, d]));
  const environmentName = (env: YNode | undefined) => textOf(env?.kind === 'map' ? mapGet(env, 'name') : env);
  for (const def of defs) {
    const environment = mapGet(def.node, 'environment');
    const onStop = environment?.kind === 'map' ? mapGet(environment, 'on_stop') : undefined;
    const stopName = textOf(onStop);
    if (!onStop || !stopName || invalid.has(stopName)) continue;
    const where = `${def.name}.environment.on_stop`;
    const stopEnvironment = mapGet(byName.get(stopName)?.node, 'environment');
    let problem: string | null = null;
    if (!byName.has(stopName)) problem = 'is not defined';
    else if (!stopEnvironment) problem = 'has no environment';
    else if (environmentName(stopEnvironment) !== environmentName(environment)) problem = 'has a different environment name';
    else if (stopEnvironment.kind !== 'map' || textOf(mapGet(stopEnvironment, 'action')) !== 'stop') problem = 'needs `action: stop`';
    if (problem) diags.error(onStop.pos, `\`${where}\`: job \`${stopName}\` ${problem}`, where);
  }
}

/** The job's needs and those of all its rules: each is checked, whichever rule matches later. */
function allNeeds(def: JobDef): NeedRef[] {
  return [...(def.needs ?? []), ...def.ruleNeeds.flatMap((needs) => needs ?? [])];
}

/**
 * What is wrong with a need of `def` on `target`'s instances, for the first instance of `def` it is
 * wrong for: a `$[[ matrix.X ]]` that does not resolve, or an instance `target` does not have.
 */
function instanceProblem(def: JobDef, need: NeedRef, target: JobDef): string | null {
  const names = new Set(target.instances.map((i) => i.name));
  for (const instance of def.instances) {
    const wanted = neededInstances(need, instance.matrix);
    if ('error' in wanted) return `\`${def.name}.needs\`: ${wanted.error}`;
    const missing = wanted.names?.find((n) => !names.has(n));
    if (missing !== undefined) {
      return `\`${instance.name}\` needs \`${missing}\`, which is not one of the parallel:matrix jobs of \`${need.job}\``;
    }
  }
  return null;
}

/**
 * Checks that need only the file: needs/dependencies name jobs, stage order, no needs cycle.
 * `invalid`: jobs left out for errors of their own; a need of one is not reported again.
 */
function checkGraph(defs: JobDef[], invalid: ReadonlySet<string>, diags: Diagnostics): void {
  const byName = new Map(defs.map((d) => [d.name, d]));
  for (const def of defs) {
    for (const need of allNeeds(def)) {
      const target = byName.get(need.job);
      if (!target) {
        if (need.optional || invalid.has(need.job)) continue;
        const hint = nearest(need.job, byName.keys());
        diags.error(
          need.pos,
          `\`${def.name}\` needs \`${need.job}\`, which is not a job${hint ? ` (did you mean \`${hint}\`?)` : ''}`,
          `${def.name}.needs`,
        );
        continue;
      }
      if (target.stageIndex > def.stageIndex) {
        diags.error(
          need.pos,
          `\`${def.name}\` (stage ${def.stage}) needs \`${need.job}\` of the later stage ${target.stage}`,
          `${def.name}.needs`,
        );
      }
      const problem = instanceProblem(def, need, target);
      if (problem) diags.error(need.pos, problem, `${def.name}.needs`);
    }
    for (const dep of def.dependencies ?? []) {
      const target = byName.get(dep.job);
      if (!target) diags.error(dep.pos, `\`${def.name}\` depends on \`${dep.job}\`, which is not a job`, `${def.name}.dependencies`);
      else if (target.stageIndex > def.stageIndex) {
        diags.error(
          dep.pos,
          `\`${def.name}\` (stage ${def.stage}) has dependency \`${dep.job}\` of the later stage ${target.stage}`,
          `${def.name}.dependencies`,
        );
      }
    }
  }
  // needs cycles (possible within a stage), depth first with an explicit stack: a chain of needs
  // may be as long as the pipeline.
  const state = new Map<string, 'visiting' | 'done'>();
  for (const root of defs) {
    if (state.has(root.name)) continue;
    state.set(root.name, 'visiting');
    const stack: { def: JobDef; next: number }[] = [{ def: root, next: 0 }];
    while (stack.length > 0) {
      const frame = stack[stack.length - 1];
      const needs = allNeeds(frame.def);
      if (frame.next >= needs.length) {
        state.set(frame.def.name, 'done');
        stack.pop();
        continue;
      }
      const need = needs[frame.next++];
      const target = byName.get(need.job);
      if (!target || state.get(target.name) === 'done') continue;
      if (state.get(target.name) === 'visiting') {
        const path = stack.map((f) => f.def.name);
        const cycle = [...path.slice(path.indexOf(target.name)), target.name];
        diags.error(need.pos, `needs cycle: ${cycle.join(' → ')}`, `${frame.def.name}.needs`);
        continue;
      }
      state.set(target.name, 'visiting');
      stack.push({ def: target, next: 0 });
    }
  }
}

/** Fills needs and dependencies with instance names of the jobs that made it into the pipeline. */
function linkJobs(kept: Kept[], diags: Diagnostics): void {
  const present = new Map<string, string[]>();
  for (const { def, job } of kept) present.set(def.name, [...(present.get(def.name) ?? []), job.name]);
  for (const { def, instance, job, needs: wantedNeeds } of kept) {
    if (wantedNeeds) {
      const needs: NeedSpec[] = [];
      for (const need of wantedNeeds) {
        const available = present.get(need.job) ?? [];
        const wanted = neededInstances(need, instance.matrix);
        const only = 'names' in wanted ? wanted.names : [];
        const chosen = only ? available.filter((n) => only.includes(n)) : available;
        if (chosen.length === 0 && !need.optional) {
          diags.error(
            need.pos,
            `\`${job.name}\` needs \`${need.job}\`, but its rules left it out of this pipeline (mark the need optional: true if that is fine)`,
            `${def.name}.needs`,
          );
        }
        for (const name of chosen) needs.push({ job: name, artifacts: need.artifacts, optional: need.optional });
      }
      job.needs = needs;
    }
    if (def.dependencies) {
      job.dependencies = def.dependencies.flatMap((d) =>
        (present.get(d.job) ?? []).filter((n) => d.instance === undefined || n === d.instance),
      );
    }
  }
}
