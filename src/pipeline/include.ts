// `include`: other files merged under the including file, which wins (GitLab's deep merge).
// `local` files come from the same repository; `project`, `component`, `remote` and `template`
// files from outside it, through the context's readIncludeFile. Every kind goes through `load`, so
// inputs, nested includes and loop checks are the same for all. Included files may include others;
// loops are reported.
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Diagnostics } from './diagnostics.js';
import { includeGlobMatcher } from './glob.js';
import { MAX_INCLUDES, type ExpansionBudget } from './limits.js';
import { includeShape } from './keys.js';
import { interpolate, resolveInputs, splitHeader } from './inputs.js';
import { ruleMatches, type RuleEnv } from './rules.js';
import type { ForeignIncludeRequest, ForeignIncludeResult, SourcePosition } from './types.js';
import { validate } from './validate.js';
import { expandVariables } from './variables.js';
import { deepMerge, flatten, mapGet, parseYamlFile, scalarText, type YMap, type YNode } from './yaml-source.js';

export interface IncludeEnv extends RuleEnv {
  readFile(path: string): Promise<string | null>;
  readIncludeFile?(request: ForeignIncludeRequest): Promise<ForeignIncludeResult>;
}

/**
 * Where a file was read from, so its own `include:local` entries are read there too: GitLab reads
 * them in the included project at the commit its ref resolved to. Remote and template files keep
 * the context of the file that included them.
 */
type Origin = { kind: 'repository' } | { kind: 'project'; path: string; sha: string };

type ReadResult = { content: string; origin: Origin } | { error: string };

/** One file an include entry names, read on demand. */
interface Target {
  /** Unique name of the file, for loop detection. */
  key: string;
  /** The file's name in diagnostics. */
  file: string;
  read(): Promise<ReadResult>;
}

const FOREIGN_KINDS = ['remote', 'template', 'project', 'component'] as const;
const KINDS = ['local', ...FOREIGN_KINDS] as const;
type IncludeKind = (typeof KINDS)[number];

export async function loadWithIncludes(
  configPath: string,
  content: string,
  env: IncludeEnv,
  diags: Diagnostics,
  budget: ExpansionBudget,
): Promise<YMap | null> {
  const loader = new IncludeLoader(env, diags, budget);
  return loader.load(configPath, content, [configPath], null, undefined, { kind: 'repository' });
}

/** A foreign file as read: where it came from is its project when the context names one, else `origin`. */
function readResult(result: ForeignIncludeResult, origin: Origin): ReadResult {
  if (!result.ok) return { error: result.message };
  return { content: result.content, origin: result.project ? { kind: 'project', ...result.project } : origin };
}

/**
 * `include:integrity` (GitLab 17.9): `sha256-<base64 of the SHA-256 of the file>`; a remote file
 * with other content is not used and the pipeline fails.
 */
function checkIntegrity(read: ReadResult, url: string, integrity: YNode): ReadResult {
  if ('error' in read) return read;
  const expected = scalarText(integrity) ?? '';
  const actual = `sha256-${createHash('sha256').update(read.content, 'utf8').digest('base64')}`;
  return expected === actual ? read : { error: `remote include \`${url}\` does not match its integrity hash (${expected})` };
}

class IncludeLoader {
  private count = 0;
  /** Each foreign file is asked for once per compilation, however often it is included. */
  private readonly fetched = new Map<string, Promise<ForeignIncludeResult>>();
  constructor(
    private readonly env: IncludeEnv,
    private readonly diags: Diagnostics,
    private readonly budget: ExpansionBudget,
  ) {}

