// Where a failed job's log shows it failed: the line a failure notification links to, and the line
// the server stores when the job ends (jobs.failure_line, migration 029) for the pipeline and job
// pages. Pure: it reads the log as pages of chunks, so a huge log is never held whole.

/** The log read per failed job to find where it failed; a failure past it has no line (the job page still shows the log). */
const MAX_SCANNED_LOG_BYTES = 16 * 1024 * 1024;
/** The longest text kept of the line: a message or a stored column holds the command, not a 1 MB one-liner. */
export const FAILING_LINE_MAX_CHARS = 500;

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]?/g;

/** A log line as the job page shows it: colours gone, and only what follows a carriage return. */
function plainLine(raw: string): string {
  const text = raw.replace(ANSI, '');
  const parts = text.split('\r').filter((p, i, all) => p !== '' || i === all.length - 1);
  return parts[parts.length - 1] ?? '';
}

/** A log line: its 1-based number and its plain text. */
export interface FailingLine {
  number: number;
  text: string;
}

/**
 * Where a job's log shows it failed, numbered as the job page numbers lines (1-based, split at
 * "\n"): the last command the runner echoed (`$ command`) before the script ended (scripts run with
 * `set -e`, so that is the command that failed), else the first `ERROR:` line (a timeout, a lost
 * agent, a deploy); null when the log has neither.
 */
export async function failingLogLine(pages: AsyncIterable<readonly { data: string }[]>): Promise<FailingLine | null> {
  let lastCommand: FailingLine | null = null;
  let firstError: FailingLine | null = null;
  let partial = '';
  let line = 0;
  let scanned = 0;
  // Returns true once the script's end is reached: what follows (after_script, the verdict) failed nothing.
  const visit = (raw: string): boolean => {
    line++;
    const text = plainLine(raw).trimEnd().slice(0, FAILING_LINE_MAX_CHARS);
    if (/^Running after_script\b/.test(text) || /^ERROR: Job (failed|canceled)\b/.test(text)) {
      if (lastCommand === null && firstError === null && text.startsWith('ERROR:')) firstError = { number: line, text };
      return true;
    }
    if (text.startsWith('$ ')) lastCommand = { number: line, text };
    else if (firstError === null && /^ERROR:/.test(text)) firstError = { number: line, text };
    return false;
  };
  scan: for await (const chunks of pages) {
    for (const chunk of chunks) {
      scanned += chunk.data.length;
      const text = partial + chunk.data;
      let start = 0;
      let nextReturn = text.indexOf('\r');
      for (let end = text.indexOf('\n'); end !== -1; start = end + 1, end = text.indexOf('\n', start)) {
        while (nextReturn !== -1 && nextReturn < start) nextReturn = text.indexOf('\r', start);
        // Most lines are plain output, only counted: a line can read as a command or an error once
        // cleaned only when it starts with an escape, `$`, `E` or `R`, or a carriage return rewrites it.
        const first = text.charCodeAt(start);
        const rewritten = nextReturn !== -1 && nextReturn < end;
        if (first !== 0x1b && first !== 0x24 && first !== 0x45 && first !== 0x52 && !rewritten) {
          line++;
          continue;
        }
        if (visit(text.slice(start, end))) {
          partial = '';
          break scan;
        }
      }
      partial = text.slice(start);
      if (scanned > MAX_SCANNED_LOG_BYTES) break scan;
    }
  }
  if (partial !== '' && lastCommand === null && firstError === null) visit(partial);
  return lastCommand ?? firstError;
}
