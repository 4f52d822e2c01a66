// GitLab's job `coverage:` (https://docs.gitlab.com/ci/yaml/#coverage and
// Gitlab::Ci::Trace::Stream#extract_coverage): the log is searched line by line from its end; the
// first line (from the end) where the regex matches wins; in that line the last match counts; the
// coverage is the first number (\d+(\.\d+)?) in the matched text. The regex runs on RE2 (linear in
// the text whatever the pattern) and only on the log's tail, so a huge log costs a bounded scan.
import { slashedRegex } from './untrusted-regex.js';

/** How many characters at the end of a job's log are searched for the coverage (1 Mi, docs/pipeline-reference.md). */
export const COVERAGE_SCAN_CHARS = 1024 * 1024;

const NUMBER = /\d+(?:\.\d+)?/;

/**
 * The coverage `regex` (the `/pattern/flags` of the job's `coverage:`) finds in `log`, or null
 * when no line matches, the matched text holds no number, or the regex is not valid (the compiler
 * refuses such files; a stored spec from an older version never breaks a completion).
 */
export function extractCoverage(regex: string, log: string): number | null {
  const re = slashedRegex(regex);
  if (!re) return null;
  const tail = log.length > COVERAGE_SCAN_CHARS ? log.slice(log.length - COVERAGE_SCAN_CHARS) : log;
  const lines = tail.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const match = re.lastMatch(lines[i].replace(/\r$/, ''));
    if (match === null) continue;
    const number = NUMBER.exec(match);
    // GitLab goes on to earlier lines when the matched text holds no number.
    if (number) return Number(number[0]);
  }
  return null;
}
