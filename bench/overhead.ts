// Overhead: the same pipeline files of trivial `echo` jobs, in the shapes of issue 19 (one stage of
// 20, 200 and 1,000 jobs; 200 in four stages; 200 as a `needs` chain; 200 matrix jobs), run in one
// go by gitlab-ci-local, `tandem exec`, `tandem up` (on SQLite, and on PostgreSQL where it is
// installed) and a plain shell loop. The jobs do nothing, so the times are what each tool costs
// per job; every Tandem time is read against gitlab-ci-local's on the same file.
//
// OVERHEAD_SHAPES=one-20,one-200 picks shapes (ids below); OVERHEAD_DATABASES=sqlite (or
// sqlite,postgres, the default where PostgreSQL is installed) picks the databases of `tandem up`;
// OVERHEAD_GCL_CAP_S caps each gitlab-ci-local run (default 90 s), which is then reported as
// "> cap" instead of holding the whole benchmark.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { CLI } from '../test/cli/helpers.js';
import { git, makeRemote } from '../test/support/git.js';
import { postgresAvailable, startPostgres } from '../test/support/postgres.js';
import { fmt, LiveServer, median, run, tempDir, type BenchResult } from './common.js';

export const GCL_VERSION = '4.60.1';
/**
 * re2, a native dependency of gitlab-ci-local, builds its binary at install unless it can fetch a
 * prebuilt one from GitHub; its latest (1.24) does not build with Debian 12's GCC 12, 1.21.4 does.
 */
const GCL_RE2 = '1.21.4';
const STAGES = ['build', 'test', 'package', 'deploy'];
const DEFAULT_GCL_CAP_S = 90;
/** A Tandem run taking longer than this is a failure of the benchmark, not a measurement. */
const TANDEM_CAP_MS = 600_000;

interface Shape {
  id: string;
  title: string;
  jobs: number;
  yaml: string;
}

const echoJob = (name: string, extra: string[] = []) => [
  `${name}:`,
  ...extra.map((line) => `  ${line}`),
  '  script:',
  `    - echo ${name}`,
];

function oneStage(jobs: number): string {
  return ['stages: [test]', ...Array.from({ length: jobs }, (_, i) => echoJob(`job${i}`, ['stage: test'])).flat()].join('\n') + '\n';
}

function fourStages(jobs: number): string {
  const lines = [`stages: [${STAGES.join(', ')}]`];
  for (let i = 0; i < jobs; i++) lines.push(...echoJob(`job${i}`, [`stage: ${STAGES[i % STAGES.length]}`]));
  return lines.join('\n') + '\n';
}

/** Each job needs the one before it, in one stage: the jobs run one after another. */
function needsChain(jobs: number): string {
  const lines = ['stages: [test]'];
  for (let i = 0; i < jobs; i++) lines.push(...echoJob(`job${i}`, ['stage: test', ...(i > 0 ? [`needs: [job${i - 1}]`] : [])]));
  return lines.join('\n') + '\n';
}

/** One job with parallel:matrix of a × b values: a × b jobs (GitLab allows up to 200). */
function matrix(a: number, b: number): string {
  const values = (prefix: string, n: number) => `[${Array.from({ length: n }, (_, i) => `${prefix}${i}`).join(', ')}]`;
  return (
    [
      'stages: [test]',
      'job:',
      '  stage: test',
      '  parallel:',
      '    matrix:',
      `      - A: ${values('a', a)}`,
      `        B: ${values('b', b)}`,
      '  script:',
      '    - echo $A $B',
    ].join('\n') + '\n'
  );
}

const SHAPES: Shape[] = [
  { id: 'one-20', title: '20 jobs, one stage', jobs: 20, yaml: oneStage(20) },
  { id: 'one-200', title: '200 jobs, one stage', jobs: 200, yaml: oneStage(200) },
  { id: 'one-1000', title: '1,000 jobs, one stage', jobs: 1000, yaml: oneStage(1000) },
  { id: 'stages-200', title: '200 jobs in 4 stages', jobs: 200, yaml: fourStages(200) },
  { id: 'needs-200', title: '200 jobs, a `needs` chain', jobs: 200, yaml: needsChain(200) },
  { id: 'matrix-200', title: '200 matrix jobs (parallel:matrix 20 × 10)', jobs: 200, yaml: matrix(20, 10) },
];

