// Job logs as a terminal shows them: SGR colours and bold become class names (never markup), other
// escape sequences are dropped, and a carriage return starts the line over (a progress bar's last
// state wins). Parsing is incremental: a log grows by chunks and only its unfinished last line is
// parsed again.

/** The SGR state that matters for display. Colours are palette indexes (0-7, 8-15 bright); null is the default. */
export interface Style {
  fg: number | null;
  bg: number | null;
  bold: boolean;
}

export interface Span {
  text: string;
  /** `ansi-fg-3 ansi-bold`...; empty for default text. */
  className: string;
}

export interface LogLine {
  /** The plain text, for search and copy. */
  text: string;
  /** Styled pieces; null when the line has no styles (most lines: kept cheap for 100,000-line logs). */
  spans: Span[] | null;
}

export const PLAIN: Style = { fg: null, bg: null, bold: false };

function classOf(style: Style): string {
  const names: string[] = [];
  if (style.fg !== null) names.push(`ansi-fg-${style.fg}`);
  if (style.bg !== null) names.push(`ansi-bg-${style.bg}`);
  if (style.bold) names.push('ansi-bold');
  return names.join(' ');
}

/** The style after one SGR sequence's parameters (`1;32`). 256-colour and RGB forms are skipped whole. */
function applySgr(style: Style, params: string): Style {
  const codes = params === '' ? [0] : params.split(';').map((p) => (p === '' ? 0 : Number(p)));
  let next = { ...style };
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i];
    if (code === 0) next = { ...PLAIN };
    else if (code === 1) next.bold = true;
    else if (code === 22) next.bold = false;
    else if (code >= 30 && code <= 37) next.fg = code - 30;
    else if (code >= 90 && code <= 97) next.fg = code - 90 + 8;
    else if (code === 39) next.fg = null;
    else if (code >= 40 && code <= 47) next.bg = code - 40;
    else if (code >= 100 && code <= 107) next.bg = code - 100 + 8;
    else if (code === 49) next.bg = null;
    else if (code === 38 || code === 48) i += codes[i + 1] === 5 ? 2 : codes[i + 1] === 2 ? 4 : 1;
  }
  return next;
}

// CSI (ESC [ params final), OSC (ESC ] ... BEL or ST), any other two-byte escape, or a carriage return.
// eslint-disable-next-line no-control-regex -- control characters are what it finds
const CONTROL = /\x1b\[([0-?]*)[ -/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]?|\r/g;

/** One line (no `\n`) from the style in force at its start; returns the line and the style at its end. */
export function parseLine(raw: string, start: Style): { line: LogLine; end: Style } {
  if (!raw.includes('\x1b') && !raw.includes('\r'))
    return {
      line: { text: raw, spans: start === PLAIN || classOf(start) === '' ? null : [{ text: raw, className: classOf(start) }] },
      end: start,
    };
  let style = start;
  let spans: Span[] = [];
  // A return moves the cursor; only text written after it replaces the line (so `\r\n` keeps it).
  let returned = false;
  let at = 0;
  const write = (text: string) => {
    if (text === '') return;
    if (returned) {
      spans = [];
      returned = false;
    }
    const className = classOf(style);
    const last = spans[spans.length - 1];
    if (last && last.className === className) last.text += text;
    else spans.push({ text, className });
  };
  for (const m of raw.matchAll(CONTROL)) {
    write(raw.slice(at, m.index));
    at = m.index + m[0].length;
    if (m[0] === '\r') returned = true;
    else if (m[2] === 'm') style = applySgr(style, m[1]);
  }
  write(raw.slice(at));
  const text = spans.map((s) => s.text).join('');
  return { line: { text, spans: spans.every((s) => s.className === '') ? null : spans }, end: style };
}

/** A log so far: its finished lines, and the raw text of the line still being written. */
export interface ParsedLog {
  lines: LogLine[];
  /** Raw text after the last newline (not yet a finished line). */
  tail: string;
  /** The style in force where `tail` starts. */
  tailStyle: Style;
  /** `tail` parsed, for display; null when it is empty. */
  tailLine: LogLine | null;
}

export const EMPTY_LOG: ParsedLog = { lines: [], tail: '', tailStyle: PLAIN, tailLine: null };

/** The log with `text` appended. Finished lines are never parsed again; the array is new (state stays immutable). */
export function appendLog(log: ParsedLog, text: string): ParsedLog {
  if (text === '') return log;
  const raw = log.tail + text;
  const parts = raw.split('\n');
  const tail = parts.pop() ?? '';
  let style = log.tailStyle;
  const added: LogLine[] = [];
  for (const part of parts) {
    const { line, end } = parseLine(part, style);
    added.push(line);
    style = end;
  }
  const lines = added.length === 0 ? log.lines : log.lines.concat(added);
  return { lines, tail, tailStyle: style, tailLine: tail === '' ? null : parseLine(tail, style).line };
}

/** How many lines there are to show (the unfinished one included). */
export const lineCount = (log: ParsedLog) => log.lines.length + (log.tailLine ? 1 : 0);

/** Line `i` (0-based) of what there is to show. */
export const lineAt = (log: ParsedLog, i: number): LogLine =>
  i < log.lines.length ? log.lines[i] : (log.tailLine ?? { text: '', spans: null });
