// The import boundaries of src/ as an ESLint rule (`tandem/boundaries`), so an editor and
// `npm run lint` refuse a wrong import where it is written. The layer table is ./layers.mjs.
//
//   - a folder imports only the folders its row of LAYERS names, and a pure folder never the
//     store or the server;
//   - another folder is entered through its index.ts (its public surface), never a file inside it;
//   - a route file (src/server/routes/*) imports neither the store nor another route file: it
//     parses, authorizes, calls an operation and presents;
//   - the web UI imports only the API's contracts (src/api).
// Type-only imports count too: a type import still ties one part's shape to another's.
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LAYERS, PURE, WEB_MAY_IMPORT } from './layers.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SRC = join(ROOT, 'src');
const ROUTES = join(SRC, 'server', 'routes');

/** The top-level folder of src/ a path is in ('root' for files directly in src/), or null outside src/. */
function folderOf(path) {
  const rel = relative(SRC, path);
  if (rel.startsWith('..') || rel === '') return null;
  const parts = rel.split(sep);
  return parts.length === 1 ? 'root' : parts[0];
}

const inside = (dir, path) => !relative(dir, path).startsWith('..');

/** The problem with importing `target` from `file`, or null. Both are absolute paths (.ts). */
export function boundaryProblem(file, target) {
  const to = folderOf(target);
  if (to === null) return null;
  const targetName = relative(ROOT, target);
  if (inside(join(ROOT, 'web', 'src'), file)) {
    return WEB_MAY_IMPORT.includes(to)
      ? null
      : `the web UI imports only ${WEB_MAY_IMPORT.map((f) => `src/${f}`).join(', ')}, not ${targetName}`;
  }
  const from = folderOf(file);
  if (from === null) return null;
  if (!(from in LAYERS)) return `src/${from} is not in the layer table (scripts/lint/layers.mjs): add its row`;
  if (inside(ROUTES, file)) {
    if (to === 'store') return `a route file never imports the store (${targetName}): call an operation of its domain`;
    if (inside(ROUTES, target) && target !== file)
      return `a route file never imports another route file (${targetName}): move what both need out of routes/`;
  }
  if (from === to) return null;
  if (PURE.includes(from) && (to === 'store' || to === 'server'))
    return `src/${from} runs without a database or an HTTP server: it may not import src/${to}`;
  if (!LAYERS[from].includes(to))
    return `src/${from} may not import src/${to} (allowed: ${LAYERS[from].join(', ')}; the layers are in scripts/lint/layers.mjs)`;
  if (to !== 'root' && relative(join(SRC, to), target) !== 'index.ts') {
    return `enter src/${to} through its index.ts, not ${targetName}: export what you need there`;
  }
  return null;
}

function check(context, node) {
  const spec = node.source?.value;
  if (typeof spec !== 'string' || !spec.startsWith('.')) return;
  const file = context.filename;
  const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
  const problem = boundaryProblem(file, target);
  if (problem) context.report({ node: node.source, message: problem });
}

export const boundaries = {
  meta: { type: 'problem', docs: { description: "Tandem's import boundaries (scripts/lint/layers.mjs)" }, schema: [] },
  create(context) {
    const visit = (node) => check(context, node);
    return { ImportDeclaration: visit, ExportNamedDeclaration: visit, ExportAllDeclaration: visit, ImportExpression: visit };
  },
};

export default { rules: { boundaries } };