/** Fewer repeats where one run is long: the whole benchmark stays within about 15 minutes. */
const tandemRepeats = (jobs: number) => (jobs <= 200 ? 3 : 1);
const gclRepeats = (jobs: number) => (jobs <= 20 ? 3 : 1);

/** gitlab-ci-local is a benchmark peer, not a dependency: installed once into a cache outside the repository. */
async function gitlabCiLocal(log: (line: string) => void): Promise<string> {
  const prefix = path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'), 'tandem-bench', `gitlab-ci-local-${GCL_VERSION}`);
  const bin = path.join(prefix, 'node_modules', '.bin', 'gitlab-ci-local');
  if (!existsSync(bin)) {
    log(`installing gitlab-ci-local@${GCL_VERSION} into ${prefix} (once)`);
    await mkdir(prefix, { recursive: true });
    await writeFile(
      path.join(prefix, 'package.json'),
      JSON.stringify({ dependencies: { 'gitlab-ci-local': GCL_VERSION }, overrides: { re2: GCL_RE2 } }, null, 2),
    );
    // npm 11 runs no install script it was not told to allow: re2 builds its binary in one.
    await run('npm', ['install', '--prefix', prefix, '--no-audit', '--no-fund', '--allow-scripts=re2'], { maxBuffer: 16 * 1024 * 1024 });
  }
  return bin;
}

async function hasCommand(name: string): Promise<boolean> {
  return run('sh', ['-c', `command -v ${name}`]).then(
    () => true,
    () => false,
  );
}

/**
 * Runs a command in a process group of its own; past `capMs` the whole group is killed (the runner
 * and the shells it started) and the run counts as capped.
 */
function runCapped(command: string, args: string[], cwd: string, capMs: number): Promise<{ ms: number; output: string; capped: boolean }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(command, args, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    // Only the end is kept: 1,000 jobs print megabytes, and the end says how the run finished.
    let output = '';
    const keep = (data: Buffer) => (output = (output + data.toString()).slice(-64 * 1024));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let capped = false;
    const timer = setTimeout(() => {
      capped = true;
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // it ended meanwhile
      }
    }, capMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      const ms = performance.now() - start;
      if (!capped && code !== 0) reject(new Error(`${command} exited ${code}:\n${output.slice(-2000)}`));
      else resolve({ ms, output, capped });
    });
  });
}

/** A runner's times on one shape; capped: its first run outlived the cap (ms then holds the cap). */
interface Runs {
  ms: number[];
  capped: boolean;
}

type RunnerId = 'gcl' | 'exec' | 'up' | 'up-pg' | 'shell';
type UpId = 'up' | 'up-pg';

async function repeat(times: number, fn: () => Promise<number>): Promise<Runs> {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) ms.push(await fn());
  return { ms, capped: false };
}

/** One shape's pipeline file, committed to a bare repository every runner takes it from. */
interface Prepared {
  shape: Shape;
  dir: string;
  bare: string;
  results: Map<RunnerId, Runs>;
}

async function prepare(root: string, shape: Shape): Promise<Prepared> {
  const dir = path.join(root, shape.id);
  await mkdir(dir);
  const remote = await makeRemote(dir);
  await remote.commit({ '.gitlab-ci.yml': shape.yaml }, shape.title);
  await remote.push('main');
  return { shape, dir, bare: remote.bare, results: new Map() };
}

