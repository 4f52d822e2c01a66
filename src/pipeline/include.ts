// `include: local`: files of the same repository merged under the including file, which wins
// (GitLab's deep merge). Included files may include others; loops are reported.
import path from 'node:path';
import type { Diagnostics } from './diagnostics.js';
import { globMatcher, isGlob } from './glob.js';
import { MAX_INCLUDES, type ExpansionBudget } from './limits.js';
import { includeShape } from './keys.js';
import { interpolate, resolveInputs, splitHeader } from './inputs.js';
import { ruleMatches, type RuleEnv } from './rules.js';
import type { SourcePosition } from './types.js';
import { validate } from './validate.js';
import { expandVariables } from './variables.js';
import { deepMerge, flatten, mapGet, parseYamlFile, scalarText, type YMap, type YNode } from './yaml-source.js';

export interface IncludeEnv extends RuleEnv {
  readFile(path: string): Promise<string | null>;
}

export async function loadWithIncludes(
  configPath: string,
  content: string,
  env: IncludeEnv,
  diags: Diagnostics,
  budget: ExpansionBudget,
): Promise<YMap | null> {
  const loader = new IncludeLoader(env, diags, budget);
  return loader.load(configPath, content, [configPath], null);
}

class IncludeLoader {
  private count = 0;
  constructor(
    private readonly env: IncludeEnv,
    private readonly diags: Diagnostics,
    private readonly budget: ExpansionBudget,
  ) {}

  /** `given`: the `include:inputs` map that came with this file, if any. */
  async load(file: string, text: string, stack: string[], includedAt: SourcePosition | null, given?: YMap): Promise<YMap | null> {
    const { spec, body } = splitHeader(file, text, this.diags, this.budget);
    if (given && !spec) {
      this.diags.error(given.pos, `\`${file}\` has no \`spec:inputs\` header, so it takes no inputs`, 'include:inputs');
      return null;
    }
    const inputs = spec ? resolveInputs(spec, given, includedAt, this.diags) : null;
    if (spec && !inputs) return null;
    const parsed = parseYamlFile(file, body, this.diags, this.budget);
    const root = parsed?.kind === 'map' && inputs ? interpolate(parsed, inputs, this.env.variables, this.diags, this.budget) : parsed;
    if (root === null) {
      if (this.diags.errors.length === 0) {
        this.diags.error(
          includedAt ?? { file, line: 1, column: 1 },
          includedAt ? `included file \`${file}\` is empty` : 'the pipeline file is empty',
        );
      }
      return null;
    }
    if (root.kind !== 'map') {
      this.diags.error(root.pos, `\`${file}\` must be a map of keywords and jobs`);
      return null;
    }
    const include = root.entries.get('include');
    if (!include) return root;
    const before = this.diags.errors.length;
    validate(include.value, includeShape, 'include', this.diags);
    if (this.diags.errors.length > before) return null;

    let merged: YMap = { kind: 'map', entries: new Map(), pos: root.pos };
    for (const item of flatten(include.value)) {
      const local = item.kind === 'map' ? mapGet(item, 'local') : item;
      if (!local) continue;
      const rules = mapGet(item, 'rules');
      if (rules && !(await this.rulesAllow(rules))) continue;
      for (const target of await this.targets(local)) {
        if (stack.includes(target)) {
          this.diags.error(local.pos, `include loop: ${[...stack, target].join(' → ')}`, 'include');
          continue;
        }
        if (++this.count > MAX_INCLUDES) {
          this.diags.error(local.pos, `too many included files (at most ${MAX_INCLUDES})`, 'include');
          return null;
        }
        const content = await this.env.readFile(target);
        if (content === null) {
          this.diags.error(local.pos, `included file \`${target}\` does not exist`, 'include');
          continue;
        }
        const given = mapGet(item, 'inputs');
        const sub = await this.load(target, content, [...stack, target], local.pos, given?.kind === 'map' ? given : undefined);
        if (sub) merged = deepMerge(merged, sub);
      }
    }
    const own = new Map(root.entries);
    own.delete('include');
    return deepMerge(merged, { ...root, entries: own });
  }

  /** `include:rules`: only `if` and `exists`, evaluated with the predefined variables (as GitLab). */
  private async rulesAllow(rules: YNode): Promise<boolean> {
    for (const rule of flatten(rules)) {
      if (rule.kind !== 'map' || !(await ruleMatches(rule, this.env))) continue;
      const when = mapGet(rule, 'when');
      return !when || scalarText(when) !== 'never';
    }
    return false;
  }

  /** Repository paths named by an include entry (variables expanded, globs resolved). */
  private async targets(local: YNode): Promise<string[]> {
    const raw = expandVariables(scalarText(local) ?? '', this.env.variables);
    const normalized = path.posix.normalize(raw.replace(/^\/+/, ''));
    if (normalized.startsWith('../') || normalized === '..' || normalized === '.') {
      this.diags.error(local.pos, `include path \`${raw}\` is outside the repository`, 'include');
      return [];
    }
    if (!isGlob(normalized)) return [normalized];
    const files = await this.env.listFiles();
    if (!files) {
      this.diags.error(local.pos, `include with a wildcard (\`${raw}\`) needs the list of repository files`, 'include');
      return [];
    }
    const match = globMatcher([normalized]);
    const found = files.filter((f) => match(f) && /\.ya?ml$/.test(f)).sort();
    if (found.length === 0) this.diags.error(local.pos, `no file matches the include \`${raw}\``, 'include');
    return found;
  }
}
