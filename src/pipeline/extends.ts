// `extends`: a job is its templates deep-merged in order (later ones win), then its own keys on top.
import type { Diagnostics } from './diagnostics.js';
import { nearest } from './diagnostics.js';
import { deepMerge, flatten, scalarText, type YEntry, type YMap } from './yaml-source.js';

const MAX_DEPTH = 11;

/** Resolves `extends` for the given top-level entries; `root` holds every possible template. */
export function resolveExtends(root: YMap, names: string[], diags: Diagnostics): Map<string, YMap> {
  const done = new Map<string, YMap>();

  const resolve = (name: string, chain: string[]): YMap | null => {
    const cached = done.get(name);
    if (cached) return cached;
    const entry = root.entries.get(name) as YEntry;
    if (entry.value.kind !== 'map') return null;
    const job = entry.value;
    const ext = job.entries.get('extends');
    if (!ext) {
      done.set(name, job);
      return job;
    }
    let base: YMap | null = null;
    for (const parentNode of flatten(ext.value)) {
      const parent = scalarText(parentNode);
      if (parent === null) {
        diags.error(parentNode.pos, `\`${name}.extends\` must name jobs or templates`, `${name}.extends`);
        continue;
      }
      const target = root.entries.get(parent);
      if (!target) {
        const hint = nearest(parent, root.entries.keys());
        diags.error(
          parentNode.pos,
          `\`${name}\` extends \`${parent}\`, which is not defined${hint ? ` (did you mean \`${hint}\`?)` : diags.unreadIncludeHint()}`,
          `${name}.extends`,
        );
        continue;
      }
      if (target.value.kind !== 'map') {
        diags.error(parentNode.pos, `\`${name}\` extends \`${parent}\`, which is not a map`, `${name}.extends`);
        continue;
      }
      if (chain.includes(parent)) {
        diags.error(parentNode.pos, `circular extends: ${[...chain, parent].join(' → ')}`, `${name}.extends`);
        continue;
      }
      if (chain.length >= MAX_DEPTH) {
        diags.error(parentNode.pos, `extends nested more than ${MAX_DEPTH} levels deep at \`${name}\``, `${name}.extends`);
        continue;
      }
      const resolved = resolve(parent, [...chain, parent]);
      if (resolved) base = base ? deepMerge(base, resolved) : resolved;
    }
    const own = new Map(job.entries);
    own.delete('extends');
    const ownMap: YMap = { ...job, entries: own };
    const result = base ? deepMerge(base, ownMap) : ownMap;
    done.set(name, result);
    return result;
  };

  const out = new Map<string, YMap>();
  for (const name of names) {
    const job = resolve(name, [name]);
    if (job) out.set(name, job);
  }
  return out;
}