  /** `given`: the `include:inputs` map that came with this file, if any. */
  async load(
    file: string,
    text: string,
    stack: string[],
    includedAt: SourcePosition | null,
    given: YMap | undefined,
    origin: Origin,
  ): Promise<YMap | null> {
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

    // Every file this one names is asked for at once (foreign ones are fetched side by side), then
    // merged in order.
    const named: { kind: IncludeKind; node: YNode; item: YNode; target: Target; read: Promise<ReadResult> | null }[] = [];
    for (const item of flatten(include.value)) {
      const entry = this.kindOf(item);
      if (!entry) continue;
      const rules = mapGet(item, 'rules');
      if (rules && !(await this.rulesAllow(rules))) continue;
      if (entry.kind !== 'local' && !this.env.readIncludeFile) {
        // `tandem lint` reads no file outside the repository: it checks the rest, and says what it skipped.
        this.diags.warn(
          entry.node.pos,
          `\`include:${entry.kind}\` is not checked: this command reads no file outside the repository`,
          `include:${entry.kind}`,
        );
        this.diags.unreadIncludes.push(entry.node.pos);
        continue;
      }
      for (const target of await this.targets(entry.kind, entry.node, item, origin)) {
        const looped = stack.includes(target.key);
        const read = looped ? null : target.read();
        // Awaited below in order, unless an earlier file ends the compilation: never an unhandled rejection.
        read?.catch(() => undefined);
        named.push({ ...entry, item, target, read });
      }
    }
    let merged: YMap = { kind: 'map', entries: new Map(), pos: root.pos };
    for (const { kind, node, item, target, read: reading } of named) {
      if (reading === null) {
        this.diags.error(node.pos, `include loop: ${[...stack, target.key].join(' → ')}`, 'include');
        continue;
      }
      if (++this.count > MAX_INCLUDES) {
        this.diags.error(node.pos, `too many included files (at most ${MAX_INCLUDES})`, 'include');
        return null;
      }
      const read = await reading;
      if ('error' in read) {
        this.diags.error(node.pos, read.error, `include:${kind}`);
        continue;
      }
      const given = mapGet(item, 'inputs');
      const sub = await this.load(
        target.file,
        read.content,
        [...stack, target.key],
        node.pos,
        given?.kind === 'map' ? given : undefined,
        read.origin,
      );
      if (sub) merged = deepMerge(merged, sub);
    }
    const own = new Map(root.entries);
    own.delete('include');
    return deepMerge(merged, { ...root, entries: own });
  }

  /** The entry's kind and the node naming the file; a string is `local`, or `remote` when it is a URL (as GitLab). */
  private kindOf(item: YNode): { kind: IncludeKind; node: YNode } | null {
    if (item.kind !== 'map') {
      const text = scalarText(item) ?? '';
      return { kind: /^https?:\/\//i.test(text) ? 'remote' : 'local', node: item };
    }
    const present = KINDS.filter((k) => item.entries.has(k));
    if (present.length !== 1) {
      this.diags.error(
        item.pos,
        present.length === 0
          ? `an include needs one of ${KINDS.map((k) => `\`${k}\``).join(', ')}`
          : `an include takes one of ${present.map((k) => `\`${k}\``).join(', ')}, not several`,
        'include',
      );
      return null;
    }
    const kind = present[0];
    const misplaced = [
      ...['file', 'ref'].filter((k) => kind !== 'project' && item.entries.has(k)),
      ...(kind !== 'remote' && item.entries.has('integrity') ? ['integrity'] : []),
    ];
    if (kind === 'project' && !item.entries.has('file')) {
      this.diags.error(item.pos, '`include:project` needs `file`', 'include');
      return null;
    }
    if (misplaced.length > 0) {
      const owner = misplaced.includes('integrity') ? 'include:remote' : 'include:project';
      this.diags.error(item.pos, `\`${misplaced.join('` and `')}\` go with \`${owner}\` only`, 'include');
      return null;
    }
    return { kind, node: mapGet(item, kind) as YNode };
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

  private expand(node: YNode): string {
    return expandVariables(scalarText(node) ?? '', this.env.variables).trim();
  }

  private targets(kind: IncludeKind, node: YNode, item: YNode, origin: Origin): Promise<Target[]> | Target[] {
    switch (kind) {
      case 'local':
        return this.localTargets(node, origin);
      case 'project': {
        const project = this.expand(node).replace(/^\/+|\/+$/g, '');
        const refNode = mapGet(item, 'ref');
        const ref = refNode ? this.expand(refNode) || null : null;
        const files = flatten(mapGet(item, 'file') as YNode).map((f) => this.expand(f).replace(/^\/+/, ''));
        return files.map((file) => this.projectTarget({ kind: 'project', project, ref, file }));
      }
      case 'component':
        return this.componentTarget(node);
      case 'remote': {
        const url = this.expand(node);
        const integrity = mapGet(item, 'integrity');
        const read = () => this.foreign({ kind: 'remote', url }, origin);
        return [{ key: url, file: url, read: integrity ? () => read().then((r) => checkIntegrity(r, url, integrity)) : read }];
      }
      case 'template': {
        const name = this.expand(node);
        return [{ key: `template:${name}`, file: name, read: () => this.foreign({ kind: 'template', name }, origin) }];
      }
    }
  }

