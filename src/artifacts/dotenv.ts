// GitLab's artifacts:reports:dotenv format, as its ParseDotenvArtifactService reads it: every line
// is KEY=VALUE (split at the first "="; key and value trimmed, quotes kept), a line without "=" (an
// empty line too) is an error, later lines win, and the report has size and count limits.
// https://docs.gitlab.com/ee/ci/yaml/artifacts_reports.html#artifactsreportsdotenv

/** GitLab's default `dotenv_size` limit: the report must be smaller than 5 KiB. */
export const MAX_DOTENV_BYTES = 5 * 1024;
/** GitLab's default `dotenv_variables` limit for self-managed instances. */
export const MAX_DOTENV_VARIABLES = 20;

/** GitLab's rule for variable keys (Ci::HasVariable). */
const KEY = /^[a-zA-Z0-9_]+$/;

export class DotenvError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DotenvError';
  }
}

/**
 * The variables of a dotenv report made of these files' contents (in order), or DotenvError with
 * GitLab's reason; the job then fails, as GitLab refuses the report's upload.
 */
export function parseDotenv(files: { name: string; content: Buffer }[]): Record<string, string> {
  const size = files.reduce((sum, f) => sum + f.content.length, 0);
  if (size >= MAX_DOTENV_BYTES) {
    throw new DotenvError(`the dotenv report is ${size} bytes; it must be smaller than ${MAX_DOTENV_BYTES} bytes`);
  }
  const variables = new Map<string, string>();
  for (const { name, content } of files) {
    // A byte-order mark (PowerShell writes one) is not part of the first key.
    const text = content.toString('utf8').replace(/^\uFEFF/, '');
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    lines.forEach((line, i) => {
      const at = line.indexOf('=');
      if (at < 0) throw new DotenvError(`${name}:${i + 1}: not KEY=VALUE${line.trim() === '' ? ' (empty lines are not allowed)' : ''}`);
      const key = line.slice(0, at).trim();
      if (!KEY.test(key)) throw new DotenvError(`${name}:${i + 1}: key "${key}" may contain only letters, digits and _`);
      variables.set(key, line.slice(at + 1).trim());
    });
  }
  if (variables.size > MAX_DOTENV_VARIABLES) {
    throw new DotenvError(`the dotenv report sets ${variables.size} variables; at most ${MAX_DOTENV_VARIABLES} are allowed`);
  }
  return Object.fromEntries(variables);
}
