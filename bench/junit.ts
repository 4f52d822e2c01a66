// JUnit reports: a 10,000-test, 20 MB report parsed and stored by the server (saveJunitReports: the
// blob read as a stream, cases written in batches to SQLite), against the targets of issue 18 (at
// most 1 s of CPU and 50 MB of extra RSS). The peer in the same run is the obvious way to do it: the
// whole file read into one string and given to saxes in one write (no storing at all). 1,000 →
// 10,000 tests shows how it scales. Each row is a fresh process (bench/junit-worker.ts), median of 3.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { fmt, median, type BenchResult } from './common.js';
import type { WorkerResult } from './junit-worker.js';

const WORKER = fileURLToPath(new URL('./junit-worker.js', import.meta.url));
const RUNS = 3;
const CPU_TARGET_MS = 1000;
const RSS_TARGET_MIB = 50;

function measure(mode: 'store' | 'parse' | 'whole', tests: number, bytesPerTest: number): Promise<WorkerResult> {
  const child = fork(WORKER, [mode, String(tests), String(bytesPerTest)], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    let result: WorkerResult | null = null;
    child.once('message', (m) => (result = m as WorkerResult));
    child.once('exit', (code) => (result ? resolve(result) : reject(new Error(`junit worker (${mode}, ${tests}) exited with ${code}`))));
  });
}

async function medianOf(mode: 'store' | 'parse' | 'whole', tests: number, bytesPerTest: number, log: (line: string) => void) {
  const runs: WorkerResult[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await measure(mode, tests, bytesPerTest));
  if (runs.some((r) => r.cases !== tests)) throw new Error(`${mode}: expected ${tests} cases, read ${runs.map((r) => r.cases).join(', ')}`);
  const row = {
    bytes: runs[0]!.bytes,
    cpuMs: median(runs.map((r) => r.cpuMs)),
    wallMs: median(runs.map((r) => r.wallMs)),
    rss: median(runs.map((r) => r.extraRssMiB)),
  };
  log(`junit: ${mode} ${tests} tests (${fmt(row.bytes / 1e6, 1)} MB): ${fmt(row.cpuMs, 0)} ms CPU, +${fmt(row.rss, 1)} MiB RSS`);
  return row;
}

export async function junit(log: (line: string) => void): Promise<BenchResult> {
  const big = await medianOf('store', 10_000, 2100, log);
  const parseOnly = await medianOf('parse', 10_000, 2100, log);
  const whole = await medianOf('whole', 10_000, 2100, log);
  const small = await medianOf('store', 1_000, 2100, log);
  const row = (what: string, r: typeof big) => [what, fmt(r.bytes / 1e6, 1), fmt(r.cpuMs, 0), fmt(r.wallMs, 0), fmt(r.rss, 1)];
  const cpuOk = big.cpuMs <= CPU_TARGET_MS;
  const rssOk = big.rss <= RSS_TARGET_MIB;
  return {
    id: 'junit',
    title: 'JUnit reports: parsed and stored on the server',
    header: ['work (10,000 tests unless said)', 'report MB', 'CPU ms', 'wall ms', 'extra RSS MiB'],
    rows: [
      row('Tandem: stream from the blob store, parse, store (SQLite)', big),
      row('Tandem: stream and parse only', parseOnly),
      row('peer: whole file as one string, one saxes write, no store', whole),
      row('Tandem: stream, parse, store, 1,000 tests', small),
    ],
    notes: [
      `A Surefire-shaped report, one test in ten failing with a stack trace, the others with captured output, about 2 KB a test, stored on SQLite (PostgreSQL is not measured here). CPU is the worker process's user + system time over the work, extra RSS its peak resident memory above the RSS just before (peak reset through /proc/self/clear_refs); median of ${RUNS} fresh processes.`,
      `Target for 10,000 tests and 20 MB: at most ${CPU_TARGET_MS} ms of CPU (${cpuOk ? 'met' : 'missed'}: ${fmt(big.cpuMs, 0)} ms) and ${RSS_TARGET_MIB} MB of extra RSS (${rssOk ? 'met' : 'missed'}: ${fmt(big.rss, 1)} MiB). Loading the file whole costs ${fmt(whole.rss / Math.max(big.rss, 0.1), 1)}× the memory of streaming it, and grows with the file; streaming stays at the size of a batch of cases.`,
      `Scaling: 1,000 → 10,000 tests (10× the report) takes ${fmt(big.cpuMs / small.cpuMs, 1)}× the CPU: less than linear, as a fresh process's fixed costs (compiling the code, the first statements) weigh on the small report.`,
    ],
  };
}
