// Globs of `rules:changes`, `rules:exists` and wildcard includes, matched as GitLab does with Ruby's
// File.fnmatch(FNM_PATHNAME | FNM_DOTMATCH | FNM_EXTGLOB), in linear time: each glob becomes an RE2
// program (a JavaScript RegExp, as picomatch builds, backtracks on `*a*a*a*a…b`).
//   *  any characters but `/` (dot files included)      ?  one character but `/`
//   [abc] [a-z] [!a] [^a]  one character of a set, never `/`
//   **/  at the start of a path component: any number of directories, none included
//   {a,b}  either alternative (nested braces allowed)     \x  the character x
// `**` not followed by `/` is the same as `*` (Ruby's rule): `src/**` matches `src/a`, not `src/a/b`,
// unless `anyDepth` is asked for (branch filters, written for picomatch, where `release/**` spans).
import { compileUntrustedRegex, RegexSyntaxError, type UntrustedRegex } from './untrusted-regex.js';

/** Longer globs never match: nobody writes one, and the RE2 program grows with the text. */
export const MAX_GLOB_LENGTH = 4096;
const MAX_BRACE_DEPTH = 32;

const literal = (ch: string): string => `\\x{${ch.codePointAt(0)?.toString(16)}}`;

export interface GlobOptions {
  /** A trailing `/**` matches any depth below (picomatch's rule) instead of one level (Ruby's). */
  anyDepth?: boolean;
}

class GlobTranslator {
  private i = 0;
  private depth = 0;
  constructor(
    private readonly glob: string,
    private readonly options: GlobOptions,
  ) {}

  /** RE2 syntax for the glob from the current position up to `stops` (outside brackets). */
  translate(stops: string): string {
    let out = '';
    const g = this.glob;
    while (this.i < g.length && !stops.includes(g[this.i])) {
      const ch = g[this.i];
      const componentStart = this.i === 0 || g[this.i - 1] === '/';
      if (ch === '*') {
        let end = this.i;
        while (g[end] === '*') end++;
        if (componentStart && end - this.i >= 2 && g[end] === '/') {
          out += '(?:[^/]*/)*';
          this.i = end + 1;
        } else if (componentStart && end - this.i >= 2 && end === g.length && this.options.anyDepth) {
          out += '.*';
          this.i = end;
        } else {
          out += '[^/]*';
          this.i = end;
        }
      } else if (ch === '?') {
        out += '[^/]';
        this.i++;
      } else if (ch === '[' || ch === '{') {
        const group = ch === '[' ? this.bracket() : this.braces();
        if (group !== null) out += group;
        else {
          out += literal(ch);
          this.i++;
        }
      } else if (ch === '\\' && this.i + 1 < g.length) {
        out += literal(String.fromCodePoint(g.codePointAt(this.i + 1) as number));
        this.i += 1 + ((g.codePointAt(this.i + 1) as number) > 0xffff ? 2 : 1);
      } else {
        const cp = g.codePointAt(this.i) as number;
        out += literal(String.fromCodePoint(cp));
        this.i += cp > 0xffff ? 2 : 1;
      }
    }
    return out;
  }

  /** `[...]`: a set of characters, `/` never in it; null (and nothing consumed) when unclosed. */
  private bracket(): string | null {
    const g = this.glob;
    let j = this.i + 1;
    const negated = g[j] === '!' || g[j] === '^';
    if (negated) j++;
    const ranges: [number, number][] = [];
    let first = true;
    while (j < g.length && (g[j] !== ']' || first)) {
      first = false;
      let lo = g.codePointAt(j) as number;
      if (g[j] === '\\' && j + 1 < g.length) lo = g.codePointAt(++j) as number;
      j += lo > 0xffff ? 2 : 1;
      let hi = lo;
      if (g[j] === '-' && j + 1 < g.length && g[j + 1] !== ']') {
        j++;
        hi = g.codePointAt(j) as number;
        if (g[j] === '\\' && j + 1 < g.length) hi = g.codePointAt(++j) as number;
        j += hi > 0xffff ? 2 : 1;
      }
      if (lo <= hi) ranges.push([lo, hi]);
    }
    if (j >= g.length) return null;
    this.i = j + 1;
    const slash = '/'.codePointAt(0) as number;
    const parts: string[] = [];
    for (const [lo, hi] of ranges) {
      // With FNM_PATHNAME a set never matches `/`: cut it out of a positive range.
      const pieces: [number, number][] =
        negated || lo > slash || hi < slash
          ? [[lo, hi]]
          : [
              [lo, slash - 1],
              [slash + 1, hi],
            ];
      for (const [a, b] of pieces)
        if (a <= b)
          parts.push(
            a === b ? literal(String.fromCodePoint(a)) : `${literal(String.fromCodePoint(a))}-${literal(String.fromCodePoint(b))}`,
          );
    }
    if (negated) return `[^/${parts.join('')}]`;
    return parts.length === 0 ? '[^\\x{0}-\\x{10FFFF}]' : `[${parts.join('')}]`;
  }

  /** `{a,b}`: alternatives; null (and nothing consumed) when unclosed or nested too deeply. */
  private braces(): string | null {
    if (this.depth >= MAX_BRACE_DEPTH) return null;
    const start = this.i;
    this.i++;
    this.depth++;
    const alternatives = [this.translate(',}')];
    while (this.glob[this.i] === ',') {
      this.i++;
      alternatives.push(this.translate(',}'));
    }
    this.depth--;
    if (this.glob[this.i] !== '}') {
      this.i = start;
      return null;
    }
    this.i++;
    return `(?:${alternatives.join('|')})`;
  }
}

/** The glob as an anchored RE2 pattern. */
export function globToRegexSource(glob: string, options: GlobOptions = {}): string {
  // Outside braces nothing stops the translation: a stray `,` or `}` is an ordinary character.
  return `^${new GlobTranslator(glob, options).translate('')}$`;
}

/** Whether the path is a glob rather than a literal file name. */
export function isGlob(pattern: string): boolean {
  return /[*?[{\\]/.test(pattern);
}

function compileGlob(glob: string, options: GlobOptions): UntrustedRegex | null {
  if (glob.length > MAX_GLOB_LENGTH) return null;
  try {
    return compileUntrustedRegex(globToRegexSource(glob, options), 's');
  } catch (err) {
    if (err instanceof RegexSyntaxError) return null;
    throw err;
  }
}

/** A test of paths against any of the globs; a glob RE2 cannot hold never matches. */
export function globMatcher(globs: string[], options: GlobOptions = {}): (path: string) => boolean {
  const compiled = globs.map((g) => compileGlob(g, options)).filter((g): g is UntrustedRegex => g !== null);
  return (path) => compiled.some((g) => g.test(path));
}

/**
 * The wildcard of an `include:local` path, as GitLab matches it (Repository#search_files_by_wildcard_path):
 * only `*` is special; `**` is any characters, `/` included, and `*` any characters but `/`. So
 * `configs/*.yml` is the files directly in configs, `configs/**.yml` those in configs and every
 * folder below, and `configs/**\/*.yml` those in its subfolders only (docs.gitlab.com/ci/yaml/#includelocal).
 */
export function includeGlobMatcher(glob: string): (path: string) => boolean {
  if (glob.length > MAX_GLOB_LENGTH) return () => false;
  const source = glob
    .split(/(\*\*|\*)/)
    .map((part) => (part === '**' ? '.*' : part === '*' ? '[^/]*' : [...part].map(literal).join('')))
    .join('');
  const compiled = compileUntrustedRegex(`^${source}$`, 's');
  return (path) => compiled.test(path);
}
