// Checks a YAML tree against a Shape from keys.ts and reports every problem with its position.
import { REF_MAX } from '../image-ref.js';
import type { Diagnostics } from './diagnostics.js';
import { nearest } from './diagnostics.js';
import { parseDuration } from './duration.js';
import { ExpressionError, parseExpression } from './expression.js';
import { compileUntrustedRegex, RegexSyntaxError, slashedParts } from './untrusted-regex.js';
import type { Format, Shape } from './keys.js';
import { describeNode, flatten, toPlain, type YNode, type YScalar } from './yaml-source.js';
import type { SourcePosition } from './types.js';

/** GitLab's environment_name_regex. */
const ENVIRONMENT_NAME = /^[a-zA-Z0-9_${}. -](?:[a-zA-Z0-9_/${}. -]*[a-zA-Z0-9_${}. -])?$/;

/** As Ruby's CGI.unescape, which leaves a malformed escape as it is. */
function decodeURIComponentSafely(text: string): string {
  return text.replace(/%[0-9a-fA-F]{2}/g, (escape) => String.fromCharCode(parseInt(escape.slice(1), 16)));
}

/** GitLab: "a string or a nested array of strings up to 10 levels deep". */
const MAX_NESTED_LISTS = 10;

function nestingDepth(node: YNode): number {
  return node.kind === 'seq' ? 1 + node.items.reduce((deepest, item) => Math.max(deepest, nestingDepth(item)), 0) : 0;
}

export function childPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  const safe = /^[A-Za-z0-9_.-]+$/.test(key) && !key.includes('.') ? key : JSON.stringify(key);
  return path ? `${path}.${safe}` : safe;
}

function label(shape: Shape): string {
  switch (shape.kind) {
    case 'string':
      return shape.enum ? `one of ${shape.enum.join(', ')}${shape.orVariable ? ' or a $VARIABLE' : ''}` : 'a string';
    case 'boolean':
      return 'true or false';
    case 'integer':
      return shape.min !== undefined && shape.max !== undefined ? `an integer from ${shape.min} to ${shape.max}` : 'an integer';
    case 'scalar':
      return 'a string, number or boolean';
    case 'list':
      return `a list of ${plural(label(shape.items))}`;
    case 'object':
      return 'a map';
    case 'oneOf':
      return shape.options.map(label).join(' or ');
    case 'any':
      return 'any value';
  }
}

function plural(text: string): string {
  return text.replace(/^an? /, '').replace(/^(string|integer|map)\b/, '$1s');
}

/** Whether a node has the right YAML kind for a shape (used to pick a oneOf option). */
function kindMatches(node: YNode, shape: Shape): boolean {
  switch (shape.kind) {
    case 'string':
      return node.kind === 'scalar' && (typeof node.value === 'string' || typeof node.value === 'number');
    case 'boolean':
      return node.kind === 'scalar' && typeof node.value === 'boolean';
    case 'integer':
      return node.kind === 'scalar' && typeof node.value === 'number';
    case 'scalar':
      return node.kind === 'scalar';
    case 'list':
      return node.kind === 'seq';
    case 'object':
      return node.kind === 'map';
    case 'oneOf':
      return shape.options.some((o) => kindMatches(node, o));
    case 'any':
      return true;
  }
}

export function validate(node: YNode, shape: Shape, path: string, diags: Diagnostics): void {
  if (node.kind === 'reference') {
    diags.error(node.pos, `unresolved !reference [${node.path.join(', ')}]`, path);
    return;
  }
  if (shape.ignoredBecause) diags.warnOncePerPlace(node.pos, `\`${path}\` is accepted but ignored: ${shape.ignoredBecause}`, path);
  if (shape.check) runCheck(node, shape.check, path, diags);
  if (shape.kind === 'any') return;
  if (shape.kind === 'oneOf') {
    const candidates = shape.options.filter((o) => kindMatches(node, o));
    if (candidates.length === 0) {
      diags.error(node.pos, `\`${path}\` must be ${label(shape)}, not ${describeNode(node)}`, path);
      return;
    }
    validate(node, candidates[0], path, diags);
    return;
  }
  if (!kindMatches(node, shape)) {
    diags.error(node.pos, `\`${path}\` must be ${label(shape)}, not ${describeNode(node)}`, path);
    return;
  }
  switch (shape.kind) {
    case 'string': {
      const value = String((node as YScalar).value);
      if (shape.enum && !shape.enum.includes(value) && !(shape.orVariable && /^\$\w{1,255}$/.test(value))) {
        const hint = nearest(value, shape.enum);
        diags.error(node.pos, `\`${path}\` must be ${label(shape)}, not "${value}"${hint ? ` (did you mean "${hint}"?)` : ''}`, path);
      }
      if (shape.format) checkFormat(node as YScalar, shape.format, path, diags);
      return;
    }
    case 'integer': {
      const value = (node as YScalar).value as number;
      if (!Number.isInteger(value) || (shape.min !== undefined && value < shape.min) || (shape.max !== undefined && value > shape.max)) {
        diags.error(node.pos, `\`${path}\` must be ${label(shape)}, not ${value}`, path);
      }
      return;
    }
    case 'list': {
      if (shape.flatten && nestingDepth(node) > MAX_NESTED_LISTS) {
        diags.error(node.pos, `\`${path}\` may nest lists at most ${MAX_NESTED_LISTS} levels deep`, path);
        return;
      }
      const items = shape.flatten ? flatten(node) : node.kind === 'seq' ? node.items : [];
      if (shape.nonEmpty && node.kind === 'seq' && node.items.length === 0) {
        diags.error(node.pos, `\`${path}\` must not be an empty list (GitLab: "config can't be blank"); leave the key out instead`, path);
      }
      if (shape.max !== undefined && items.length > shape.max) {
        diags.error(node.pos, `\`${path}\` may have at most ${shape.max} entries`, path);
      }
      items.forEach((item, i) => validate(item, shape.items, childPath(path, i), diags));
      return;
    }
    case 'object': {
      if (node.kind !== 'map') return;
      for (const [key, entry] of node.entries) {
        const where = childPath(path, key);
        const known = shape.keys[key];
        if (known) validate(entry.value, known, where, diags);
        else if (shape.unsupported?.[key]) diags.error(entry.keyPos, `\`${where}\`: ${shape.unsupported[key]}`, where);
        else if (shape.values) validate(entry.value, shape.values, where, diags);
        else diags.error(entry.keyPos, unknownKeyMessage(key, path, Object.keys(shape.keys)), where);
      }
      for (const key of shape.required ?? []) {
        if (!node.entries.has(key)) diags.error(node.pos, `\`${path}\` needs the key \`${key}\``, path);
      }
      return;
    }
    default:
      return;
  }
}