/** The runners without a server: the shell floor, gitlab-ci-local and tandem exec, each on a clone of its own. */
async function measureLocal(p: Prepared, gcl: { bin: string; capMs: number } | null): Promise<void> {
  const { shape, dir } = p;
  const clone = async (name: string) => {
    await git(dir, 'clone', '--quiet', p.bare, path.join(dir, name));
    return path.join(dir, name);
  };
  const times = tandemRepeats(shape.jobs);

  // The floor: one shell per job, as every runner spawns at least that.
  p.results.set(
    'shell',
    await repeat(times, async () => {
      const { ms } = await runCapped('sh', ['-c', `for i in $(seq 1 ${shape.jobs}); do sh -c "echo job $i"; done`], dir, TANDEM_CAP_MS);
      return ms;
    }),
  );

  // gitlab-ci-local, the tool `tandem exec` replaces.
  if (gcl) {
    const gclDir = await clone('gcl');
    const runs: Runs = { ms: [], capped: false };
    for (let i = 0; i < gclRepeats(shape.jobs) && !runs.capped; i++) {
      const { ms, output, capped } = await runCapped(gcl.bin, ['--shell-executor-no-image', '--concurrency', '2'], gclDir, gcl.capMs);
      if (capped) runs.capped = true;
      else if (!/pipeline finished/.test(output)) throw new Error(`gitlab-ci-local did not finish ${shape.id}:\n${output.slice(-2000)}`);
      runs.ms.push(capped ? gcl.capMs : ms);
    }
    p.results.set('gcl', runs);
  }

  // tandem exec: a whole process per run, start-up and parsing included.
  const execDir = await clone('exec');
  p.results.set(
    'exec',
    await repeat(times, async () => {
      const { ms, output, capped } = await runCapped(process.execPath, [CLI, 'exec', '--quiet'], execDir, TANDEM_CAP_MS);
      if (capped || !/pipeline success/.test(output))
        throw new Error(`tandem exec did not succeed on ${shape.id}:\n${output.slice(-2000)}`);
      return ms;
    }),
  );
}

/** tandem up: from the trigger request to the pipeline's recorded finish, server already running. */
async function measureUp(p: Prepared, id: UpId, server: LiveServer): Promise<void> {
  const name = `bench-${p.shape.id}`;
  await server.api('POST', '/api/v1/repos', { name, url: p.bare });
  p.results.set(
    id,
    await repeat(tandemRepeats(p.shape.jobs), async () => {
      const t0 = Date.now();
      const { id: pipeline } = await server.api<{ id: number }>('POST', `/api/v1/repos/${name}/pipelines`, {});
      // The time is the server's own record, so polling needs no precision: a pipeline view of
      // 1,000 jobs read every 50 ms would load the server it measures.
      const run = await server.waitForPipeline(pipeline, TANDEM_CAP_MS, 1000);
      if (run.status !== 'success' || !run.finishedAt) throw new Error(`${id}: pipeline ${pipeline} of ${p.shape.id} ended ${run.status}`);
      return Date.parse(run.finishedAt) - t0;
    }),
  );
}

/**
 * A fresh `tandem up` (2 agents × 2 slots) on one database runs every shape, then stops: only
 * one server runs at a time, and none while the local runners are measured.
 */
async function measureUpOn(id: UpId, prepared: Prepared[], dataDir: string, args: string[], log: (line: string) => void): Promise<void> {
  const server = await LiveServer.start('up', dataDir, args);
  try {
    for (const p of prepared) {
      await measureUp(p, id, server);
      log(`${p.shape.title}: ${LABEL[id]} ${seconds(p.results.get(id) as Runs)}`);
    }
  } finally {
    await server.stop();
  }
}

const seconds = (r: Runs) => (r.capped ? `> ${fmt(r.ms[0] / 1000, 0)}` : r.ms.map((ms) => fmt(ms / 1000)).join(' / '));

/** Median seconds, or "> cap". */
const cell = (r: Runs | undefined) => (!r ? '-' : r.capped ? `> ${fmt(r.ms[0] / 1000, 0)}` : fmt(median(r.ms) / 1000));

/** A Tandem time as a ratio to gitlab-ci-local's; against a capped run only a bound is known. */
function ratio(r: Runs | undefined, ref: Runs | undefined): { text: string; value: number | null; bound: boolean } {
  if (!r || !ref || r.capped) return { text: '-', value: null, bound: false };
  const value = median(r.ms) / median(ref.ms);
  return { text: `${ref.capped ? '< ' : ''}${fmt(value)}`, value, bound: ref.capped };
}

