// Shared pieces of the benchmarks: the machine they ran on, timing, a live `tandem up` and its API.
import { execFile, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startLive, type LiveTandem } from '../test/cli/helpers.js';

export const run = promisify(execFile);

/** One benchmark's outcome: a table for the terminal and the doc, plus prose around it. */
export interface BenchResult {
  id: string;
  title: string;
  header: string[];
  rows: string[][];
  /** Markdown paragraphs after the table: what was measured, targets met or missed. */
  notes: string[];
  /** Further tables, each under its caption, after the notes. */
  tables?: { caption: string; header: string[]; rows: string[][] }[];
}

export interface Machine {
  cores: number;
  memoryGiB: number;
  cpu: string;
  node: string;
  date: string;
}

export function machine(): Machine {
  return {
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    node: process.version,
    date: new Date().toISOString().slice(0, 10),
  };
}

/** Wall-clock realtime in milliseconds with sub-millisecond resolution (comparable with `date +%s%N`). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await fn();
  return { ms: performance.now() - start, value };
}

export function median(values: number[]): number {
  return percentile(values, 50);
}

/** Nearest-rank percentile. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function tempDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), `tandem-bench-${prefix}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Resident set size of a process in MiB, from /proc (Linux). */
export async function rssMiB(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

let clockTicks: number | null = null;

function ticksPerSecond(): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  return clockTicks;
}

/** CPU seconds every core of the machine has spent busy (not idle or waiting for I/O), from /proc/stat. */
export async function machineBusySeconds(): Promise<number> {
  const cpu = (await readFile('/proc/stat', 'utf8')).split('\n')[0].split(/\s+/).slice(1, 9).map(Number);
  // user nice system idle iowait irq softirq steal
  return (cpu.reduce((a, b) => a + b, 0) - cpu[3] - cpu[4]) / ticksPerSecond();
}

/** CPU seconds (user + system) a process has used, from /proc (Linux); with `reaped`, also its waited-for children's. */
async function statCpuSeconds(pid: number, reaped: boolean): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces and parentheses: the fields after it start past the last ')'.
  const f = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  // utime, stime, cutime, cstime are fields 14-17 of proc(5); f[0] is field 3.
  return (f[11] + f[12] + (reaped ? f[13] + f[14] : 0)) / ticksPerSecond();
}

export function cpuSeconds(pid: number): Promise<number> {
  return statCpuSeconds(pid, false);
}

/**
 * CPU seconds of a process and every child it has (had): a PostgreSQL postmaster with its backends.
 * Children that ended count once their parent waited for them (cutime/cstime).
 */
export async function familyCpuSeconds(pid: number): Promise<number> {
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')).trim().split(/\s+/).filter(Boolean).map(Number);
  // A child may end between the listing and the read: it is then counted in the parent's cutime.
  const own = await Promise.all(children.map((c) => statCpuSeconds(c, true).catch(() => 0)));
  return (await statCpuSeconds(pid, true)) + own.reduce((a, b) => a + b, 0);
}

/** A `tandem up|server` child process with its admin token and a JSON API helper. */
export class LiveServer {
  private constructor(
    readonly live: LiveTandem,
    readonly token: string,
    readonly dataDir: string,
  ) {}

  /** `args` are further flags, e.g. `--database-url`. */
  static async start(command: 'up' | 'server', dataDir: string, args: string[] = []): Promise<LiveServer> {
    await mkdir(dataDir, { recursive: true });
    const live = await startLive([command, '--port', '0', '--data-dir', dataDir, '--log-level', 'warn', ...args], {
      cwd: dataDir,
      timeoutMs: 30_000,
    });
    const token = (await readFile(path.join(dataDir, 'admin.token'), 'utf8')).trim();
    return new LiveServer(live, token, dataDir);
  }

  get url(): string {
    return this.live.url;
  }

  get pid(): number {
    const pid = this.live.child.pid;
    if (pid === undefined) throw new Error('server process has no pid');
    return pid;
  }

  async api<T>(method: string, urlPath: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const res = await fetch(this.url + urlPath, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${urlPath}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** The server's /metrics, as Prometheus scrapes them. */
  async metrics(): Promise<string> {
    const res = await fetch(`${this.url}/metrics`);
    if (!res.ok) throw new Error(`GET /metrics: ${res.status}`);
    return res.text();
  }

  /** One series of a histogram in the server's /metrics (the series whose labels include `labels`). */
  async histogram(name: string, labels: Record<string, string>): Promise<Histogram> {
    return parseHistogram(await this.metrics(), name, labels);
  }

  /** Polls a pipeline until it ends; returns it. */
  async waitForPipeline(
    id: number,
    timeoutMs: number,
    pollMs = 50,
  ): Promise<{ status: string; createdAt: string; startedAt: string | null; finishedAt: string | null }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const p = await this.api<{ status: string; createdAt: string; startedAt: string | null; finishedAt: string | null }>(
        'GET',
        `/api/v1/pipelines/${id}`,
      );
      if (['success', 'failed', 'canceled', 'skipped'].includes(p.status)) return p;
      if (Date.now() > deadline) throw new Error(`pipeline ${id} still ${p.status} after ${timeoutMs} ms`);
      await sleep(pollMs);
    }
  }

  async stop(): Promise<void> {
    const { code } = await this.live.stop(10_000);
    if (code !== 0) throw new Error(`tandem exited with ${code} on SIGTERM:\n${this.live.output()}`);
  }
}

/** A Prometheus histogram series: observations, their sum, and cumulative counts per upper bound (le). */
export interface Histogram {
  count: number;
  sum: number;
  buckets: Map<number, number>;
}

/** The series `name` with `labels` (among others) in Prometheus text; zero when absent (not observed yet). */
export function parseHistogram(text: string, name: string, labels: Record<string, string>): Histogram {
  const out: Histogram = { count: 0, sum: 0, buckets: new Map() };
  for (const line of text.split('\n')) {
    // A series without labels has no braces on its _count and _sum lines.
    const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || !m[1].startsWith(name)) continue;
    const seen = new Map([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => [k, v]));
    if (Object.entries(labels).some(([k, v]) => seen.get(k) !== v)) continue;
    const value = Number(m[3]);
    const le = seen.get('le');
    if (m[1] === `${name}_count`) out.count = value;
    else if (m[1] === `${name}_sum`) out.sum = value;
    else if (m[1] === `${name}_bucket`) out.buckets.set(le === '+Inf' ? Infinity : Number(le), value);
  }
  return out;
}

/** What a histogram observed between two readings of it. */
export function histogramSince(after: Histogram, before: Histogram): Histogram {
  const buckets = new Map([...after.buckets].map(([le, n]) => [le, n - (before.buckets.get(le) ?? 0)]));
  return { count: after.count - before.count, sum: after.sum - before.sum, buckets };
}

export const fmt = (n: number, digits = 2) => n.toFixed(digits);
