// Turns pipeline YAML into a small tree whose every node remembers where it was written, so that
// errors found long after parsing (after include, extends and !reference moved values around)
// still name the file, line and column the user has to fix.
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode, type Tags } from 'yaml';
import type { SourcePosition } from './types.js';
import type { Diagnostics } from './diagnostics.js';
import { LimitExceeded, MAX_FILE_BYTES, MAX_YAML_DEPTH, tooDeepAt, type ExpansionBudget } from './limits.js';

export type Scalar = string | number | boolean | null;

interface NodeBase {
  pos: SourcePosition;
}

export interface YScalar extends NodeBase {
  kind: 'scalar';
  value: Scalar;
  /**
   * Columns between `pos` and the first character of the string value when the source text maps
   * one to one onto the value (single-line, no escapes); lets expression errors point inside it.
   */
  valueOffset: number | null;
}

export interface YEntry {
  key: string;
  keyPos: SourcePosition;
  value: YNode;
}

export interface YMap extends NodeBase {
  kind: 'map';
  /** A Map because job order is file order, and job names like `1` must not be reordered. */
  entries: Map<string, YEntry>;
}

export interface YSeq extends NodeBase {
  kind: 'seq';
  items: YNode[];
}

/** An unresolved `!reference [a, b]` tag. */
export interface YReference extends NodeBase {
  kind: 'reference';
  path: string[];
}

export type YNode = YScalar | YMap | YSeq | YReference;

// GitLab reads YAML with Ruby's Psych (YAML 1.1). Psych's booleans are true/false/yes/no/on/off in
// three casings, but not y/n, so the 1.1 schema of `yaml` is used with this narrower boolean tag.
const PSYCH_BOOL = /^(?:true|True|TRUE|false|False|FALSE|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF)$/;
function psychTags(tags: Tags): Tags {
  const kept = tags.filter((t) => typeof t === 'string' || t.tag !== 'tag:yaml.org,2002:bool');
  return [
    // Psych's float pattern also matches a lone `.` (and `+.`, `-.`) but keeps it a string, so that
    // `source: .` is the current directory, not NaN. The first tag whose test matches wins.
    { tag: 'tag:yaml.org,2002:str', default: true, test: /^[-+]?\.$/, resolve: (s: string) => s },
    ...kept,
    {
      tag: 'tag:yaml.org,2002:bool',
      default: true,
      identify: (v: unknown) => typeof v === 'boolean',
      test: PSYCH_BOOL,
      resolve: (s: string) => /^(?:true|yes|on)$/i.test(s),
    },
  ];
}

export function positionOf(file: string, lineCounter: LineCounter, offset: number): SourcePosition {
  const { line, col } = lineCounter.linePos(offset);
  return { file, line, column: col };
}

/**
 * Parses one file. Returns null (with errors reported) when the YAML itself is broken; throws
 * LimitExceeded when the file is too big or too deep, or expands past what `budget` has left.
 */
export function parseYamlFile(file: string, text: string, diags: Diagnostics, budget: ExpansionBudget): YNode | null {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_FILE_BYTES) {
    throw new LimitExceeded(
      { file, line: 1, column: 1 },
      `\`${file}\` is ${bytes.toLocaleString('en')} bytes; a pipeline file may have at most ${MAX_FILE_BYTES.toLocaleString('en')}`,
    );
  }
  const deep = tooDeepAt(text, MAX_YAML_DEPTH);
  if (deep)
    throw new LimitExceeded(
      { file, ...deep },
      `the YAML nests more than ${MAX_YAML_DEPTH} levels deep (or is indented more than ${4 * MAX_YAML_DEPTH} columns)`,
    );
  let lineCounter = new LineCounter();
  let doc = parseYaml(text, lineCounter);
  if (doc.errors.some((e) => e.code === 'BAD_INDENT' && /^Flow (sequence|map) in block collection/.test(e.message))) {
    // Psych (libyaml) does not check indentation inside a flow collection, so GitLab accepts a
    // `]` or `}` (or items) left of the key that opened it; `yaml` does not. Such lines are
    // indented past the opening line's indentation and parsed again (lines keep their numbers).
    const retryCounter = new LineCounter();
    const retried = parseYaml(indentFlowContinuations(text), retryCounter);
    if (retried.errors.length === 0) [doc, lineCounter] = [retried, retryCounter];
  }
  for (const e of doc.errors) {
    diags.error(positionOf(file, lineCounter, e.pos[0]), firstLine(e.message));
  }
  for (const w of doc.warnings) {
    // `!reference` is handled below; every other unknown tag would silently turn into a string.
    if (w.code === 'TAG_RESOLVE_FAILED' && w.message.includes('!reference')) continue;
    diags.error(positionOf(file, lineCounter, w.pos[0]), firstLine(w.message));
  }
  if (doc.errors.length > 0) return null;
  if (doc.contents === null) return null;
  const converter = new Converter(file, text, lineCounter, diags, doc, budget);
  return converter.convert(doc.contents as YamlNode, 0);
}

