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

/**
 * `text` with each reference `pattern` finds (group 1 braced, group 2 bare; neither: `$$`, one `$`)
 * replaced by its value in `vars`; the names `vars` lacks are left as written and listed.
 */
export function substituteVariables(
  text: string,
  vars: Record<string, string>,
  pattern: RegExp = REFERENCE,
): { text: string; missing: string[] } {
  const missing = new Set<string>();
  const out = text.replace(pattern, (whole: string, braced?: string, bare?: string) => {
    const name = braced ?? bare;
    if (name === undefined) return '$';
    if (Object.hasOwn(vars, name)) return vars[name];
    missing.add(name);
    return whole;
  });
  return { text: out, missing: [...missing] };
}

export function expandDeployBlock(block: unknown, env: Record<string, string>): unknown {
  return walk(block, '', (text) => substituteVariables(text, env).text);
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
