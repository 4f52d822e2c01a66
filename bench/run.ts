// `npm run bench`: runs the benchmarks (all, or those named by --only a,b), prints their tables and
// rewrites their sections of docs/benchmarks.md. Sections of benchmarks not run, and the hand-written
// analysis at the end, are kept as they were.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../test/support/git.js';
import { agents } from './agents.js';
import { auth } from './auth.js';
import { alerts } from './alerts.js';
import { claims } from './claims.js';
import { machine, type BenchResult, type Machine } from './common.js';
import { containers } from './containers.js';
import { dr } from './dr.js';
import { failover } from './failover.js';
import { forgeStatuses } from './forge-statuses.js';
import { junit } from './junit.js';
import { latency } from './latency.js';
import { memory } from './memory.js';
import { metrics } from './metrics.js';
import { GCL_VERSION, overhead } from './overhead.js';
import { rollback } from './rollback.js';
import { web } from './web.js';

const BENCHES: Record<string, (log: (line: string) => void) => Promise<BenchResult>> = {
  overhead,
  latency,
  memory,
  failover,
  claims,
  containers,
  rollback,
  metrics,
  auth,
  alerts,
  dr,
  web,
  forgeStatuses,
  junit,
  agents,
};
const DOC = path.join(repoRoot(), 'docs', 'benchmarks.md');

const INTRO = `# Benchmarks

Measured by \`npm run bench\` (\`node dist/bench/run.js [--only overhead,latency,memory,failover,claims,containers,rollback,metrics,auth,alerts,dr,web,forgeStatuses,junit,agents]\`),
which rewrites the section of each benchmark it runs. Machines are noisy, so every number is read against a
peer measured in the same run (a ratio), and each section names the machine and date it was measured on. The
benchmarks are not part of \`npm test\`. gitlab-ci-local ${GCL_VERSION} is installed on first use into
\`~/.cache/tandem-bench\` (it needs \`rsync\` and a C++ compiler for re2); it is not a dependency of Tandem. The overhead
benchmark takes up to about 15 minutes; \`OVERHEAD_SHAPES\`, \`OVERHEAD_DATABASES\` and \`OVERHEAD_GCL_CAP_S\` narrow it (bench/overhead.ts). The claims benchmark needs
PostgreSQL 15, the rollback benchmark OpenSSH, PostgreSQL 15, podman, docker-registry and skopeo (its container series skip without them), the alerts benchmark Prometheus (\`scripts/services.sh install\`); the auth benchmark
measures PostgreSQL too when it is installed, and pins its server to one core with \`taskset\`. The dr benchmark
uses s3rver (a dev dependency) for its S3 row. The web benchmark drives Debian's chromium with playwright-core. The forgeStatuses benchmark sends to a contract
server standing in for GitHub and takes a few minutes (a 60 s forge outage). The agents benchmark needs PostgreSQL 15 and
\`prlimit\` (util-linux), takes about 15 minutes, and is narrowed by \`AGENTS_SIZES\`, \`AGENTS_DATABASES\`, \`AGENTS_IDLE_S\` and \`AGENTS_PIPELINES\` (bench/agents.ts).
`;

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function section(result: BenchResult, m: Machine): string {
  return [
    `<!-- bench:${result.id} -->`,
    `## ${result.title}`,
    '',
    `Measured ${m.date} on ${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB memory, Node.js ${m.node}.`,
    '',
    table(result.header, result.rows),
    '',
    ...result.notes.flatMap((n) => [n, '']),
    ...(result.tables ?? []).flatMap((t) => [t.caption, '', table(t.header, t.rows), '']),
    `<!-- /bench:${result.id} -->`,
  ].join('\n');
}

/** Hand-written analysis below this marker survives every rewrite. */
const MANUAL = '<!-- manual: kept by npm run bench -->';

/** The doc with the given sections replaced (or appended), in BENCHES order. */
async function updateDoc(sections: Map<string, string>): Promise<void> {
  const old = existsSync(DOC) ? await readFile(DOC, 'utf8') : '';
  const parts = Object.keys(BENCHES).map((id) => {
    if (sections.has(id)) return sections.get(id)!;
    const kept = new RegExp(`<!-- bench:${id} -->[\\s\\S]*?<!-- /bench:${id} -->`).exec(old);
    return kept?.[0] ?? null;
  });
  const manual = old.includes(MANUAL) ? old.slice(old.indexOf(MANUAL)).trimEnd() : null;
  await writeFile(DOC, [INTRO, ...parts.filter((p): p is string => p !== null), manual].filter((p) => p !== null).join('\n') + '\n');
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  for (const row of [header, ...rows]) console.log('  ' + row.map((c, i) => c.padEnd(widths[i])).join('  '));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { only: { type: 'string' } } });
  const wanted = values.only ? values.only.split(',').map((s) => s.trim()) : Object.keys(BENCHES);
  const unknown = wanted.filter((id) => !BENCHES[id]);
  if (unknown.length > 0) throw new Error(`--only: unknown benchmark ${unknown.join(', ')} (known: ${Object.keys(BENCHES).join(', ')})`);
  const m = machine();
  console.log(`Machine: ${m.cores} cores, ${m.memoryGiB} GiB, ${m.cpu}, Node.js ${m.node}, ${m.date}`);
  const sections = new Map<string, string>();
  for (const id of wanted) {
    const started = Date.now();
    const result = await BENCHES[id]((line) => console.log(`  ${line}`));
    console.log(`\n${result.title} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    printTable(result.header, result.rows);
    for (const note of result.notes) console.log(`  ${note}`);
    for (const t of result.tables ?? []) {
      console.log(`\n  ${t.caption}`);
      printTable(t.header, t.rows);
    }
    console.log('');
    sections.set(id, section(result, m));
  }
  await updateDoc(sections);
  console.log(`Wrote ${path.relative(process.cwd(), DOC)}`);
}

main().catch((err: unknown) => {
  console.error(`bench: ${(err as Error).message}`);
  process.exit(1);
});
