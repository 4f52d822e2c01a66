// Job variables in a deploy block. A target dir, a host or a check URL may name them (as GitLab
// expands `environment:url`); commands keep theirs for their shell, which runs with the job's env.
// A variable the job does not have stays, for the deployment itself ($TANDEM_HOST is per host).

/** Relative paths in the block whose strings are shell commands. */
const COMMAND_PATH =
  /^(?:service\.|target\.script\.|target\.container\.(?:health(?:\.cmd)?$|command\[)|verify\[\d+\]\.command$|strategy\.[\w-]+\.switch$)/;
const REFERENCE = /\$(?:\{(\w+)\}|(\w+))/g;

function walk(value: unknown, path: string, onString: (text: string, path: string) => string): unknown {
  if (typeof value === 'string') return COMMAND_PATH.test(path) ? value : onString(value, path);
  if (Array.isArray(value)) return value.map((item, i) => walk(item, `${path}[${i}]`, onString));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, path ? `${path}.${k}` : k, onString)]));
  }
  return value;
}

export function expandDeployBlock(block: unknown, env: Record<string, string>): unknown {
  return walk(block, '', (text) =>
    text.replace(REFERENCE, (match, braced: string | undefined, bare: string | undefined) => env[braced ?? bare ?? ''] ?? match),
  );
}

/** Whether a string outside the commands names a variable: only the agent can then check the block. */
export function deployBlockUsesVariables(block: unknown): boolean {
  let found = false;
  walk(block, '', (text) => {
    if (/\$\{?\w/.test(text)) found = true;
    return text;
  });
  return found;
}
