// Listing output: aligned columns for people, `--json` for programs.

/**
 * Rows as a table of the named columns (keys of each row): headers in words (`failureReason` →
 * FAILURE REASON), ISO times as relative ones ("3 minutes ago"), `duration` seconds with units.
 * `--json` keeps the raw values; the table is for reading.
 */
export function printTable<Row extends object>(rows: readonly Row[], columns: (keyof Row & string)[]): void {
  for (const line of formatTable(rows, columns, Date.now())) console.log(line);
}

export function formatTable<Row extends object>(rows: readonly Row[], columns: (keyof Row & string)[], now: number): string[] {
  if (rows.length === 0) return ['(none)'];
  const headers = columns.map(headerOf);
  const cells = rows.map((r) => columns.map((c) => formatCell(c, r[c], now)));
  // Colour codes take no room on the screen: widths and padding count only what shows.
  const widths = columns.map((_, i) => Math.max(headers[i].length, ...cells.map((row) => visibleLength(row[i]))));
  const line = (row: string[]) =>
    row
      .map((cell, i) => cell + ' '.repeat(widths[i] - visibleLength(cell)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...cells.map(line)];
}

/** `failureReason`, `failure_reason` → FAILURE REASON; a trailing "At" of a time goes (`createdAt` → CREATED). */
export function headerOf(key: string): string {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .split(/[\s_-]+/)
    .filter(Boolean);
  if (words.length > 1 && words[words.length - 1] === 'At') words.pop();
  return words.join(' ').toUpperCase();
}

// SGR colour codes, the only escapes the CLI writes.
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

export function visibleLength(text: string): number {
  return stripAnsi(text).length;
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function formatCell(column: string, value: unknown, now: number): string {
  if (value === null || value === undefined) return '-';
  if (column === 'duration' && typeof value === 'number') return formatDuration(value);
  if (typeof value === 'string' && ISO_TIME.test(value)) return relativeTime(Date.parse(value), now);
  if (Array.isArray(value)) return value.join(',');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Seconds with units: 0.4s, 42s, 1m 05s, 2h 03m. */
export function formatDuration(seconds: number): string {
  if (seconds < 10) return `${Math.max(0, seconds).toFixed(1)}s`;
  const total = Math.round(seconds);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (total < 60) return `${total}s`;
  if (total < 3600) return `${Math.floor(total / 60)}m ${pad(total % 60)}s`;
  return `${Math.floor(total / 3600)}h ${pad(Math.floor((total % 3600) / 60))}m`;
}

// Made on first use: the first Intl formatter of a process loads ICU data (~50 ms), which commands
// that print no relative time (`tandem exec`) should not pay.
let relative: Intl.RelativeTimeFormat | undefined;
const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 86_400],
  ['month', 30 * 86_400],
  ['week', 7 * 86_400],
  ['day', 86_400],
  ['hour', 3600],
  ['minute', 60],
  ['second', 1],
];

/** "3 minutes ago", "in 2 days"; "just now" within ten seconds either way. */
export function relativeTime(at: number, now: number): string {
  const seconds = (at - now) / 1000;
  if (Math.abs(seconds) < 10) return 'just now';
  const [unit, size] = UNITS.find(([, s]) => Math.abs(seconds) >= s)!;
  relative ??= new Intl.RelativeTimeFormat('en', { numeric: 'always' });
  return relative.format(Math.trunc(seconds / size), unit);
}

/** Bytes in binary units: 512 B, 1.4 KiB, 3.0 MiB. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

const COLOURS: Record<string, string> = {
  success: '\x1b[32m',
  failed: '\x1b[31m',
  running: '\x1b[34m',
  pending: '\x1b[33m',
  canceled: '\x1b[90m',
  skipped: '\x1b[90m',
  manual: '\x1b[35m',
  scheduled: '\x1b[35m',
  created: '\x1b[90m',
};

/**
 * A job's status, with GitLab's "allowed to fail" note on failures that do not fail the pipeline, or
 * the known-flaky tests whose failures alone were quarantined.
 */
export function colourJobStatus(status: string, allowFailure: boolean, quarantined: string[] | null = null): string {
  if (status === 'failed' && quarantined !== null) return `${colourStatus(status)} (quarantined flaky tests: ${quarantined.join(', ')})`;
  return colourStatus(status) + (allowFailure && status === 'failed' ? ' (allowed)' : '');
}

export function colourStatus(status: string): string {
  if (!process.stdout.isTTY) return status;
  return `${COLOURS[status] ?? ''}${status}\x1b[0m`;
}
