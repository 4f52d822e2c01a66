// `!reference [job, key, ...]`: replaced by the value found at that path of the merged file
// (after include and extends, as GitLab does). References may point at references.
import type { Diagnostics } from './diagnostics.js';
import { nearest } from './diagnostics.js';
import type { ExpansionBudget } from './limits.js';
import type { YMap, YNode, YReference } from './yaml-source.js';

const MAX_DEPTH = 10;

/**
 * Every value a reference copies is paid from `budget` (throws LimitExceeded at the outermost
 * reference): ten levels of references each used ten times would otherwise copy a value 10^10 times.
 */
export function resolveReferences(root: YMap, diags: Diagnostics, budget: ExpansionBudget): YMap {
  let outermost: YReference | null = null;
  const resolveNode = (node: YNode, stack: string[]): YNode => {
    if (outermost)
      budget.spend(
        outermost.pos,
        node.kind === 'scalar' && typeof node.value === 'string' ? node.value.length : 0,
        `!reference [${outermost.path.join(', ')}]`,
      );
    switch (node.kind) {
      case 'scalar':
        return node;
      case 'seq':
        return { ...node, items: node.items.map((item) => resolveNode(item, stack)) };
      case 'map': {
        const entries = new Map([...node.entries].map(([k, e]) => [k, { ...e, value: resolveNode(e.value, stack) }]));
        return { ...node, entries };
      }
      case 'reference': {
        if (outermost) return follow(node, stack);
        outermost = node;
        try {
          return follow(node, stack);
        } finally {
          outermost = null;
        }
      }
    }
  };

  const follow = (ref: YReference, stack: string[]): YNode => {
    const key = ref.path.join('.');
    const failed: YNode = { kind: 'scalar', value: null, pos: ref.pos, valueOffset: null };
    if (stack.includes(key)) {
      diags.error(ref.pos, `!reference loop: ${[...stack, key].join(' → ')}`);
      return failed;
    }
    if (stack.length >= MAX_DEPTH) {
      diags.error(ref.pos, `!reference nested more than ${MAX_DEPTH} levels deep`);
      return failed;
    }
    let current: YNode = root;
    for (let i = 0; i < ref.path.length; i++) {
      const part = ref.path[i];
      const found: YNode | undefined = current.kind === 'map' ? current.entries.get(part)?.value : undefined;
      if (!found) {
        const where = i === 0 ? 'the file' : `\`${ref.path.slice(0, i).join('.')}\``;
        const candidates = current.kind === 'map' ? current.entries.keys() : [];
        const hint = nearest(part, candidates);
        diags.error(
          ref.pos,
          `!reference [${ref.path.join(', ')}]: \`${part}\` not found in ${where}${hint ? ` (did you mean \`${hint}\`?)` : diags.unreadIncludeHint()}`,
        );
        return failed;
      }
      current = found;
    }
    return resolveNode(current, [...stack, key]);
  };

  return resolveNode(root, []) as YMap;
}
