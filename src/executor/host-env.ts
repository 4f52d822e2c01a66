/**
 * What a job takes from the agent's own environment: the variables a shell and common tools need
 * to behave (locale, terminal, time zone, home, temporary directory), nothing else. The agent's
 * environment holds the server's secrets when they share a process (`tandem up`: AWS_*,
 * PGPASSWORD, TANDEM_MASTER_KEY) and the agent's token; the job's own variables come from the
 * pipeline, never from here.
 */
const ALLOWED = new Set(['PATH', 'HOME', 'LANG', 'LANGUAGE', 'TERM', 'TZ', 'USER', 'LOGNAME', 'SHELL', 'TMPDIR']);

export function hostEnvForJobs(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const allowed: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && (ALLOWED.has(key) || key.startsWith('LC_'))) allowed[key] = value;
  }
  return allowed;
}