function runCheck(node: YNode, check: (value: unknown, path: string) => void, path: string, diags: Diagnostics): void {
  try {
    check(toPlain(node), path);
  } catch (err) {
    const at = (err as { path?: unknown }).path;
    const where = typeof at === 'string' ? nodeAtPath(node, path, at) : node;
    diags.error(where.pos, (err as Error).message, typeof at === 'string' ? at : path);
  }
}

/** The node an error path (`job.deploy.verify[1].http`) names below `node` (at `base`); the deepest found. */
function nodeAtPath(node: YNode, base: string, target: string): YNode {
  if (!target.startsWith(base)) return node;
  let current = node;
  for (const [, key, index] of target.slice(base.length).matchAll(/\.([^.[\]]+)|\[(\d+)\]/g)) {
    const next =
      key !== undefined
        ? current.kind === 'map'
          ? current.entries.get(key)?.value
          : undefined
        : current.kind === 'seq'
          ? current.items[Number(index)]
          : undefined;
    if (!next) break;
    current = next;
  }
  return current;
}

export function unknownKeyMessage(key: string, path: string, known: string[]): string {
  const hint = nearest(key, known);
  const where = path ? ` in \`${path}\`` : '';
  return `unknown key \`${key}\`${where}${hint ? ` (did you mean \`${hint}\`?)` : ''}`;
}

/** Position of a character inside a scalar's value, when the source maps onto it one to one. */
export function positionInside(node: YScalar, column: number): SourcePosition {
  if (node.valueOffset === null) return node.pos;
  return { ...node.pos, column: node.pos.column + node.valueOffset + column - 1 };
}

function checkFormat(node: YScalar, format: Format, path: string, diags: Diagnostics): void {
  const text = String(node.value);
  if (format === 'expression') {
    try {
      parseExpression(text);
    } catch (e) {
      if (!(e instanceof ExpressionError)) throw e;
      diags.error(
        positionInside(node, e.column),
        `invalid expression in \`${path}\`: ${e.message} (column ${e.column} of "${text}")`,
        path,
      );
    }
    return;
  }
  if (format === 'ref-pattern' || format === 'coverage-regex') {
    const regex = slashedParts(text);
    // GitLab's Entry::Coverage refuses a bare string; a ref pattern without slashes is a ref name.
    if (!regex && format === 'coverage-regex')
      diags.error(node.pos, `\`${path}\` must be a regular expression between slashes, like /Lines: \\d+/`, path);
    if (!regex) return;
    try {
      compileUntrustedRegex(regex.source, regex.flags);
    } catch (e) {
      if (!(e instanceof RegexSyntaxError)) throw e;
      diags.error(positionInside(node, 2), `invalid regular expression in \`${path}\` (RE2 syntax): ${e.message}`, path);
    }
    return;
  }
  if (format === 'file-glob') {
    // GitLab accepts an empty entry and matches no file with it: said here, since it is a slip.
    if (text.replace(/^\/+/, '') === '') diags.warn(node.pos, `\`${path}\` is empty: it matches no file`, path);
    return;
  }
  if (format === 'cache-key') {
    // GitLab's KeyValidator: the URL-decoded key may hold no "/" and may not be "." or "..".
    const decoded = decodeURIComponentSafely(text);
    if (decoded.includes('/')) diags.error(node.pos, `\`${path}\` cannot contain the "/" character`, path);
    else if (decoded === '.' || decoded === '..') diags.error(node.pos, `\`${path}\` cannot be "." or ".."`, path);
    return;
  }
  if (format === 'environment-name') {
    if (!ENVIRONMENT_NAME.test(text)) {
      diags.error(
        node.pos,
        `\`${path}\` can contain only letters, digits, '-', '_', '/', '$', '{', '}', '.', and spaces, but it cannot start or end with '/'`,
        path,
      );
    }
    return;
  }
  if (format === 'image-ref') {
    // The full syntax (Docker's) is checked by the agent once variables are expanded.
    if (text.trim() === '')
      diags.error(node.pos, `\`${path}\` is empty: name an image, e.g. $CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA`, path);
    else if (/\s/.test(text)) diags.error(node.pos, `\`${path}\` cannot contain spaces: "${text}" is not one image reference`, path);
    else if (text.length > REF_MAX) diags.error(node.pos, `\`${path}\` is longer than ${REF_MAX} characters`, path);
    return;
  }
  if (format === 'duration-or-never' && text === 'never') return;
  if (parseDuration(node.value as string | number) === null) {
    diags.error(node.pos, `\`${path}\` is not a duration: "${text}" (write e.g. "30 minutes", "1h 30m" or "3600")`, path);
  }
}
