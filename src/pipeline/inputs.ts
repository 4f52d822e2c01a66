// `spec:inputs` headers and `$[[ inputs.x ]]` interpolation (https://docs.gitlab.com/ci/inputs/).
// As GitLab does, the header is its own YAML document before `---`, and interpolation runs on the
// parsed body (keys and string values), so an input never changes the YAML structure around it
// and every node keeps the position it was written at.
import type { Diagnostics } from './diagnostics.js';
import type { ExpansionBudget } from './limits.js';
import type { SourcePosition } from './types.js';
import { compileUntrustedRegex, RegexSyntaxError } from './untrusted-regex.js';
import { expandVariables } from './variables.js';
import { describeNode, parseYamlFile, toPlain, type YEntry, type YMap, type YNode } from './yaml-source.js';

type InputValue = string | number | boolean | unknown[];
type InputType = 'string' | 'number' | 'boolean' | 'array';
const INPUT_TYPES: readonly InputType[] = ['string', 'number', 'boolean', 'array'];
const SPEC_KEYS = ['default', 'description', 'options', 'regex', 'type'];
/** GitLab's limit on functions chained in one interpolation block. */
const MAX_FUNCTIONS = 3;

/** A file split into its optional `spec` header and its body; the body keeps its line numbers. */
export interface SplitFile {
  spec: YMap | null;
  body: string;
}

