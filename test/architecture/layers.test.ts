// The architecture's rules, checked on the code itself: src/'s folders form no import cycle, the
// layer table that the lint enforces has none either, and the lint rule really refuses the imports
// it is meant to refuse (each a deliberate violation linted as text).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ESLint } from 'eslint';
import ts from 'typescript';
import { repoRoot } from '../support/git.js';

const ROOT = repoRoot();
const SRC = path.join(ROOT, 'src');

async function layerTable(): Promise<Record<string, string[]>> {
  const mod = (await import(pathToFileURL(path.join(ROOT, 'scripts', 'lint', 'layers.mjs')).href)) as { LAYERS: Record<string, string[]> };
  return mod.LAYERS;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const folderOf = (file: string) => {
  const parts = path.relative(SRC, file).split(path.sep);
  return parts.length === 1 ? 'root' : parts[0]!;
};

/** Folder → folders it imports, from every import, export-from and dynamic import of src/ (type-only ones too). */
function folderGraph(): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const file of sourceFiles(SRC)) {
    const from = folderOf(file);
    const edges = graph.get(from) ?? new Map<string, string>();
    graph.set(from, edges);
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const ref of info.importedFiles) {
      if (!ref.fileName.startsWith('.')) continue;
      const target = path.resolve(path.dirname(file), ref.fileName);
      if (path.relative(SRC, target).startsWith('..')) continue;
      const to = folderOf(target);
      if (to !== from && !edges.has(to)) edges.set(to, path.relative(ROOT, file));
    }
  }
  return graph;
}

/** A cycle of the graph as a list of nodes (first = last), or null when it has none. */
function findCycle(graph: Map<string, Iterable<string>>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | null => {
    if (state.get(node) === 'done') return null;
    if (state.get(node) === 'open') return [...stack.slice(stack.indexOf(node)), node];
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(node, 'done');
    return null;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return null;
}

describe('the folder graph of src/', () => {
  it('has no import cycle between folders', () => {
    const graph = folderGraph();
    const cycle = findCycle(new Map([...graph].map(([k, v]) => [k, v.keys()])));
    const where = cycle?.slice(1).map((to, i) => `${cycle[i]} → ${to} (${graph.get(cycle[i]!)!.get(to)})`);
    assert.equal(cycle, null, `import cycle: ${where?.join(', ')}`);
  });

  it('imports only along the layer table, and the table itself has no cycle', async () => {
    const layers = await layerTable();
    assert.equal(findCycle(new Map(Object.entries(layers))), null, 'scripts/lint/layers.mjs has a cycle');
    const rows = Object.keys(layers);
    const upward = rows.flatMap((from, i) => layers[from]!.filter((to) => !rows.slice(0, i).includes(to)).map((to) => `${from} → ${to}`));
    assert.deepEqual(upward, [], 'a row of the layer table names a folder in a row below it (rows go bottom to top)');
    const outside: string[] = [];
    for (const [from, edges] of folderGraph()) {
      if (!(from in layers)) outside.push(`src/${from} has no row in the layer table`);
      for (const [to, file] of edges) if (!layers[from]?.includes(to)) outside.push(`${from} → ${to} (${file})`);
    }
    assert.deepEqual(outside, []);
  });

  it('finds a cycle when there is one (the check can fail)', () => {
    const cycle = findCycle(
      new Map([
        ['pipeline', ['deploy']],
        ['deploy', ['scheduler']],
        ['scheduler', ['pipeline']],
      ]),
    );
    assert.deepEqual(cycle, ['pipeline', 'deploy', 'scheduler', 'pipeline']);
  });
});

describe('the import-boundary lint rule (tandem/boundaries)', () => {
  const eslint = new ESLint({ cwd: ROOT });
  async function problems(file: string, code: string): Promise<string[]> {
    const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
    return result!.messages.filter((m) => m.ruleId === 'tandem/boundaries').map((m) => m.message);
  }

  const cases: { what: string; file: string; code: string; refused: RegExp | null }[] = [
    {
      what: 'a route file importing the store',
      file: 'src/server/routes/example.ts',
      code: "import type { Repo } from '../../store/index.js';\nexport type R = Repo;\n",
      refused: /route file never imports the store/,
    },
    {
      what: 'a route file importing another route file',
      file: 'src/server/routes/example.ts',
      code: "export { registerRepoRoutes } from './repos.js';\n",
      refused: /never imports another route file/,
    },
    {
      what: 'the pure compiler importing the store',
      file: 'src/pipeline/example.ts',
      code: "import type { Store } from '../store/index.js';\nexport type S = Store;\n",
      refused: /without a database or an HTTP server/,
    },
    {
      what: 'a lower layer importing a higher one',
      file: 'src/deploy/example.ts',
      code: "export { claimJob } from '../scheduler/index.js';\n",
      refused: /src\/deploy may not import src\/scheduler/,
    },
    {
      what: 'a file inside another folder instead of its index.ts',
      file: 'src/scheduler/example.ts',
      code: "import type { Repo } from '../store/schema.js';\nexport type R = Repo;\n",
      refused: /enter src\/store through its index.ts/,
    },
    {
      what: 'the web UI importing the server',
      file: 'web/src/example.ts',
      code: "export { buildApp } from '../../src/server/app.js';\n",
      refused: /web UI imports only src\/api/,
    },
    {
      what: 'a dynamic import across a boundary',
      file: 'src/agent/example.ts',
      code: "export const load = () => import('../server/index.js');\n",
      refused: /src\/agent runs without a database or an HTTP server/,
    },
    {
      what: 'an allowed import through an index',
      file: 'src/scheduler/example.ts',
      code: "import type { Store } from '../store/index.js';\nexport type S = Store;\n",
      refused: null,
    },
  ];
  for (const c of cases) {
    it(`${c.refused ? 'refuses' : 'allows'} ${c.what}`, async () => {
      const found = await problems(c.file, c.code);
      if (c.refused === null) assert.deepEqual(found, []);
      else
        assert.ok(
          found.length === 1 && c.refused.test(found[0]!),
          `expected one problem matching ${c.refused}, got ${JSON.stringify(found)}`,
        );
    });
  }
});
