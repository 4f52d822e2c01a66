// The commit a pipeline runs, as GitLab's CI_COMMIT_MESSAGE/TITLE/DESCRIPTION/AUTHOR/TIMESTAMP
// describe it. Read from the raw commit object (`git cat-file commit <sha>`) so that the message
// is exactly what was committed, by the server from its mirror and by `tandem exec` locally.

export interface CommitInfo {
  /** The whole message as stored (git ends it with a newline). */
  message: string;
  /** GitLab's "Name <email>". */
  author: string;
  /** Committer date in ISO 8601 with the committer's offset (GitLab: `committed_date.xmlschema`). */
  timestamp: string;
}

const PERSON_RE = /^(.*) <(.*)> (\d+) ([+-])(\d\d)(\d\d)$/;

/** ISO 8601 of a git date (seconds since the epoch and a ±hhmm offset), in that offset's local time. */
function gitDateIso(seconds: number, sign: string, hours: string, minutes: string): string {
  const offsetMinutes = (sign === '-' ? -1 : 1) * (Number(hours) * 60 + Number(minutes));
  const local = new Date((seconds + offsetMinutes * 60) * 1000).toISOString().replace(/\.\d{3}Z$/, '');
  return `${local}${sign}${hours}:${minutes}`;
}

/** The fields of a raw commit object; null when it is not one (no author or committer line). */
export function parseRawCommit(raw: string): CommitInfo | null {
  const split = raw.indexOf('\n\n');
  const headers = (split < 0 ? raw : raw.slice(0, split)).split('\n');
  const message = split < 0 ? '' : raw.slice(split + 2);
  const person = (field: string) => {
    const line = headers.find((h) => h.startsWith(`${field} `));
    return line ? PERSON_RE.exec(line.slice(field.length + 1)) : null;
  };
  const author = person('author');
  const committer = person('committer');
  if (!author || !committer) return null;
  const [, , , seconds, sign, hours, minutes] = committer;
  return {
    message,
    author: `${author[1]} <${author[2]}>`,
    timestamp: gitDateIso(Number(seconds), sign as string, hours as string, minutes as string),
  };
}

/** GitLab's commit title (Commit#full_title): the first line, or "No commit message" for a blank one. */
export function commitTitle(message: string): string {
  if (message.trim() === '') return 'No commit message';
  return message.split(/[\r\n]/, 1)[0] ?? '';
}

/**
 * GitLab's commit description (Commit#description): the message after its first line, one
 * trailing newline dropped. When the first line is longer than 100 characters GitLab's title
 * display stops at 80, and the description is "…" and the message from character 80 on.
 */
export function commitDescription(message: string): string {
  const titleEnd = message.indexOf('\n');
  if ((titleEnd < 0 && message.length > 100) || titleEnd > 100) return `…${[...message].slice(80).join('')}`;
  if (titleEnd < 0) return '';
  return message.slice(titleEnd + 1).replace(/(\r\n|\r|\n)$/, '');
}

/** GitLab's Chain::Skip pattern: `[skip ci]` or `[ci skip]`, any case, with `_` or `-` for the space. */
const SKIP_CI = /\[(ci[ _-]skip|skip[ _-]ci)\]/i;

export function asksToSkipCi(message: string): boolean {
  return SKIP_CI.test(message);
}