const LABEL: Record<RunnerId, string> = {
  gcl: 'gitlab-ci-local',
  exec: 'tandem exec',
  up: 'tandem up',
  'up-pg': 'tandem up (PostgreSQL)',
  shell: 'shell loop',
};

function chosen<T extends string>(envName: string, known: readonly T[], fallback: readonly T[]): T[] {
  const raw = process.env[envName];
  if (!raw) return [...fallback];
  const picked = raw.split(',').map((s) => s.trim());
  const unknown = picked.filter((s) => !known.includes(s as T));
  if (unknown.length > 0) throw new Error(`${envName}: unknown ${unknown.join(', ')} (known: ${known.join(', ')})`);
  return picked as T[];
}

export async function overhead(log: (line: string) => void): Promise<BenchResult> {
  const shapes = chosen(
    'OVERHEAD_SHAPES',
    SHAPES.map((s) => s.id),
    SHAPES.map((s) => s.id),
  ).map((id) => SHAPES.find((s) => s.id === id) as Shape);
  const databases = chosen('OVERHEAD_DATABASES', ['sqlite', 'postgres'], postgresAvailable() ? ['sqlite', 'postgres'] : ['sqlite']);
  const capS = Number(process.env.OVERHEAD_GCL_CAP_S ?? DEFAULT_GCL_CAP_S);
  if (!(capS > 0)) throw new Error(`OVERHEAD_GCL_CAP_S: a number of seconds above 0, got ${process.env.OVERHEAD_GCL_CAP_S}`);

  const tmp = await tempDir('overhead');
  try {
    const rsync = await hasCommand('rsync');
    const gcl = rsync ? { bin: await gitlabCiLocal(log), capMs: capS * 1000 } : null;
    const prepared: Prepared[] = [];
    for (const shape of shapes) {
      const p = await prepare(tmp.dir, shape);
      await measureLocal(p, gcl);
      log(`${shape.title}: ${[...p.results].map(([id, runs]) => `${LABEL[id]} ${seconds(runs)}`).join('; ')}`);
      prepared.push(p);
    }
    const ups: UpId[] = [];
    if (databases.includes('sqlite')) {
      await measureUpOn('up', prepared, path.join(tmp.dir, 'up-sqlite'), [], log);
      ups.push('up');
    }
    if (databases.includes('postgres')) {
      const postgres = await startPostgres();
      try {
        const url = await postgres.createDatabase();
        await measureUpOn('up-pg', prepared, path.join(tmp.dir, 'up-postgres'), ['--database-url', url], log);
      } finally {
        await postgres.stop();
      }
      ups.push('up-pg');
    }
    return report(shapes, new Map(prepared.map((p) => [p.shape.id, p.results])), ups, capS, rsync);
  } finally {
    await tmp.remove();
  }
}

/** Issue 19's targets: a ratio to gitlab-ci-local per runner, by pipeline size. */
function target(runner: RunnerId, jobs: number): number | null {
  if (runner === 'gcl' || runner === 'shell') return null;
  if (jobs < 200) return 1;
  return runner === 'exec' ? 0.25 : 0.5;
}
const GROWTH_TARGET = 5.5;

