// `trigger:` jobs (https://docs.gitlab.com/ee/ci/yaml/#trigger): what the compiler checks and keeps
// of them. The server starts the downstream pipeline; no agent runs these jobs.
import type { Diagnostics } from './diagnostics.js';
import type { PipelineNeed, ProjectNeed, SourcePosition, TriggerSpec } from './types.js';
import { expandVariables } from './variables.js';
import { flatten, mapGet, textOf, toPlain, type YMap, type YNode } from './yaml-source.js';

/** Keys a script job has that a trigger job may not (GitLab: "jobs:x config contains unknown keys"). */
const SCRIPT_KEYS = ['script', 'before_script', 'after_script', 'artifacts', 'cache', 'image', 'services', 'parallel', 'retry', 'deploy'];

/** The checks of a trigger job that need nothing but its own keys. */
export function checkTriggerJob(name: string, pos: SourcePosition, node: YMap, diags: Diagnostics): void {
  const trigger = mapGet(node, 'trigger');
  if (!trigger) return;
  for (const key of SCRIPT_KEYS) {
    const entry = node.entries.get(key);
    if (entry)
      diags.error(
        entry.keyPos,
        `\`${name}.${key}\`: a trigger job cannot have \`${key}\` (the downstream pipeline does the work)`,
        `${name}.${key}`,
      );
  }
  if (trigger.kind !== 'map') return;
  const include = mapGet(trigger, 'include');
  const project = mapGet(trigger, 'project');
  if (include && project)
    diags.error(trigger.pos, `\`${name}.trigger\`: use either \`include\` (a child pipeline) or \`project\`, not both`, `${name}.trigger`);
  else if (!include && !project)
    diags.error(trigger.pos, `\`${name}.trigger\`: needs \`include\` (a child pipeline) or \`project\``, `${name}.trigger`);
  if (include && mapGet(trigger, 'branch'))
    diags.error(pos, `\`${name}.trigger.branch\`: only a multi-project trigger (\`project\`) has a branch`, `${name}.trigger.branch`);
  for (const item of include?.kind === 'seq' ? include.items : include ? [include] : []) {
    if (item.kind === 'map' && mapGet(item, 'artifact') && !mapGet(item, 'job'))
      diags.error(
        item.pos,
        `\`${name}.trigger.include\`: \`artifact\` needs \`job\`, the job that made the artifact`,
        `${name}.trigger.include`,
      );
  }
}

/** The compiled trigger of a job, variables of the project path and branch expanded (GitLab does). */
export function triggerOf(node: YNode | undefined, vars: Record<string, string>): TriggerSpec | undefined {
  if (!node) return undefined;
  const expand = (s: string): string => expandVariables(s, vars, { keepUnknown: true });
  if (node.kind !== 'map') {
    return {
      include: null,
      project: expand(textOf(node) ?? ''),
      branch: null,
      depend: false,
      forward: { yamlVariables: true, pipelineVariables: false },
    };
  }
  const include = mapGet(node, 'include');
  const project = textOf(mapGet(node, 'project'));
  const branch = textOf(mapGet(node, 'branch'));
  const forward = mapGet(node, 'forward');
  const flag = (key: string, fallback: boolean): boolean => {
    const value = mapGet(forward, key);
    return value?.kind === 'scalar' && typeof value.value === 'boolean' ? value.value : fallback;
  };
  return {
    include: include ? (include.kind === 'seq' ? (toPlain(include) as unknown[]) : [toPlain(include)]) : null,
    project: project === undefined ? null : expand(project),
    branch: branch === undefined ? null : expand(branch),
    depend: textOf(mapGet(node, 'strategy')) === 'depend',
    forward: { yamlVariables: flag('yaml_variables', true), pipelineVariables: flag('pipeline_variables', false) },
  };
}

/**
 * `needs:pipeline:job` (https://docs.gitlab.com/ee/ci/yaml/#needspipelinejob): artifacts of a job
 * of another pipeline of this repository, in practice the parent of a child pipeline
 * (`pipeline: $PARENT_PIPELINE_ID`). The pipeline id is expanded when the job is handed out.
 */
export function pipelineNeedsOf(node: YNode | undefined): PipelineNeed[] {
  if (!node) return [];
  return flatten(node).flatMap((item): PipelineNeed[] => {
    const pipeline = item.kind === 'map' ? textOf(mapGet(item, 'pipeline')) : undefined;
    if (item.kind !== 'map' || pipeline === undefined) return [];
    return [{ pipeline, job: textOf(mapGet(item, 'job')) ?? '', artifacts: wantsArtifacts(item) }];
  });
}

/** `artifacts: false` downloads nothing; absent or true downloads them (GitLab's default). */
export function wantsArtifacts(item: YMap): boolean {
  const artifacts = mapGet(item, 'artifacts');
  return !(artifacts?.kind === 'scalar' && artifacts.value === false);
}

/**
 * `needs:project` (https://docs.gitlab.com/ci/yaml/#needsproject): artifacts of `job` in the latest
 * successful pipeline of another registered repository on `ref`. GitLab requires `job` and `ref`
 * and takes no `pipeline` with it.
 */
export function checkProjectNeeds(name: string, node: YNode | undefined, diags: Diagnostics): void {
  if (!node) return;
  for (const item of flatten(node)) {
    if (item.kind !== 'map') continue;
    const project = item.entries.get('project');
    const ref = item.entries.get('ref');
    if (project && !ref)
      diags.error(
        project.keyPos,
        `\`${name}.needs:project\` needs \`ref\` (the branch or tag whose pipeline is searched)`,
        `${name}.needs`,
      );
    if (ref && !project) diags.error(ref.keyPos, `\`${name}.needs:ref\` only goes with \`project\``, `${name}.needs`);
    const pipeline = item.entries.get('pipeline');
    if (project && pipeline)
      diags.error(pipeline.keyPos, `\`${name}.needs\`: use either \`project\` or \`pipeline\`, not both`, `${name}.needs`);
  }
}

export function projectNeedsOf(node: YNode | undefined): ProjectNeed[] {
  if (!node) return [];
  return flatten(node).flatMap((item): ProjectNeed[] => {
    const project = item.kind === 'map' ? textOf(mapGet(item, 'project')) : undefined;
    if (item.kind !== 'map' || project === undefined) return [];
    return [{ project, job: textOf(mapGet(item, 'job')) ?? '', ref: textOf(mapGet(item, 'ref')) ?? '', artifacts: wantsArtifacts(item) }];
  });
}
