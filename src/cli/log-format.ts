// Log lines for a person at a terminal: pino still writes its JSON lines, and this destination turns
// each into `12:04:05.123 INFO  message key=value ...` before it reaches the terminal. A pipe or a
// file (a log shipper, systemd's journal) keeps the JSON, as does `--log-format json`.
import type { Writable } from 'node:stream';

export type LogFormat = 'auto' | 'json' | 'pretty';

/** Pretty on a terminal unless asked otherwise; JSON for anything else. */
export function prettyLogs(format: LogFormat, stream: { isTTY?: boolean }): boolean {
  return format === 'pretty' || (format === 'auto' && stream.isTTY === true);
}

const LEVELS: Record<number, [name: string, colour: string]> = {
  10: ['TRACE', '\x1b[90m'],
  20: ['DEBUG', '\x1b[36m'],
  30: ['INFO', '\x1b[32m'],
  40: ['WARN', '\x1b[33m'],
  50: ['ERROR', '\x1b[31m'],
  60: ['FATAL', '\x1b[41m\x1b[97m'],
};
const RESET = '\x1b[0m';
const DIM = '\x1b[90m';
/** Fields every line has, or that say nothing to a person reading along. */
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'v', 'err']);
/** A long value (a request body, a config object) is cut: the JSON output keeps it whole. */
const MAX_VALUE = 120;

/** One pino JSON line as a readable line; anything that is not a JSON object passes unchanged. */
export function formatLogLine(line: string, colour: boolean): string {
  let entry: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return line;
    entry = parsed as Record<string, unknown>;
  } catch {
    return line;
  }
  const paint = (code: string, text: string) => (colour ? `${code}${text}${RESET}` : text);
  const [name, code] = LEVELS[Number(entry.level)] ?? [String(entry.level ?? '?').toUpperCase(), ''];
  const time = typeof entry.time === 'number' ? new Date(entry.time).toISOString().slice(11, 23) : '';
  const fields = Object.entries(entry)
    .filter(([key, value]) => !HIDDEN.has(key) && value !== undefined)
    .map(([key, value]) => `${paint(DIM, `${key}=`)}${valueText(value)}`);
  const err = errorText(entry.err);
  const head = [paint(DIM, time), paint(code, name.padEnd(5)), String(entry.msg ?? ''), ...fields].filter(Boolean).join(' ');
  return err ? `${head}\n${err}` : head;
}

function valueText(value: unknown): string {
  const text = typeof value === 'string' ? (/[\s"=]/.test(value) || value === '' ? JSON.stringify(value) : value) : JSON.stringify(value);
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE - 1)}…` : text;
}

/** pino's serialized error: its stack (which starts with the message) indented under the line. */
function errorText(err: unknown): string {
  if (typeof err !== 'object' || err === null) return '';
  const { stack, message } = err as { stack?: unknown; message?: unknown };
  const text = typeof stack === 'string' ? stack : typeof message === 'string' ? message : JSON.stringify(err);
  return text
    .split('\n')
    .map((l) => `    ${l.trim()}`)
    .join('\n');
}

/** A pino destination that writes each line formatted to `out` (pino hands over whole lines). */
export function prettyDestination(out: Writable & { isTTY?: boolean }): { write(chunk: string): boolean } {
  const colour = out.isTTY === true && !process.env.NO_COLOR;
  return {
    write(chunk: string) {
      for (const line of chunk.split('\n')) if (line) out.write(`${formatLogLine(line, colour)}\n`);
      return true;
    },
  };
}