// A document start marker on its own line; the header is what comes before the first one.
const DOCUMENT_MARKER = /^---[ \t]*(?:#.*)?$/gm;

export function splitHeader(file: string, text: string, diags: Diagnostics, budget: ExpansionBudget): SplitFile {
  for (const marker of text.matchAll(DOCUMENT_MARKER)) {
    const header = text.slice(0, marker.index);
    if (!/^[ \t]*[^\s#-]/m.test(header)) continue; // only comments or a leading `---` so far
    const parsed = parseYamlFile(file, header, diags, budget);
    if (parsed === null) return { spec: null, body: '' }; // broken header, already reported
    if (parsed.kind !== 'map' || !parsed.entries.has('spec')) return { spec: null, body: text };
    for (const entry of parsed.entries.values()) {
      if (entry.key !== 'spec') diags.error(entry.keyPos, `the header before \`---\` may only hold \`spec\`, not \`${entry.key}\``);
    }
    // Blank lines in place of the header: positions in the body stay those of the file.
    const blank = '\n'.repeat((header.match(/\n/g) ?? []).length);
    return { spec: parsed, body: blank + text.slice(marker.index + marker[0].length) };
  }
  return { spec: null, body: text };
}

interface InputSpec {
  name: string;
  pos: SourcePosition;
  type: InputType;
  default?: YNode;
  options?: YNode;
  regex?: { source: string; pos: SourcePosition };
}

/**
 * The values of a header's inputs: given ones (`include:inputs`) checked against the spec, defaults
 * for the rest. `given` and `givenAt` are absent for the main file (GitLab then uses defaults).
 * Returns null when an input is missing or invalid (reported).
 */
export function resolveInputs(
  header: YMap,
  given: YMap | undefined,
  givenAt: SourcePosition | null,
  diags: Diagnostics,
): Map<string, InputValue> | null {
  const before = diags.errors.length;
  const specs = readSpecs(header, diags);
  const values = new Map<string, InputValue>();
  for (const [name, entry] of given?.entries ?? []) {
    if (!specs.has(name)) diags.error(entry.keyPos, `unknown input \`${name}\`: the included file's spec does not declare it`, 'inputs');
  }
  for (const spec of specs.values()) {
    const entry = given?.entries.get(spec.name);
    const node = entry?.value ?? spec.default;
    if (!node) {
      diags.error(givenAt ?? spec.pos, `input \`${spec.name}\` is required: it has no default and no value was given`, 'inputs');
      continue;
    }
    const value = checkValue(spec, node, diags);
    if (value !== null) values.set(spec.name, value);
  }
  return diags.errors.length > before ? null : values;
}

function readSpecs(header: YMap, diags: Diagnostics): Map<string, InputSpec> {
  const specs = new Map<string, InputSpec>();
  const spec = header.entries.get('spec')!.value;
  if (spec.kind !== 'map') {
    diags.error(spec.pos, `\`spec\` must be a map with \`inputs\`, got ${describeNode(spec)}`, 'spec');
    return specs;
  }
  for (const entry of spec.entries.values()) {
    if (entry.key !== 'inputs') diags.error(entry.keyPos, `\`spec:${entry.key}\` is not supported (only \`spec:inputs\`)`, 'spec');
  }
  const inputs = spec.entries.get('inputs')?.value;
  if (!inputs || (inputs.kind === 'scalar' && inputs.value === null)) return specs;
  if (inputs.kind !== 'map') {
    diags.error(inputs.pos, `\`spec:inputs\` must be a map of input names, got ${describeNode(inputs)}`, 'spec:inputs');
    return specs;
  }
  for (const { key: name, keyPos, value } of inputs.entries.values()) {
    const where = `spec:inputs:${name}`;
    const declared: InputSpec = { name, pos: keyPos, type: 'string' };
    specs.set(name, declared);
    if (value.kind === 'scalar' && value.value === null) continue; // `name:` alone: a required string
    if (value.kind !== 'map') {
      diags.error(value.pos, `input \`${name}\` must be a map of ${SPEC_KEYS.join(', ')}`, where);
      continue;
    }
    for (const entry of value.entries.values()) {
      if (!SPEC_KEYS.includes(entry.key))
        diags.error(entry.keyPos, `unknown key \`${entry.key}\` in input \`${name}\` (expected one of ${SPEC_KEYS.join(', ')})`, where);
    }
    const type = value.entries.get('type')?.value;
    if (type) {
      const text = type.kind === 'scalar' ? String(type.value) : '';
      if ((INPUT_TYPES as readonly string[]).includes(text)) declared.type = text as InputType;
      else diags.error(type.pos, `input \`${name}\`: type must be one of ${INPUT_TYPES.join(', ')}`, where);
    }
    declared.default = value.entries.get('default')?.value;
    declared.options = value.entries.get('options')?.value;
    if (declared.options && declared.options.kind !== 'seq') {
      diags.error(declared.options.pos, `input \`${name}\`: options must be a list`, where);
      declared.options = undefined;
    }
    const regex = value.entries.get('regex')?.value;
    if (regex) {
      const source = regex.kind === 'scalar' && typeof regex.value === 'string' ? regex.value.replace(/^\/(.*)\/$/s, '$1') : null;
      if (source === null) diags.error(regex.pos, `input \`${name}\`: regex must be a string`, where);
      else declared.regex = { source, pos: regex.pos };
    }
  }
  return specs;
}

/** The value if it fits the spec's type, options and regex; null when not (reported at the value). */
function checkValue(spec: InputSpec, node: YNode, diags: Diagnostics): InputValue | null {
  const plain = toPlain(node);
  const actual = Array.isArray(plain) ? 'array' : typeof plain;
  if (actual !== spec.type) {
    diags.error(node.pos, `input \`${spec.name}\` must be a ${spec.type}, got ${describeNode(node)}`, 'inputs');
    return null;
  }
  const value = plain as InputValue;
  if (spec.options) {
    const allowed = spec.options.kind === 'seq' ? spec.options.items.map(toPlain) : [];
    if (!allowed.some((option) => option === value)) {
      diags.error(
        node.pos,
        `input \`${spec.name}\`: \`${String(value)}\` is not one of the options ${allowed.map(String).join(', ')}`,
        'inputs',
      );
      return null;
    }
  }
  if (spec.regex && typeof value === 'string') {
    try {
      if (!compileUntrustedRegex(spec.regex.source, '').test(value)) {
        diags.error(node.pos, `input \`${spec.name}\`: \`${value}\` does not match the regex /${spec.regex.source}/`, 'inputs');
        return null;
      }
    } catch (err) {
      if (!(err instanceof RegexSyntaxError)) throw err;
      diags.error(spec.regex.pos, `input \`${spec.name}\`: invalid regex: ${err.message}`, 'spec:inputs');
      return null;
    }
  }
  return value;
}

const BLOCK = /\$\[\[\s*(.*?)\s*\]\]/g;

/**
 * Replaces `$[[ inputs.x | fn ]]` blocks in every key and string of `root`. A value that is one
 * block alone takes the input's type (a number stays a number, an array becomes a list).
 * `variables` serve `expand_vars`.
 */
export function interpolate(
  root: YMap,
  inputs: Map<string, InputValue>,
  variables: Record<string, string>,
  diags: Diagnostics,
  budget: ExpansionBudget,
): YMap {
  const interpolator = new Interpolator(inputs, variables, diags, budget);
  return interpolator.map(root);
}

class Interpolator {
  constructor(
    private readonly inputs: Map<string, InputValue>,
    private readonly variables: Record<string, string>,
    private readonly diags: Diagnostics,
    private readonly budget: ExpansionBudget,
  ) {}

  map(node: YMap): YMap {
    const entries = new Map<string, YEntry>();
    for (const entry of node.entries.values()) {
      const key = entry.key.includes('$[[') ? this.text(entry.key, entry.keyPos) : entry.key;
      entries.set(key, { key, keyPos: entry.keyPos, value: this.node(entry.value) });
    }
    return { ...node, entries };
  }

  private node(node: YNode): YNode {
    if (node.kind === 'map') return this.map(node);
    if (node.kind === 'seq') return { ...node, items: node.items.map((item) => this.node(item)) };
    if (node.kind !== 'scalar' || typeof node.value !== 'string' || !node.value.includes('$[[')) return node;
    const whole = /^\$\[\[\s*(.*?)\s*\]\]$/s.exec(node.value);
    if (whole && !whole[1].includes(']]')) {
      const value = this.block(whole[1], node.pos);
      if (value !== undefined && typeof value !== 'string') {
        // An array input used many times could otherwise multiply past the expansion limits.
        this.budget.spend(node.pos, JSON.stringify(value).length, 'input interpolation');
        return fromPlain(value, node.pos);
      }
    }
    return { kind: 'scalar', value: this.text(node.value, node.pos), pos: node.pos, valueOffset: null };
  }

  private text(text: string, pos: SourcePosition): string {
    const out = text.replace(BLOCK, (match, inner: string) => {
      const value = this.block(inner, pos);
      if (value === undefined) return match;
      return typeof value === 'string' ? value : JSON.stringify(value);
    });
    this.budget.spend(pos, out.length, 'input interpolation');
    return out;
  }

  /** The value of one block's content; undefined for blocks that are not about inputs (`matrix.X`). */
  private block(inner: string, pos: SourcePosition): InputValue | undefined {
    const [access, ...functions] = inner.split('|').map((part) => part.trim());
    // GitLab splits the access path on dots only, so a name may hold other characters (`black/enabled`).
    const m = /^inputs\.([^.\s]+)$/.exec(access);
    if (!m) return access.startsWith('inputs') ? this.fail(pos, `invalid interpolation \`${access}\``) : undefined;
    if (!this.inputs.has(m[1])) return this.fail(pos, `unknown input \`${m[1]}\` in \`$[[ ${inner} ]]\``);
    let value = this.inputs.get(m[1])!;
    if (functions.length > MAX_FUNCTIONS) return this.fail(pos, `too many functions in \`$[[ ${inner} ]]\` (at most ${MAX_FUNCTIONS})`);
    for (const fn of functions) {
      if (typeof value !== 'string') return this.fail(pos, `\`${fn}\` works on a string; input \`${m[1]}\` is not one`);
      const result = this.apply(fn, value);
      if (result === null)
        return this.fail(pos, `unknown interpolation function \`${fn}\` (GitLab has expand_vars, truncate(offset,length), posix_escape)`);
      value = result;
    }
    return value;
  }

  private apply(fn: string, value: string): string | null {
    if (fn === 'expand_vars') return expandVariables(value, this.variables, { keepUnknown: true });
    if (fn === 'posix_escape') return posixEscape(value);
    const truncate = /^truncate\(\s*(\d+)\s*,\s*(\d+)\s*\)$/.exec(fn);
    if (truncate) return value.substr(Number(truncate[1]), Number(truncate[2]));
    return null;
  }

  private fail(pos: SourcePosition, message: string): undefined {
    this.diags.error(pos, message);
    return undefined;
  }
}

/** Ruby's Shellwords.escape, which GitLab's `posix_escape` uses. */
export function posixEscape(text: string): string {
  if (text === '') return "''";
  return text.replace(/[^A-Za-z0-9_\-.,:+/@\n]/g, '\\$&').replace(/\n/g, "'\n'");
}

function fromPlain(value: unknown, pos: SourcePosition): YNode {
  if (Array.isArray(value)) return { kind: 'seq', items: value.map((item) => fromPlain(item, pos)), pos };
  if (value !== null && typeof value === 'object') {
    const entries = new Map<string, YEntry>();
    for (const [key, item] of Object.entries(value)) entries.set(key, { key, keyPos: pos, value: fromPlain(item, pos) });
    return { kind: 'map', entries, pos };
  }
  const scalar = typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? value : null;
  return { kind: 'scalar', value: scalar, pos, valueOffset: null };
}
