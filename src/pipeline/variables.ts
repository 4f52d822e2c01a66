// Variable expansion as GitLab does it in the places it expands before a job runs (environment
// names, cache keys, artifact names, resource groups, rules:changes paths, include paths).

const REFERENCE = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

/**
 * Expands `$VAR` and `${VAR}`; `$$` stands for a literal `$`. Unknown variables become empty, or,
 * with `keepUnknown`, stay as written (and `$$` stays escaped) so that a later expansion with the
 * job's run-time variables (CI_JOB_ID...) can finish the job.
 */
export function expandVariables(text: string, vars: Record<string, string>, options: { keepUnknown?: boolean } = {}): string {
  return text.replace(REFERENCE, (match, braced: string | undefined, bare: string | undefined) => {
    if (match === '$$') return options.keepUnknown ? '$$' : '$';
    const name = braced ?? bare ?? '';
    if (Object.hasOwn(vars, name)) return options.keepUnknown ? escapeVariableValue(vars[name]) : vars[name];
    return options.keepUnknown ? match : '';
  });
}

/** Escapes a value so that expandVariables returns it unchanged (`expand: false` variables). */
export function escapeVariableValue(value: string): string {
  return value.replace(/\$/g, '$$$$');
}

/**
 * Expands variables that refer to each other (A: "$B/x"), each value seeing the final value of
 * the others, as the runner does. A reference cycle leaves the values of the cycle unexpanded.
 * Depth first with an explicit stack: a chain of references may be as long as the file allows.
 */
export function resolveVariables(vars: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  // 'busy': on the current path, its references being resolved; seen again, it is a cycle.
  const state = new Map<string, 'busy' | 'done'>();
  const references = (name: string): string[] =>
    [...vars[name].matchAll(REFERENCE)]
      .map((m) => m[1] ?? m[2])
      .filter((ref): ref is string => ref !== undefined && Object.hasOwn(vars, ref));
  const expand = (name: string): string =>
    vars[name].replace(REFERENCE, (match, braced: string | undefined, bare: string | undefined) => {
      if (match === '$$') return '$';
      const ref = braced ?? bare ?? '';
      if (!Object.hasOwn(vars, ref)) return '';
      return state.get(ref) === 'done' ? out[ref] : vars[ref];
    });
  for (const root of Object.keys(vars)) {
    const stack = [root];
    while (stack.length > 0) {
      const name = stack[stack.length - 1];
      const now = state.get(name);
      if (now === 'done') {
        stack.pop();
      } else if (now === 'busy') {
        out[name] = expand(name);
        state.set(name, 'done');
        stack.pop();
      } else {
        state.set(name, 'busy');
        for (const ref of references(name)) if (!state.has(ref)) stack.push(ref);
      }
    }
  }
  return out;
}

/** The global variables a job sees, after its `inherit: variables` setting. */
export function inheritedGlobals(globals: Record<string, string>, inherit: false | string[] | undefined): Record<string, string> {
  if (inherit === undefined) return globals;
  if (inherit === false) return {};
  return Object.fromEntries(Object.entries(globals).filter(([key]) => inherit.includes(key)));
}
