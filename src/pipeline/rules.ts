// Decides whether rules (`rules`, `workflow:rules`, `include:rules`) and `only`/`except` match.
import { ExpressionError, evaluateExpression } from './expression.js';
import { globMatcher, isGlob } from './glob.js';
import { slashedParts, slashedRegex } from './untrusted-regex.js';
import { expandVariables } from './variables.js';
import { flatten, mapGet, scalarText, type YMap, type YNode } from './yaml-source.js';

/** What a rule can look at. */
export interface RuleEnv {
  variables: Record<string, string>;
  /** Asked only when a rule has `changes`: computing it costs a git process. */
  changedFiles(): Promise<string[] | null>;
  /** Whether a repository path exists (literal path, no glob). */
  fileExists(path: string): Promise<boolean>;
  /** All repository paths, when known; needed for globs in `exists`. */
  listFiles(): Promise<string[] | null>;
}

export function stringsOf(node: YNode | undefined): string[] {
  if (!node) return [];
  return flatten(node)
    .map(scalarText)
    .filter((s): s is string => s !== null);
}

/** `changes:` / `exists:` take a list or `{paths: [...]}`. */
function pathsOf(node: YNode): string[] {
  return stringsOf(node.kind === 'map' ? mapGet(node, 'paths') : node);
}

// Jobs made from one template ask the same globs of the same file list: each answer is kept with
// the list (one list per compilation), so 2,000 jobs do not match 2,000 times.
const answers = new WeakMap<string[], Map<string, boolean>>();

function anyMatches(paths: string[], globs: string[]): boolean {
  let known = answers.get(paths);
  if (!known) answers.set(paths, (known = new Map()));
  const key = globs.join('\0');
  let answer = known.get(key);
  if (answer === undefined) {
    const match = globMatcher(globs);
    answer = paths.some((p) => match(p));
    known.set(key, answer);
  }
  return answer;
}

async function changesMatch(node: YNode, env: RuleEnv): Promise<boolean> {
  const changed = await env.changedFiles();
  if (changed === null) return true;
  const globs = pathsOf(node).map((p) => expandVariables(p, env.variables));
  if (globs.length === 0) return false;
  return anyMatches(changed, globs);
}

async function existsMatch(node: YNode, env: RuleEnv): Promise<boolean> {
  const globs = pathsOf(node).map((p) => expandVariables(p, env.variables).replace(/^\/+/, ''));
  if (globs.length === 0) return false;
  const files = await env.listFiles();
  if (files) return anyMatches(files, globs);
  for (const glob of globs) {
    // An empty entry names no file (and the repository itself is no path to ask git about).
    if (glob !== '' && !isGlob(glob) && (await env.fileExists(glob))) return true;
  }
  return false;
}

function ifMatches(text: string, vars: Record<string, string>): boolean {
  try {
    return evaluateExpression(text, vars);
  } catch (e) {
    // Syntax errors were reported when the file was validated; an invalid rule never matches.
    if (e instanceof ExpressionError) return false;
    throw e;
  }
}

/** A rule matches when every condition it has (if, changes, exists) holds. */
export async function ruleMatches(rule: YMap, env: RuleEnv): Promise<boolean> {
  const cond = mapGet(rule, 'if');
  if (cond && !ifMatches(scalarText(cond) ?? '', env.variables)) return false;
  const changes = mapGet(rule, 'changes');
  if (changes && !(await changesMatch(changes, env))) return false;
  const exists = mapGet(rule, 'exists');
  if (exists && !(await existsMatch(exists, env))) return false;
  return true;
}

/** The first matching rule of a (possibly nested) rules list, with its index, or null. */
export async function firstMatchingRule(rules: YNode, env: RuleEnv): Promise<{ rule: YMap; index: number } | null> {
  const list = flatten(rules);
  for (let index = 0; index < list.length; index++) {
    const rule = list[index];
    if (rule.kind === 'map' && (await ruleMatches(rule, env))) return { rule, index };
  }
  return null;
}

const SOURCE_KEYWORDS: Record<string, string[]> = {
  api: ['api'],
  chat: ['chat'],
  external: ['external'],
  external_pull_requests: ['external_pull_request_event'],
  merge_requests: ['merge_request_event'],
  pipelines: ['pipeline', 'parent_pipeline'],
  pushes: ['push'],
  schedules: ['schedule'],
  triggers: ['trigger'],
  web: ['web'],
};

function refMatches(pattern: string, vars: Record<string, string>): boolean {
  const isTag = Boolean(vars.CI_COMMIT_TAG);
  const source = vars.CI_PIPELINE_SOURCE ?? 'push';
  const ref = vars.CI_COMMIT_REF_NAME ?? '';
  if (pattern === 'branches') return !isTag && source !== 'merge_request_event';
  if (pattern === 'tags') return isTag;
  if (SOURCE_KEYWORDS[pattern]) return SOURCE_KEYWORDS[pattern].includes(source);
  if (slashedParts(pattern)) return slashedRegex(pattern)?.test(ref) ?? false;
  // `branch@group/project` limits a ref to one project; here there is only this one.
  return pattern.replace(/@.*$/, '') === ref;
}

/** Whether any `only`/`except` ref pattern (keyword, /regex/ or ref name) matches the pipeline. */
export function refsMatch(patterns: string[], vars: Record<string, string>): boolean {
  return patterns.some((p) => refMatches(p, vars));
}

/**
 * `only` matches when every kind of condition it lists (refs, variables, changes) has a match;
 * `except` excludes the job when any of them has one (GitLab's documented semantics).
 */
export async function refPolicyMatches(node: YNode, env: RuleEnv, mode: 'only' | 'except'): Promise<boolean> {
  if (node.kind !== 'map') return refsMatch(stringsOf(node), env.variables);
  const refs = mapGet(node, 'refs');
  const variables = mapGet(node, 'variables');
  const changes = mapGet(node, 'changes');
  const results: boolean[] = [];
  if (refs) results.push(refsMatch(stringsOf(refs), env.variables));
  if (variables) results.push(stringsOf(variables).some((e) => ifMatches(e, env.variables)));
  if (changes) results.push(await changesMatch(changes, env));
  return mode === 'only' ? results.every(Boolean) : results.some(Boolean);
}
