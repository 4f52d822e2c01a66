// Regular expressions and globs written by pipeline authors run on the server, so they run on RE2
// (re2js): matching takes time linear in the input whatever the pattern, where a JavaScript RegExp
// like /^(a+)+$/ backtracks for minutes. GitLab evaluates them with RE2 too, so the accepted syntax
// is GitLab's: no backreferences, no lookaround (docs/pipeline-reference.md, "Regular expressions").
import { RE2JS, RE2JSException } from 're2js';

/** A pattern RE2 refuses; `message` says why, for a diagnostic at the pattern's position. */
export class RegexSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RegexSyntaxError';
  }
}

export interface UntrustedRegex {
  /** The pattern as written between the slashes. */
  readonly source: string;
  /** True when the pattern matches somewhere in `text` (unanchored, as Ruby's `=~`). */
  test(text: string): boolean;
  /** The text of the last match in `text`, or null: matches do not overlap, as Ruby's `scan`. */
  lastMatch(text: string): string | null;
}

/** GitLab's `/pattern/flags` form (Gitlab::UntrustedRegexp::RubySyntax). */
const SLASHED = /^\/(.*)\/([ismU]*)$/s;
export const REGEX_FLAGS = 'ismU';

// RE2's own words, with what GitLab authors most often need to know added.
function explain(message: string): string {
  const text = message.replace(/^error parsing regexp: /, '');
  if (/invalid escape sequence: `\\[1-9]`/.test(text)) return `${text} (RE2 has no backreferences)`;
  if (/Perl syntax: `\(\?[=!<]/.test(text)) return `${text} (RE2 has no lookahead or lookbehind)`;
  return text;
}

/**
 * Compiles `source` with GitLab's flags (i: ignore case, m: ^ and $ at line ends, s: . matches a
 * newline, U: ungreedy); throws RegexSyntaxError for anything RE2 refuses.
 */
export function compileUntrustedRegex(source: string, flags: string): UntrustedRegex {
  const bad = [...flags].find((f) => !REGEX_FLAGS.includes(f));
  if (bad !== undefined) throw new RegexSyntaxError(`unsupported regex flag "${bad}" (use i, m, s or U)`);
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(flags ? `(?${[...new Set(flags)].join('')})${source}` : source);
  } catch (err) {
    if (err instanceof RE2JSException) throw new RegexSyntaxError(explain(err.message));
    throw err;
  }
  return {
    source,
    test: (text) => compiled.test(text),
    lastMatch: (text) => {
      const m = compiled.matcher(text);
      let last: string | null = null;
      while (m.find()) last = m.group();
      return last;
    },
  };
}

/**
 * A `/pattern/flags` string (from a variable, `only: [/^release/]`...) compiled, or null when the
 * string is not in that form or RE2 refuses it: such a value never matches, as in GitLab.
 */
export function slashedRegex(text: string): UntrustedRegex | null {
  const parts = slashedParts(text);
  if (!parts) return null;
  try {
    return compileUntrustedRegex(parts.source, parts.flags);
  } catch (err) {
    if (err instanceof RegexSyntaxError) return null;
    throw err;
  }
}

/** Pattern (`\/` unescaped) and flags of a `/pattern/flags` string, valid or not; null for other strings. */
export function slashedParts(text: string): { source: string; flags: string } | null {
  const m = SLASHED.exec(text);
  return m ? { source: m[1].replace(/\\\//g, '/'), flags: m[2] } : null;
}
