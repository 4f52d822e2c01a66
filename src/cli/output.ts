// Listing output: aligned columns for people, `--json` for programs.

/** Rows as a table of the named columns (keys of each row). */
export function printTable<Row extends object>(rows: readonly Row[], columns: (keyof Row & string)[]): void {
  if (rows.length === 0) {
    console.log('(none)');
    return;
  }
  const cells = rows.map((r) => columns.map((c) => formatCell(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i].length)));
  console.log(
    columns
      .map((c, i) => c.toUpperCase().padEnd(widths[i]))
      .join('  ')
      .trimEnd(),
  );
  for (const row of cells)
    console.log(
      row
        .map((cell, i) => cell.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    );
}

function formatCell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (Array.isArray(value)) return value.join(',');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
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