function parseYaml(text: string, lineCounter: LineCounter): ParsedDoc {
  return parseDocument(text, {
    lineCounter,
    version: '1.1',
    customTags: psychTags,
    // Checked while converting (a Map): the library compares each key with every earlier one, time
    // quadratic in the keys of a map, minutes for the 100,000 top-level keys a 2 MB file can hold.
    uniqueKeys: false,
    prettyErrors: false,
  });
}

/**
 * The text with every line that continues a flow collection (`[`, `{` opened on an earlier line and
 * not yet closed) indented one column past the line that opened it. Quotes and comments are
 * followed well enough for pipeline files; only a file `yaml` refused is given this treatment, and
 * only when the result parses cleanly.
 */
export function indentFlowContinuations(text: string): string {
  const lines = text.split('\n');
  let depth = 0;
  let openedAtIndent = 0;
  let quote: '"' | "'" | null = null;
  return lines
    .map((original) => {
      let line = original;
      const indent = line.length - line.trimStart().length;
      if (depth > 0 && quote === null && indent <= openedAtIndent && line.trim() !== '') {
        line = ' '.repeat(openedAtIndent + 1 - indent) + line;
      } else if (depth === 0) {
        openedAtIndent = indent;
      }
      for (let i = 0; i < line.length; i++) {
        const c = line[i];
        const before = i === 0 ? ' ' : line[i - 1];
        if (quote === '"') {
          if (c === '\\') i++;
          else if (c === '"') quote = null;
        } else if (quote === "'") {
          if (c === "'" && line[i + 1] === "'") i++;
          else if (c === "'") quote = null;
        } else if (c === '#' && /\s/.test(before)) {
          break;
        } else if ((c === '"' || c === "'") && /[\s[{,:]/.test(before)) {
          quote = c;
        } else if (c === '[' || c === '{') {
          depth++;
        } else if ((c === ']' || c === '}') && depth > 0) {
          depth--;
        }
      }
      return line;
    })
    .join('\n');
}

function firstLine(message: string): string {
  return message.split('\n')[0];
}

type ParsedDoc = ReturnType<typeof parseDocument>;

class Converter {
  private readonly resolving = new Set<YamlNode>();
  private readonly aliasTargets = new Map<import('yaml').Alias, YamlNode | undefined>();
  /** The outermost alias being expanded: an expansion past the budget is reported where it was written. */
  private expanding: { pos: SourcePosition; what: string } | null = null;

  constructor(
    private readonly file: string,
    private readonly text: string,
    private readonly lines: LineCounter,
    private readonly diags: Diagnostics,
    private readonly doc: ParsedDoc,
    private readonly budget: ExpansionBudget,
  ) {}

  private pos(node: { range?: [number, number, number] | null }): SourcePosition {
    return positionOf(this.file, this.lines, node.range?.[0] ?? 0);
  }

  // `Alias.resolve` searches the whole document; an alias used a million times must not cost that each time.
  private aliasTarget(alias: import('yaml').Alias): YamlNode | undefined {
    if (!this.aliasTargets.has(alias)) this.aliasTargets.set(alias, alias.resolve(this.doc) as YamlNode | undefined);
    return this.aliasTargets.get(alias);
  }

  private spend(pos: SourcePosition, chars: number): void {
    this.budget.spend(this.expanding?.pos ?? pos, chars, this.expanding?.what ?? 'this value');
  }

  /** `depth`: maps and lists around `node`, aliases expanded. Every value made is paid from the budget. */
  convert(node: YamlNode, depth: number): YNode {
    if (depth > MAX_YAML_DEPTH) throw new LimitExceeded(this.pos(node), `the YAML nests more than ${MAX_YAML_DEPTH} levels deep`);
    if (isAlias(node)) {
      const target = this.aliasTarget(node);
      if (!target) {
        this.diags.error(this.pos(node), `unknown alias *${node.source}`);
        return { kind: 'scalar', value: null, pos: this.pos(node), valueOffset: null };
      }
      if (this.resolving.has(target)) {
        this.diags.error(this.pos(node), `alias *${node.source} refers to itself`);
        return { kind: 'scalar', value: null, pos: this.pos(node), valueOffset: null };
      }
      this.resolving.add(target);
      const outermost = this.expanding === null;
      if (outermost) this.expanding = { pos: this.pos(node), what: `alias *${node.source}` };
      try {
        return this.convert(target, depth);
      } finally {
        this.resolving.delete(target);
        if (outermost) this.expanding = null;
      }
    }
    if (isScalar(node)) return this.scalar(node);
    this.spend(this.pos(node), 0);
    if (isSeq(node)) {
      const items = node.items.map((item) => this.convert(item as YamlNode, depth + 1));
      if (node.tag === '!reference') return this.reference(node, items);
      return { kind: 'seq', items, pos: this.pos(node) };
    }
    if (isMap(node)) return this.map(node, depth);
    this.diags.error(this.pos(node as { range?: [number, number, number] }), 'unsupported YAML node');
    return { kind: 'scalar', value: null, pos: this.pos(node as { range?: [number, number, number] }), valueOffset: null };
  }

  private scalar(node: import('yaml').Scalar): YScalar {
    const pos = this.pos(node);
    const [start, end] = node.range ?? [0, 0];
    this.spend(pos, end - start);
    const raw = this.text.slice(start, end);
    let value: Scalar;
    if (node.value === null || ['string', 'number', 'boolean'].includes(typeof node.value)) {
      value = node.value as Scalar;
    } else {
      // Timestamps, binary and other 1.1 types: GitLab keys never want those, the text is what was meant.
      value = raw;
    }
    let valueOffset: number | null = null;
    if (typeof value === 'string' && !value.includes('\n')) {
      if (raw === value) valueOffset = 0;
      else if (raw.length === value.length + 2 && raw.slice(1, -1) === value) valueOffset = 1;
    }
    if (node.tag && node.tag !== '!reference' && !node.tag.startsWith('tag:yaml.org,2002:')) {
      this.diags.error(pos, `unknown YAML tag ${node.tag}`);
    }
    return { kind: 'scalar', value, pos, valueOffset };
  }

  private reference(node: import('yaml').YAMLSeq, items: YNode[]): YNode {
    const path: string[] = [];
    for (const item of items) {
      if (item.kind !== 'scalar' || item.value === null || typeof item.value === 'boolean') {
        this.diags.error(item.pos, '!reference takes a list of keys, like !reference [.setup, script]');
        return { kind: 'scalar', value: null, pos: this.pos(node), valueOffset: null };
      }
      path.push(String(item.value));
    }
    if (path.length === 0) this.diags.error(this.pos(node), '!reference needs at least one key');
    return { kind: 'reference', path, pos: this.pos(node) };
  }

  private map(node: import('yaml').YAMLMap, depth: number): YMap {
    const entries = new Map<string, YEntry>();
    const merged: YEntry[] = [];
    for (const pair of node.items) {
      const keyNode = pair.key as YamlNode | null;
      const keyPos = keyNode ? this.pos(keyNode) : this.pos(node);
      if (isScalar(keyNode) && (typeof keyNode.value === 'symbol' || (keyNode.value === '<<' && keyNode.type === 'PLAIN'))) {
        merged.push(...this.mergeSources(pair.value as YamlNode | null, keyPos, depth));
        continue;
      }
      if (!isScalar(keyNode)) {
        this.diags.error(keyPos, 'map keys must be plain strings');
        continue;
      }
      // The written text, so that a variable named ON or a job named 1.10 keeps its name.
      const key = typeof keyNode.value === 'string' ? keyNode.value : (keyNode.source ?? String(keyNode.value));
      this.spend(keyPos, key.length);
      const value: YNode = pair.value
        ? this.convert(pair.value as YamlNode, depth + 1)
        : { kind: 'scalar', value: null, pos: keyPos, valueOffset: null };
      // GitLab's parser (Psych) keeps the last value, at the first key's place in the map: a warning, not an error.
      if (entries.has(key)) this.diags.warn(keyPos, `duplicate key "${key}": the later value is used, as GitLab does`);
      entries.set(key, { key, keyPos, value });
    }
    if (merged.length === 0) return { kind: 'map', entries, pos: this.pos(node) };
    // YAML merge keys: explicit keys win, then earlier merge sources over later ones.
    const result = new Map<string, YEntry>();
    for (const entry of merged) if (!result.has(entry.key) && !entries.has(entry.key)) result.set(entry.key, entry);
    for (const [key, entry] of entries) result.set(key, entry);
    return { kind: 'map', entries: result, pos: this.pos(node) };
  }

  private mergeSources(value: YamlNode | null, keyPos: SourcePosition, depth: number): YEntry[] {
    const sources = value && isSeq(value) ? (value.items as YamlNode[]) : value ? [value] : [];
    const out: YEntry[] = [];
    const seen = new Set<string>();
    for (const source of sources) {
      const converted = this.convert(source, depth);
      if (converted.kind !== 'map') {
        this.diags.error(converted.pos ?? keyPos, 'the merge key << takes a map or a list of maps');
        continue;
      }
      for (const [key, entry] of converted.entries) {
        if (seen.has(key)) continue;
        seen.add(key);
        out.push(entry);
      }
    }
    return out;
  }
}

/** Human-readable kind for messages: "a string", "a list"... */
export function describeNode(node: YNode): string {
  if (node.kind === 'map') return 'a map';
  if (node.kind === 'seq') return 'a list';
  if (node.kind === 'reference') return 'a !reference';
  if (node.value === null) return 'null';
  return typeof node.value === 'string' ? 'a string' : `a ${typeof node.value}`;
}

export function scalarText(node: YNode): string | null {
  if (node.kind !== 'scalar' || node.value === null) return null;
  return String(node.value);
}

/** The text of an optional scalar node: undefined when the node is absent, null or not a scalar. */
export function textOf(node: YNode | undefined): string | undefined {
  return (node && scalarText(node)) ?? undefined;
}

export function mapGet(node: YNode | undefined, key: string): YNode | undefined {
  return node?.kind === 'map' ? node.entries.get(key)?.value : undefined;
}

/**
 * GitLab's deep merge, used by `include` and `extends`: maps merge key by key, anything else
 * (lists included) is replaced by the overriding value.
 */
export function deepMerge(base: YMap, over: YMap): YMap {
  const entries = new Map(base.entries);
  for (const [key, entry] of over.entries) {
    const existing = entries.get(key);
    if (existing && existing.value.kind === 'map' && entry.value.kind === 'map') {
      entries.set(key, { ...entry, value: deepMerge(existing.value, entry.value) });
    } else {
      entries.set(key, entry);
    }
  }
  return { kind: 'map', entries, pos: over.pos };
}

/** Flattens nested lists (GitLab allows up to 10 levels in scripts and rules, e.g. from !reference). */
export function flatten(node: YNode): YNode[] {
  if (node.kind !== 'seq') return [node];
  return node.items.flatMap((item) => (item.kind === 'seq' ? flatten(item) : [item]));
}

/** Plain JSON of a node, for values kept verbatim (image, services, environment extras). */
export function toPlain(node: YNode | undefined): unknown {
  if (!node) return null;
  switch (node.kind) {
    case 'scalar':
      return node.value;
    case 'seq':
      return node.items.map(toPlain);
    case 'map':
      return Object.fromEntries([...node.entries].map(([k, e]) => [k, toPlain(e.value)]));
    case 'reference':
      return null;
  }
}
