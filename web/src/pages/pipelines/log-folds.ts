// Folding a failed job's log so it opens at the failure: the sections before the failing command
// (each starts at a line the runner colours: a section title or an echoed `$ command`) fold to
// their first line, and a long failing section keeps its command and its last lines in view with
// the middle folded. Pure: rows are computed from the parsed log and which folds are open.
import { lineAt, lineCount, type ParsedLog } from './ansi.js';

/** Logs at most this long are shown whole: they fit the log's box anyway. */
export const FOLD_MIN_LINES = 30;
/** Lines kept in view at the end of the failing section. */
export const TAIL_LINES = 15;

export interface Fold {
  /** First hidden line (0-based). */
  from: number;
  /** First line after the hidden run. */
  to: number;
  /** A section fold shows its title line (from - 1) with a toggle; a middle fold is a row of its own. */
  kind: 'section' | 'middle';
}

/** A line the runner wrote as a section title or a command: all of its visible text in green (or after_script's cyan). */
function isSectionStart(log: ParsedLog, i: number): boolean {
  const line = lineAt(log, i);
  if (line.text.trim() === '' || line.spans === null) return false;
  return line.spans.every((s) => s.text.trim() === '' || /\bansi-fg-(2|6)\b/.test(s.className));
}

export interface FailureView {
  folds: Fold[];
  /** The failing section's first line after it (0-based): what to keep in view ends before it. */
  end: number;
}

/** The folds that open `log` at `failingLine` (1-based); none for a short log or a line it does not reach. */
export function failureFolds(log: ParsedLog, failingLine: number): FailureView {
  const total = lineCount(log);
  const focus = failingLine - 1;
  if (total <= FOLD_MIN_LINES || focus < 0 || focus >= total) return { folds: [], end: focus >= 0 && focus < total ? total : 0 };
  const folds: Fold[] = [];
  // Sections before the failing line: from each start to the next (the log's first lines are one too).
  let start = 0;
  for (let i = 1; i <= focus; i++) {
    if (i !== focus && !isSectionStart(log, i)) continue;
    if (i - start > 1) folds.push({ from: start + 1, to: i, kind: 'section' });
    start = i;
  }
  // The failing section ends where the runner's next section starts (after_script, the verdict).
  let end = focus + 1;
  while (end < total && !isSectionStart(log, end) && !/^ERROR: Job (failed|canceled)\b/.test(lineAt(log, end).text)) end++;
  if (end - (focus + 1) > TAIL_LINES + 3) folds.push({ from: focus + 1, to: end - TAIL_LINES, kind: 'middle' });
  return { folds, end };
}

/** A row of the folded view: a line's index (>= 0), or a middle fold's marker (-1 - its index in folds). */
export type Row = number;

/** The rows to show with `open` folds expanded; null: every line, unfolded. */
export function foldedRows(total: number, folds: Fold[], open: ReadonlySet<number>): Row[] | null {
  const closed = folds.map((f, i) => ({ ...f, i })).filter((f) => !open.has(f.i));
  if (closed.length === 0) return null;
  const rows: Row[] = [];
  let line = 0;
  for (const f of closed) {
    for (; line < f.from; line++) rows.push(line);
    if (f.kind === 'middle') rows.push(-1 - f.i);
    line = f.to;
  }
  for (; line < total; line++) rows.push(line);
  return rows;
}

/** The row that shows line `line` (0-based), or the row of the fold that hides it. */
export function rowOfLine(rows: Row[] | null, folds: Fold[], line: number): number {
  if (rows === null) return line;
  let lo = 0;
  // Rows are in line order; a middle fold's marker stands for its first hidden line.
  const lineOf = (r: Row) => (r >= 0 ? r : folds[-1 - r].from);
  let hi = rows.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (lineOf(rows[mid]) <= line) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
