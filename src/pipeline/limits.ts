// Bounds on what one pipeline file may cost to compile. A pipeline file is outside input (anyone who
// can push writes one), so every way it can multiply itself is capped: file size, nesting, anchors
// and aliases, `!reference`, includes, `parallel` and the job count. The values follow GitLab's
// documented instance defaults where GitLab has one (docs/pipeline-reference.md, "Limits").
import { CST, Lexer } from 'yaml';
import type { SourcePosition } from './types.js';

/** GitLab's `max_yaml_size_bytes`: the text of each file. */
export const MAX_FILE_BYTES = 2 * 1024 * 1024;
/** GitLab's `max_yaml_depth`: nesting of maps and lists. */
export const MAX_YAML_DEPTH = 100;
/** GitLab's `ci_max_includes`. */
export const MAX_INCLUDES = 150;
/** `parallel: N` and the combinations of one `parallel:matrix`. */
export const MAX_PARALLEL = 200;
/** GitLab's `ci_max_job_count` is configurable too; this is Tandem's default (`maxPipelineJobs`). */
export const DEFAULT_MAX_PIPELINE_JOBS = 2000;
/**
 * Values (scalars, maps, lists, map entries) the whole configuration may hold once aliases, merge keys
 * and `!reference` are expanded: a 351-byte file of nested aliases otherwise expands to billions.
 */
export const MAX_EXPANDED_VALUES = 500_000;
/** Characters of text the expanded configuration may hold (every copy of a string counts). */
export const MAX_EXPANDED_CHARS = 32 * 1024 * 1024;
/** The compiled jobs as stored (JSON): a template shared by many jobs through `extends` is copied into each. */
export const MAX_COMPILED_BYTES = 64 * 1024 * 1024;

/** Thrown to stop a compilation that went over a limit; the diagnostic is already recorded. */
export class LimitExceeded extends Error {
  constructor(
    readonly pos: SourcePosition,
    message: string,
  ) {
    super(message);
    this.name = 'LimitExceeded';
  }
}

/**
 * What the expansion of one compilation has spent so far, shared by every file it includes and by
 * `!reference` resolution, so that no combination of them goes past the totals above.
 */
export class ExpansionBudget {
  private values = 0;
  private chars = 0;

  /** Counts one value with `text` characters; throws LimitExceeded when the budget is spent. */
  spend(pos: SourcePosition, text: number, what: string): void {
    this.values += 1;
    this.chars += text;
    if (this.values > MAX_EXPANDED_VALUES) {
      throw new LimitExceeded(
        pos,
        `${what} expands the configuration past ${MAX_EXPANDED_VALUES.toLocaleString('en')} values (YAML aliases, merge keys and !reference are counted once per use)`,
      );
    }
    if (this.chars > MAX_EXPANDED_CHARS) {
      throw new LimitExceeded(
        pos,
        `${what} expands the configuration past ${MAX_EXPANDED_CHARS / 1024 / 1024} MB of text (YAML aliases, merge keys and !reference are counted once per use)`,
      );
    }
  }
}

/**
 * Where a YAML text nests too deeply to be parsed safely, found by the `yaml` lexer (a loop, not a
 * recursion): more than `limit` open flow brackets, or flow brackets plus block indentation (each
 * block level takes at least one column) beyond four times that. The parser recurses once per level
 * and near the stack limit V8 has been seen to abort the whole process, so such texts never reach it;
 * the exact depth is checked on the parsed tree. Null when the text is shallow enough.
 */
export function tooDeepAt(text: string, limit: number): { line: number; column: number } | null {
  let flow = 0;
  let block = 0;
  let line = 1;
  let lineStart = 0;
  let offset = 0;
  let atLineStart = true;
  let skipSource = false;
  for (const token of new Lexer().lex(text)) {
    const start = offset;
    offset += MARKERS.includes(token) ? 0 : token.length;
    if (skipSource) {
      // A scalar's source (block scalars included): brackets in it are text.
      skipSource = false;
      line += countNewlines(token);
      if (token.includes('\n')) lineStart = start + token.lastIndexOf('\n') + 1;
      continue;
    }
    if (token === SCALAR_MARKER) {
      skipSource = true;
      continue;
    }
    const type = CST.tokenType(token);
    if (type === 'newline') {
      line++;
      lineStart = offset;
      block = 0;
      atLineStart = true;
      continue;
    }
    if (type === 'space' && atLineStart) block += token.length;
    else if (type === 'seq-item-ind' || type === 'explicit-key-ind') block += 2;
    else if (type === 'flow-seq-start' || type === 'flow-map-start') flow++;
    else if ((type === 'flow-seq-end' || type === 'flow-map-end') && flow > 0) flow--;
    else if (type === 'double-quoted-scalar' || type === 'single-quoted-scalar') {
      line += countNewlines(token);
      if (token.includes('\n')) lineStart = start + token.lastIndexOf('\n') + 1;
    }
    atLineStart = false;
    if (flow > limit || flow + block > 4 * limit) return { line, column: start - lineStart + 1 };
  }
  return null;
}

// The lexer's control tokens, which stand for no source text: document start, flow error end, scalar.
const SCALAR_MARKER = '\u001f';
const MARKERS = ['\u0002', '\u0018', SCALAR_MARKER];

function countNewlines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}