  /** Asks the context for a foreign file, once per compilation; `origin` is kept unless it is a project's file. */
  private async foreign(request: ForeignIncludeRequest, origin: Origin): Promise<ReadResult> {
    return readResult(await this.ask(request), origin);
  }

  /** Asks the context for a foreign file (load checked that it can read them), once per compilation. */
  private ask(request: ForeignIncludeRequest): Promise<ForeignIncludeResult> {
    const reader = this.env.readIncludeFile;
    if (!reader) throw new Error('include: foreign files asked for without readIncludeFile');
    const key = JSON.stringify(request);
    let pending = this.fetched.get(key);
    if (!pending) {
      pending = reader.call(this.env, request);
      this.fetched.set(key, pending);
    }
    return pending;
  }

  private projectTarget(request: Extract<ForeignIncludeRequest, { kind: 'project' }>): Target {
    const at = request.ref ?? '';
    return {
      key: `${request.project}@${at}:${request.file}`,
      file: `${request.project}:${request.file}`,
      read: () => this.foreign(request, { kind: 'repository' }),
    };
  }

  /**
   * `include:component`: `host/group/project/name@version`, read from the project's
   * `templates/<name>.yml`, else `templates/<name>/template.yml` (GitLab's CI/CD catalog layout).
   */
  private componentTarget(node: YNode): Target[] {
    const address = this.expand(node);
    const m = /^([^/@\s]+)\/(.+)\/([^/@\s]+)@([^@\s]+)$/.exec(address);
    if (!m) {
      this.diags.error(node.pos, `\`${address}\` is not a component address (host/group/project/name@version)`, 'include:component');
      return [];
    }
    const [, host, project, name, version] = m;
    if (version === '~latest') {
      this.diags.error(
        node.pos,
        `component \`${address}\`: \`~latest\` is not supported (it needs the CI/CD catalog's releases); name a tag, branch or commit`,
        'include:component',
      );
      return [];
    }
    const layouts = [`templates/${name}.yml`, `templates/${name}/template.yml`];
    return [
      {
        key: `component:${host}/${project}/${name}@${version}`,
        file: `${project}:templates/${name}`,
        read: async () => {
          for (const file of layouts) {
            const result = await this.ask({ kind: 'project', project, ref: version, file, host });
            if (result.ok || !result.missing) return readResult(result, { kind: 'repository' });
          }
          return {
            error: `component \`${address}\`: neither ${layouts.map((l) => `\`${l}\``).join(' nor ')} exists in \`${project}\` at \`${version}\``,
          };
        },
      },
    ];
  }

  /** Files named by an `include:local` entry (variables expanded, wildcards resolved), read where `origin` says. */
  private async localTargets(local: YNode, origin: Origin): Promise<Target[]> {
    const raw = this.expand(local);
    const normalized = path.posix.normalize(raw.replace(/^\/+/, ''));
    if (normalized.startsWith('../') || normalized === '..' || normalized === '.') {
      this.diags.error(local.pos, `include path \`${raw}\` is outside the repository`, 'include');
      return [];
    }
    const paths = normalized.includes('*') ? await this.expandWildcard(local, raw, normalized, origin) : [normalized];
    return paths.map((file) =>
      origin.kind === 'repository'
        ? {
            key: file,
            file,
            read: async () => {
              const content = await this.env.readFile(file);
              return content === null ? { error: `included file \`${file}\` does not exist` } : { content, origin };
            },
          }
        : this.projectTarget({ kind: 'project', project: origin.path, ref: origin.sha, file }),
    );
  }

  /** GitLab's wildcard includes: only `.yml`/`.yaml` files, sorted, at least one. */
  private async expandWildcard(local: YNode, raw: string, glob: string, origin: Origin): Promise<string[]> {
    if (origin.kind !== 'repository') {
      this.diags.error(local.pos, `a wildcard \`include:local\` (\`${raw}\`) inside a file of another project is not supported`, 'include');
      return [];
    }
    const files = await this.env.listFiles();
    if (!files) {
      this.diags.error(local.pos, `include with a wildcard (\`${raw}\`) needs the list of repository files`, 'include');
      return [];
    }
    const match = includeGlobMatcher(glob);
    const found = files.filter((f) => match(f) && /\.ya?ml$/.test(f)).sort();
    if (found.length === 0) this.diags.error(local.pos, `no file matches the include \`${raw}\``, 'include');
    return found;
  }
}
