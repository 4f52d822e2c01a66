import type { Diagnostic, SourcePosition } from './types.js';

/** Collects problems instead of stopping at the first, so one lint run shows them all. */
export class Diagnostics {
  readonly errors: Diagnostic[] = [];
  readonly warnings: Diagnostic[] = [];
  /** Includes not read (lint reads nothing outside the repository): names they define are unknown here. */
  readonly unreadIncludes: SourcePosition[] = [];

  /** " (it may be defined in the include at f:l:c, not read here)" when some include was not read. */
  unreadIncludeHint(): string {
    const first = this.unreadIncludes[0];
    return first ? ` (it may come from the include at ${first.file}:${first.line}:${first.column}, which was not read)` : '';
  }

  error(pos: SourcePosition, message: string, path?: string): void {
    this.errors.push(make('error', pos, message, path));
  }

  warn(pos: SourcePosition, message: string, path?: string): void {
    const d = make('warning', pos, message, path);
    // The same default or template reaches many jobs; one warning per place is enough.
    if (this.warnings.some((w) => w.file === d.file && w.line === d.line && w.column === d.column && w.message === d.message)) return;
    this.warnings.push(d);
  }

  /**
   * A warning about a place in the file whatever job reaches it: a key of a template that many jobs
   * extend is reported once, under the first job's path.
   */
  warnOncePerPlace(pos: SourcePosition, message: string, path: string): void {
    const samePlace = (w: Diagnostic) => w.file === pos.file && w.line === pos.line && w.column === pos.column;
    const unlessPath = (w: Diagnostic) => (w.path ? w.message.replace(w.path, '') : w.message);
    if (this.warnings.some((w) => samePlace(w) && unlessPath(w) === message.replace(path, ''))) return;
    this.warnings.push(make('warning', pos, message, path));
  }

  sorted(list: Diagnostic[]): Diagnostic[] {
    return [...list].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column);
  }
}

function make(severity: Diagnostic['severity'], pos: SourcePosition, message: string, path?: string): Diagnostic {
  const d: Diagnostic = { file: pos.file, line: pos.line, column: pos.column, severity, message };
  if (path) d.path = path;
  return d;
}

/** `file:line:col: error: message`, the form editors and CI logs link to. */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.column}: ${d.severity}: ${d.message}`;
}

/** Closest candidate by edit distance, for "did you mean" hints. */
export function nearest(word: string, candidates: Iterable<string>): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best !== null && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : null;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}
