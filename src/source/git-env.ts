// The environment of every git process Tandem runs (src/source/git.ts, cat-file.ts).

// Inherited from e.g. a git hook that starts Tandem; they would point our commands at another repository.
const REPO_LOCATION_VARS = [
  'GIT_DIR',
  'GIT_WORK_TREE',
  'GIT_INDEX_FILE',
  'GIT_OBJECT_DIRECTORY',
  'GIT_ALTERNATE_OBJECT_DIRECTORIES',
  'GIT_COMMON_DIR',
  'GIT_NAMESPACE',
  'GIT_PREFIX',
];

export function gitEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of REPO_LOCATION_VARS) delete env[name];
  // Transports git may use, for every URL it meets (remotes, redirects, submodules): never ext::
  // (runs commands) or fd::. file is for local repositories, which only admins can register.
  env.GIT_ALLOW_PROTOCOL = 'https:http:ssh:git:file';
  env.GIT_TERMINAL_PROMPT = '0';
  env.GCM_INTERACTIVE = 'never';
  env.LC_ALL = 'C';
  return env;
}