function report(shapes: Shape[], results: Map<string, Map<RunnerId, Runs>>, ups: UpId[], capS: number, rsync: boolean): BenchResult {
  const tandem: RunnerId[] = ['exec', ...ups];
  const header = ['shape', 'jobs', 'gitlab-ci-local s', ...tandem.flatMap((r) => [`${LABEL[r]} s`, `${LABEL[r]} ×`]), 'shell loop s'];
  let met = 0;
  let judged = 0;
  const rows: string[][] = [];
  const verdicts: string[] = [];
  for (const shape of shapes) {
    const r = results.get(shape.id) as Map<RunnerId, Runs>;
    const ref = r.get('gcl');
    rows.push([
      shape.title,
      String(shape.jobs),
      cell(ref),
      ...tandem.flatMap((id) => [cell(r.get(id)), ratio(r.get(id), ref).text]),
      cell(r.get('shell')),
    ]);
    const parts = tandem.map((id) => {
      const { text, value, bound } = ratio(r.get(id), ref);
      const goal = target(id, shape.jobs) as number;
      const verdict = value === null ? 'not measured' : value <= goal ? 'met' : bound ? 'unknown (gitlab-ci-local capped)' : 'missed';
      judged += 1;
      if (verdict === 'met') met += 1;
      return `${LABEL[id]} ${text}× (≤ ${goal}: ${verdict})`;
    });
    verdicts.push(`${shape.title}: ${parts.join('; ')}.`);
  }

  const notes = [
    `Each shape is one pipeline file of \`echo\` jobs, run by every tool in the same run. gitlab-ci-local ${GCL_VERSION}: ` +
      `\`--shell-executor-no-image --concurrency 2\`, ${gclRepeats(20)} runs at 20 jobs and 1 run on larger shapes, each capped at ${capS} s ` +
      `("> ${capS}": killed at the cap, so a ratio against it is an upper bound). tandem exec: the CLI process, --concurrency 2, start-up and ` +
      `parsing included. tandem up: trigger request → pipeline finished, 2 agents × 2 slots, one server per database, started before and running alone. Tandem times are ` +
      `medians of ${tandemRepeats(200)} runs (${tandemRepeats(1000)} at 1,000 jobs); shell loop: \`sh -c "echo"\` per job, sequential, the floor.`,
    `Targets (issue 19): tandem exec ≤ 0.25× and tandem up ≤ 0.5× gitlab-ci-local on shapes of 200 jobs or more, ≤ 1.0× at 20 jobs; ` +
      `growth from 200 to 1,000 jobs in one stage ≤ ${GROWTH_TARGET}×.`,
    ...verdicts,
  ];
  if (!rsync) notes.push('gitlab-ci-local was not run: it needs `rsync` (apt-get install rsync).');
  if (!ups.includes('up-pg')) notes.push('tandem up on PostgreSQL was not run (PostgreSQL 15 not installed, or OVERHEAD_DATABASES).');
  for (const shape of shapes) {
    const r = results.get(shape.id) as Map<RunnerId, Runs>;
    notes.push(`${shape.title}, all runs (s): ${[...r].map(([id, runs]) => `${LABEL[id]} ${seconds(runs)}`).join('; ')}.`);
  }

  const tables: BenchResult['tables'] = [];
  const small = results.get('one-200');
  const large = results.get('one-1000');
  if (small && large) {
    const growthRows = (['gcl', ...tandem] as RunnerId[]).flatMap((id) => {
      const a = small.get(id);
      const b = large.get(id);
      if (!a || !b) return [];
      const growth = a.capped || b.capped ? null : median(b.ms) / median(a.ms);
      const goal = id === 'gcl' ? '-' : growth === null ? 'not measured' : growth <= GROWTH_TARGET ? 'met' : 'missed';
      if (id !== 'gcl') judged += 1;
      if (goal === 'met') met += 1;
      return [[LABEL[id], cell(a), cell(b), growth === null ? '-' : fmt(growth), id === 'gcl' ? '-' : `≤ ${GROWTH_TARGET}: ${goal}`]];
    });
    tables.push({
      caption: 'Growth from 200 to 1,000 jobs in one stage (5× the jobs: linear is 5.0×):',
      header: ['runner', '200 jobs s', '1,000 jobs s', 'growth ×', 'target'],
      rows: growthRows,
    });
  }
  const where = tables.length > 0 ? 'details per shape below, growth in the last table' : 'details per shape below';
  notes.splice(2, 0, `Targets met: ${met} of ${judged} measured here${met === judged ? '' : ` (${where})`}.`);
  return { id: 'overhead', title: 'Overhead: `echo` jobs in six pipeline shapes', header, rows, notes, tables };
}
