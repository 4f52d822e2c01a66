// Agents at scale: what 100, 1,000 and 5,000 connected agents cost the servers while they wait, and
// how a burst of 2,000 jobs reaches them. On SQLite one `tandem server`; on PostgreSQL 15 two
// `tandem server` replicas sharing one database, the agents spread evenly over them. The agents are
// simulated (bench/agent-swarm.ts, in worker processes of their own): each holds its presence stream
// open and long-polls as a real agent does, and completes a job the moment it gets one.
//
// Idle: once every agent is online and waiting, a window of one long-poll period (25 s, so that every
// agent renews its poll once, whatever its phase) gives the statements per second the replicas ran
// (from their /metrics), their CPU and their memory. Burst: one pipeline of 2,000 trivial jobs
// triggered through the API (the path of a person's or a script's trigger; a webhook adds its
// signature check to the same createPipeline); claim latency is measured from the trigger's sending
// to each claim's response, and from each job's queuedAt to its startedAt as the server recorded them.
import { fork, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { makeRemote, repoRoot } from '../test/support/git.js';
import { postgresAvailable, startPostgres, PG_BIN, type PostgresServer } from '../test/support/postgres.js';
import { sampleSum } from '../test/monitor/scrape.js';
import type { SwarmCommand, SwarmCounts, SwarmMessage, SwarmReady, SwarmResult, SwarmTask } from './agent-swarm.js';
import {
  cpuSeconds,
  familyCpuSeconds,
  fmt,
  histogramSince,
  LiveServer,
  nowMs,
  parseHistogram,
  percentile,
  rssMiB,
  sleep,
  tempDir,
  type BenchResult,
  type Histogram,
} from './common.js';

const execFileP = promisify(execFile);

const SIZES = (process.env.AGENTS_SIZES ?? '100,1000,5000').split(',').map(Number);
const DATABASES = (process.env.AGENTS_DATABASES ?? 'SQLite,PostgreSQL').split(',') as DatabaseName[];
/** One long-poll period: every waiting agent renews its request once inside the window. */
const IDLE_MS = Number(process.env.AGENTS_IDLE_S ?? 25) * 1000;
const BURST_JOBS = 2000;
const BASELINE_MS = 10_000;
/** Bounds of each phase: a shape that cannot finish in them fails instead of hanging the run. */
const READY_TIMEOUT_MS = 150_000;
const BURST_TIMEOUT_MS = 120_000;
const SWARM = fileURLToPath(new URL('./agent-swarm.js', import.meta.url));
/** The server's default (src/config/index.ts maxConnections). */
const DEFAULT_MAX_CONNECTIONS = 10_000;

/**
 * The burst's pipelines, triggered at once. One by default: 2,000 jobs is Tandem's default
 * maxPipelineJobs. More pipelines take the pipeline's row lock, which every completion holds, out of
 * the measurement of dispatch.
 */
const PIPELINES = Number(process.env.AGENTS_PIPELINES ?? 1);
const JOBS_PER_PIPELINE = BURST_JOBS / PIPELINES;
// Jobs of `parallel: 200` at most (GitLab's cap), all in one stage.
const PIPELINE_FILE = Array.from(
  { length: Math.ceil(JOBS_PER_PIPELINE / 200) },
  (_, i) => `job-${i}:\n  parallel: ${Math.min(200, JOBS_PER_PIPELINE - 200 * i)}\n  script: ['true']\n`,
).join('');

type DatabaseName = 'SQLite' | 'PostgreSQL';

interface Idle {
  statementsPerSecond: number;
  /** The same replicas before any agent registered. */
  baselinePerSecond: number;
  emptyClaimsPerSecond: number;
  /** Per replica. */
  rssMiB: number[];
  cores: number[];
  fds: number[];
  postgresCores: number | null;
  swarmCores: number;
}

interface Burst {
  triggerMs: number;
  /** From the trigger's sending to each claim's response, as the agents saw it. */
  claimMs: number[];
  /** A long-poll sent while jobs were queued, to its answer with a job. */
  askMs: number[];
  /** A claim's answer to its completion's answer. */
  completeMs: number[];
  /** queuedAt → startedAt of each job, as the server recorded them. */
  serverWaitMs: number[];
  queueWait: Histogram;
  jobsPerSecond: number;
  attemptsPerJob: number;
  statementsPerJob: number;
  /** Every job claimed once and completed once, with no fencing refusal. */
  exactlyOnce: boolean;
  problems: string[];
  peakRssMiB: number[];
  cores: number[];
  postgresCores: number | null;
  swarmCores: number;
}

interface Shape {
  database: DatabaseName;
  agents: number;
  replicas: number;
  maxConnections: number;
  idle: Idle | null;
  burst: Burst | null;
  /** Why the shape did not run, or what broke it. */
  failure: string | null;
  /** Errors and refusals seen while it ran (the agents' and the servers' counters). */
  notes: string[];
}

/** The commit of the Tandem measured, marked when the working tree differs from it. */
async function measuredCommit(): Promise<string> {
  const git = (...args: string[]) => execFileP('git', ['-C', repoRoot(), ...args]).then(({ stdout }) => stdout.trim());
  const [sha, dirty] = await Promise.all([git('rev-parse', '--short', 'HEAD'), git('status', '--porcelain', '--untracked-files=no')]);
  return dirty === '' ? sha : `${sha} with uncommitted changes`;
}

/** Soft and hard limit of open files of this process (children inherit them). */
async function fileLimits(): Promise<{ soft: number; hard: number }> {
  const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(await readFile('/proc/self/limits', 'utf8'));
  const n = (s: string | undefined) => (s === undefined || s === 'unlimited' ? Infinity : Number(s));
  return { soft: n(line?.[1]), hard: n(line?.[2]) };
}

/** Raises a process's soft limit of open files to the hard one (prlimit, util-linux); false when it could not. */
async function raiseFileLimit(pid: number, hard: number): Promise<boolean> {
  if (!Number.isFinite(hard)) return true;
  return execFileP('prlimit', ['--pid', String(pid), `--nofile=${hard}:${hard}`]).then(
    () => true,
    () => false,
  );
}

async function openFds(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}

const scrape = (server: LiveServer): Promise<string> => server.metrics();

const statements = (text: string) => sampleSum(text, 'tandem_db_query_duration_seconds_count');
const attempts = (text: string, result: 'claimed' | 'empty') => sampleSum(text, 'tandem_job_claim_attempts_total', { result });

/** The swarm's worker processes. */
class Swarm {
  private constructor(
    private readonly workers: { child: ChildProcess; exited: Promise<unknown>; inbox: SwarmMessage[]; waiters: (() => void)[] }[],
  ) {}

  static async start(tasks: SwarmTask[], fileHard: number): Promise<Swarm> {
    const workers = tasks.map(() => {
      const child = fork(SWARM, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      const w = {
        child,
        exited: new Promise((resolve) => child.once('exit', resolve)),
        inbox: [] as SwarmMessage[],
        waiters: [] as (() => void)[],
      };
      child.on('message', (m: SwarmMessage) => {
        w.inbox.push(m);
        for (const wake of w.waiters.splice(0)) wake();
      });
      void w.exited.then(() => {
        for (const wake of w.waiters.splice(0)) wake();
      });
      return w;
    });
    const swarm = new Swarm(workers);
    for (const w of workers) if (w.child.pid !== undefined) await raiseFileLimit(w.child.pid, fileHard);
    workers.forEach((w, i) => w.child.send({ type: 'start', task: tasks[i] } satisfies SwarmCommand));
    return swarm;
  }

  get pids(): number[] {
    return this.workers.map((w) => w.child.pid ?? 0);
  }

  /** The next message of `type` from every worker. */
  private async collect<T extends SwarmMessage['type']>(type: T, timeoutMs: number): Promise<Extract<SwarmMessage, { type: T }>[]> {
    const deadline = Date.now() + timeoutMs;
    return Promise.all(
      this.workers.map(async (w) => {
        for (;;) {
          const failed = w.inbox.find((m) => m.type === 'failed');
          if (failed?.type === 'failed') throw new Error(`agent swarm: ${failed.message}`);
          const i = w.inbox.findIndex((m) => m.type === type);
          if (i >= 0) return w.inbox.splice(i, 1)[0] as Extract<SwarmMessage, { type: T }>;
          if (w.child.exitCode !== null || w.child.signalCode !== null) throw new Error(`agent swarm: a worker exited waiting for ${type}`);
          const left = deadline - Date.now();
          if (left <= 0) throw new Error(`agent swarm: no ${type} within ${timeoutMs} ms`);
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, left);
            w.waiters.push(() => (clearTimeout(t), resolve()));
          });
        }
      }),
    );
  }

  async ready(): Promise<SwarmReady[]> {
    return (await this.collect('ready', READY_TIMEOUT_MS)).map((m) => m.ready);
  }

  async counts(): Promise<SwarmCounts> {
    for (const w of this.workers) w.child.send({ type: 'counts' } satisfies SwarmCommand);
    return sumCounts((await this.collect('counts', 10_000)).map((m) => m.counts));
  }

  /** Stops every agent (their connections close) and returns what the workers recorded. */
  async stop(): Promise<SwarmResult> {
    for (const w of this.workers) if (w.child.connected) w.child.send({ type: 'stop' } satisfies SwarmCommand);
    try {
      const results = (await this.collect('result', 15_000)).map((m) => m.result);
      return { ...sumCounts(results), jobs: results.flatMap((r) => r.jobs) };
    } finally {
      await this.kill();
    }
  }

  async kill(): Promise<void> {
    const hang = setTimeout(() => {
      for (const w of this.workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    }, 5000);
    await Promise.all(this.workers.map((w) => w.exited));
    clearTimeout(hang);
  }
}

function sumCounts(all: SwarmCounts[]): SwarmCounts {
  const errors: Record<string, number> = {};
  for (const c of all) for (const [k, v] of Object.entries(c.errors)) errors[k] = (errors[k] ?? 0) + v;
  const sum = (f: (c: SwarmCounts) => number) => all.reduce((a, c) => a + f(c), 0);
  return {
    claimed: sum((c) => c.claimed),
    completed: sum((c) => c.completed),
    fencingRejected: sum((c) => c.fencingRejected),
    presenceBroken: sum((c) => c.presenceBroken),
    emptyPolls: sum((c) => c.emptyPolls),
    cpuSeconds: sum((c) => c.cpuSeconds),
    errors,
  };
}

/** The replicas of one shape, with the database behind them. */
interface Deployment {
  servers: LiveServer[];
  postgres: PostgresServer | null;
  /** CPU seconds of PostgreSQL's processes; null on SQLite (inside the server). */
  databaseCpu: () => Promise<number | null>;
  stop(): Promise<void>;
}

async function deploy(database: DatabaseName, dir: string, maxConnections: number, fileHard: number): Promise<Deployment> {
  const config = path.join(dir, 'tandem.yml');
  await writeFile(config, `maxConnections: ${maxConnections}\n`);
  const servers: LiveServer[] = [];
  let postgres: PostgresServer | null = null;
  const stop = async () => {
    const errors: unknown[] = [];
    for (const s of servers) await s.stop().catch((err: unknown) => errors.push(err));
    await postgres?.stop();
    if (errors.length > 0) throw errors[0];
  };
  try {
    if (database === 'SQLite') {
      servers.push(await LiveServer.start('server', path.join(dir, 'server'), ['--config', config]));
    } else {
      postgres = await startPostgres();
      const url = await postgres.createDatabase();
      const masterKey = path.join(dir, 'master.key');
      await writeFile(masterKey, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
      const args = ['--database-url', url, '--master-key-file', masterKey, '--config', config];
      servers.push(await LiveServer.start('server', path.join(dir, 'server1'), args));
      // The first replica on a new database made the one admin token; the second finds it in the database.
      await mkdir(path.join(dir, 'server2'), { recursive: true });
      await copyFile(path.join(dir, 'server1', 'admin.token'), path.join(dir, 'server2', 'admin.token'));
      servers.push(await LiveServer.start('server', path.join(dir, 'server2'), args));
    }
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  for (const s of servers) await raiseFileLimit(s.pid, fileHard);
  const postmaster = postgres?.pid() ?? null;
  return {
    servers,
    postgres,
    databaseCpu: async () => (postmaster === null ? null : familyCpuSeconds(postmaster)),
    stop,
  };
}

/** Polls until every agent shows online on the replicas (presence open, heard from within a lease). */
async function waitOnline(servers: LiveServer[], agents: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // Every replica counts the whole cluster's agents.
    const online = sampleSum(await scrape(servers[0]), 'tandem_agents', { state: 'online' });
    if (online >= agents) return;
    if (Date.now() > deadline) throw new Error(`${online} of ${agents} agents online after ${timeoutMs} ms`);
    await sleep(500);
  }
}

/** Statements per second of the replicas with no agent at all: what the agents' figures are read against. */
async function measureBaseline(d: Deployment): Promise<number> {
  const texts0 = await Promise.all(d.servers.map(scrape));
  const t0 = performance.now();
  await sleep(BASELINE_MS);
  const texts1 = await Promise.all(d.servers.map(scrape));
  return texts1.reduce((a, t, i) => a + statements(t) - statements(texts0[i]), 0) / ((performance.now() - t0) / 1000);
}

async function measureIdle(d: Deployment, swarm: Swarm): Promise<Omit<Idle, 'baselinePerSecond'>> {
  const texts0 = await Promise.all(d.servers.map(scrape));
  const cpu0 = await Promise.all(d.servers.map((s) => cpuSeconds(s.pid)));
  const db0 = await d.databaseCpu();
  const swarm0 = (await swarm.counts()).cpuSeconds;
  const t0 = performance.now();
  await sleep(IDLE_MS);
  const seconds = (performance.now() - t0) / 1000;
  const texts1 = await Promise.all(d.servers.map(scrape));
  const cpu1 = await Promise.all(d.servers.map((s) => cpuSeconds(s.pid)));
  const db1 = await d.databaseCpu();
  const swarm1 = (await swarm.counts()).cpuSeconds;
  const delta = (f: (t: string) => number) => texts1.reduce((a, t, i) => a + f(t) - f(texts0[i]), 0);
  return {
    statementsPerSecond: delta(statements) / seconds,
    emptyClaimsPerSecond: delta((t) => attempts(t, 'empty')) / seconds,
    rssMiB: await Promise.all(d.servers.map(async (s) => (await rssMiB(s.pid)).rss)),
    cores: cpu1.map((c, i) => (c - cpu0[i]) / seconds),
    fds: await Promise.all(d.servers.map((s) => openFds(s.pid))),
    postgresCores: db0 === null || db1 === null ? null : (db1 - db0) / seconds,
    swarmCores: (swarm1 - swarm0) / seconds,
  };
}

/** The server's queue-wait histogram (no labels). */
function queueWaitOf(text: string): Histogram {
  return parseHistogram(text, 'tandem_job_queue_wait_seconds', {});
}

interface JobJson {
  id: number;
  status: string;
  attempt: number;
  retried: boolean;
  queuedAt: string | null;
  startedAt: string | null;
}

async function measureBurst(
  d: Deployment,
  swarm: Swarm,
  repo: string,
  log: (line: string) => void,
): Promise<{ burst: Burst; swarm: SwarmResult }> {
  const [first] = d.servers;
  const texts0 = await Promise.all(d.servers.map(scrape));
  const cpu0 = await Promise.all(d.servers.map((s) => cpuSeconds(s.pid)));
  const db0 = await d.databaseCpu();
  const counts0 = await swarm.counts();
  const t0 = nowMs();
  const pipelines = await Promise.all(
    Array.from({ length: PIPELINES }, () => first.api<{ id: number }>('POST', `/api/v1/repos/${repo}/pipelines`, {})),
  );
  const triggerMs = nowMs() - t0;
  const deadline = Date.now() + BURST_TIMEOUT_MS;
  for (;;) {
    const c = await swarm.counts();
    if (c.completed + c.fencingRejected - counts0.completed - counts0.fencingRejected >= BURST_JOBS) break;
    if (Date.now() > deadline)
      throw new Error(`burst: ${c.completed - counts0.completed} of ${BURST_JOBS} jobs completed after ${BURST_TIMEOUT_MS} ms`);
    await sleep(200);
  }
  const counts1 = await swarm.counts();
  const cpuSeconds1 = await Promise.all(d.servers.map((s) => cpuSeconds(s.pid)));
  const db1 = await d.databaseCpu();
  const finals = await Promise.all(pipelines.map((p) => first.waitForPipeline(p.id, 30_000)));
  const texts1 = await Promise.all(d.servers.map(scrape));
  const views = await Promise.all(pipelines.map((p) => first.api<{ jobs: JobJson[] }>('GET', `/api/v1/pipelines/${p.id}`)));
  const view = { jobs: views.flatMap((v) => v.jobs) };
  const peakRssMiB = await Promise.all(d.servers.map(async (s) => (await rssMiB(s.pid)).peak));
  const result = await swarm.stop();

  const delta = (f: (t: string) => number) => texts1.reduce((a, t, i) => a + f(t) - f(texts0[i]), 0);
  const claimed = delta((t) => attempts(t, 'claimed'));
  const empty = delta((t) => attempts(t, 'empty'));
  const queueWait = d.servers
    .map((_, i) => histogramSince(queueWaitOf(texts1[i]), queueWaitOf(texts0[i])))
    .reduce((a, h) => ({
      count: a.count + h.count,
      sum: a.sum + h.sum,
      buckets: new Map([...h.buckets].map(([le, n]) => [le, n + (a.buckets.get(le) ?? 0)])),
    }));

  const problems: string[] = [];
  const ids = result.jobs.map((j) => j.jobId);
  const distinct = new Set(ids);
  if (ids.length !== distinct.size) problems.push(`${ids.length - distinct.size} jobs handed out more than once`);
  if (distinct.size !== BURST_JOBS) problems.push(`${distinct.size} distinct jobs handed out, not ${BURST_JOBS}`);
  if (result.fencingRejected > 0) problems.push(`${result.fencingRejected} completions refused (409)`);
  if (claimed !== BURST_JOBS) problems.push(`the servers counted ${claimed} claims for ${BURST_JOBS} jobs`);
  const failed = finals.filter((f) => f.status !== 'success');
  if (failed.length > 0) problems.push(`pipelines ended ${failed.map((f) => f.status).join(', ')}`);
  const notOnce = view.jobs.filter((j) => j.status !== 'success' || j.attempt !== 1 || j.retried);
  if (notOnce.length > 0) problems.push(`${notOnce.length} jobs not success at attempt 1`);
  if (view.jobs.length !== BURST_JOBS) problems.push(`the pipelines have ${view.jobs.length} jobs`);
  const completedAt = result.jobs.map((j) => j.completedAt ?? NaN).filter((t) => !Number.isNaN(t));
  const seconds = (Math.max(...completedAt) - t0) / 1000;
  const window = (counts1.cpuSeconds - counts0.cpuSeconds) / seconds;
  log(
    `agents: burst: pipeline triggered in ${fmt(triggerMs, 0)} ms, ${BURST_JOBS} jobs done in ${fmt(seconds, 1)} s` +
      (problems.length > 0 ? `; PROBLEMS: ${problems.join('; ')}` : ''),
  );
  return {
    burst: {
      triggerMs,
      claimMs: result.jobs.map((j) => j.claimedAt - t0),
      // Polls sent once the jobs were queued: the claim an agent makes as it asks, without waiting.
      askMs: result.jobs.filter((j) => j.polledAt > t0 + triggerMs).map((j) => j.claimedAt - j.polledAt),
      completeMs: result.jobs.filter((j) => j.completedAt !== null).map((j) => j.completedAt! - j.claimedAt),
      serverWaitMs: view.jobs.filter((j) => j.queuedAt && j.startedAt).map((j) => Date.parse(j.startedAt!) - Date.parse(j.queuedAt!)),
      queueWait,
      jobsPerSecond: BURST_JOBS / seconds,
      attemptsPerJob: (claimed + empty) / BURST_JOBS,
      statementsPerJob: delta(statements) / BURST_JOBS,
      exactlyOnce: problems.length === 0,
      problems,
      peakRssMiB,
      cores: cpuSeconds1.map((c, i) => (c - cpu0[i]) / seconds),
      postgresCores: db0 === null || db1 === null ? null : (db1 - db0) / seconds,
      swarmCores: window,
    },
    swarm: result,
  };
}

function swarmNotes(shape: Shape, result: SwarmCounts): void {
  const errors = Object.entries(result.errors);
  if (errors.length > 0) shape.notes.push(`agent-side errors: ${errors.map(([k, v]) => `${k} ×${v}`).join(', ')}`);
  if (result.presenceBroken > 0) shape.notes.push(`${result.presenceBroken} presence streams broke`);
}

/** The distinct warnings and errors the replicas logged (JSON lines at --log-level warn) after their start-up, with how often. */
function serverWarnings(servers: LiveServer[], since: number[]): string[] {
  const seen = new Map<string, number>();
  for (const line of servers.flatMap((s, i) => s.live.output().slice(since[i]).split('\n'))) {
    try {
      const entry = JSON.parse(line) as { msg?: string; err?: string };
      if (!entry.msg) continue;
      const key = entry.err ? `${entry.msg}: ${entry.err}` : entry.msg;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    } catch {
      // Not a log line.
    }
  }
  return [...seen].slice(0, 5).map(([msg, n]) => `the replicas logged "${msg.slice(0, 200)}" ×${n}`);
}

/** One database at one fleet size: deploy, connect the fleet, idle window, burst, tear down. */
async function runShape(database: DatabaseName, agents: number, remote: string, log: (line: string) => void): Promise<Shape> {
  const replicas = database === 'SQLite' ? 1 : 2;
  const perReplica = Math.ceil(agents / replicas);
  // Each agent holds two connections (presence and its poll); the bench's own scrapes need a few more.
  const needed = 2 * perReplica + 100;
  const maxConnections = Math.max(DEFAULT_MAX_CONNECTIONS, needed);
  const shape: Shape = { database, agents, replicas, maxConnections, idle: null, burst: null, failure: null, notes: [] };
  const limits = await fileLimits();
  if (needed + 200 > limits.hard) {
    shape.failure = `a replica would hold ${needed} sockets, beyond the hard limit of ${limits.hard} open files`;
    log(`agents: ${database}, ${agents} agents: skipped: ${shape.failure}`);
    return shape;
  }
  if (maxConnections > DEFAULT_MAX_CONNECTIONS)
    shape.notes.push(
      `maxConnections raised to ${maxConnections}: ${agents} agents on ${replicas === 1 ? 'one replica' : 'each replica'} hold ${2 * perReplica} connections, the default cap is ${DEFAULT_MAX_CONNECTIONS}`,
    );
  // A worker holds two sockets per agent it runs: as many workers as the soft limit needs, and at least one per core.
  const workers = Math.max(2, Math.ceil((2 * agents + 200) / (Math.max(limits.soft, limits.hard) - 200)));
  const tmp = await tempDir('agents');
  let d: Deployment | null = null;
  let swarm: Swarm | null = null;
  let logStart: number[] = [];
  try {
    d = await deploy(database, tmp.dir, maxConnections, limits.hard);
    logStart = d.servers.map((s) => s.live.output().length);
    const servers = d.servers;
    const repo = `bench-${agents}`;
    await servers[0].api('POST', '/api/v1/repos', { name: repo, url: remote });
    const per = Math.ceil(agents / workers);
    const tasks: SwarmTask[] = Array.from({ length: workers }, (_, w) => ({
      servers: servers.map((s) => s.url),
      adminToken: servers[0].token,
      first: w * per,
      count: Math.min(per, agents - w * per),
      namePrefix: 'bench-agent',
      registerConcurrency: 8,
    }));
    // The server's start-up duties settle first.
    await sleep(3000);
    const baseline = await measureBaseline(d);
    const started = performance.now();
    swarm = await Swarm.start(tasks, limits.hard);
    await swarm.ready();
    await waitOnline(servers, agents, 30_000);
    log(
      `agents: ${database}, ${agents} agents registered and online in ${fmt((performance.now() - started) / 1000, 1)} s (${workers} worker processes)`,
    );
    // Registration's writes and the polls' first claims settle before the window.
    await sleep(3000);
    shape.idle = { ...(await measureIdle(d, swarm)), baselinePerSecond: baseline };
    const i = shape.idle;
    log(
      `agents: ${database}, ${agents} agents idle: ${fmt(i.statementsPerSecond, 1)} statements/s (${fmt(i.baselinePerSecond, 1)} with none), ${fmt(i.emptyClaimsPerSecond, 1)} empty claims/s, ` +
        `RSS ${i.rssMiB.map((r) => fmt(r, 0)).join(' + ')} MiB, cores ${i.cores.map((c) => fmt(c)).join(' + ')}` +
        `${i.postgresCores === null ? '' : `, PostgreSQL ${fmt(i.postgresCores)}`}, swarm ${fmt(i.swarmCores)}, fds ${i.fds.join(' + ')}`,
    );
    const idleCounts = await swarm.counts();
    const { burst, swarm: result } = await measureBurst(d, swarm, repo, log);
    swarm = null;
    shape.burst = burst;
    const refused = (await Promise.all(servers.map(scrape))).reduce((a, t) => a + sampleSum(t, 'tandem_http_refused_total'), 0);
    if (refused > 0) shape.notes.push(`${refused} connections or streams refused by the servers' load limits`);
    swarmNotes(shape, result);
    if (idleCounts.emptyPolls > 0)
      shape.notes.push(`${idleCounts.emptyPolls} long-polls ran out empty before the burst (expected: one per agent every 25 s)`);
  } catch (err) {
    shape.failure = (err as Error).message;
    log(`agents: ${database}, ${agents} agents FAILED: ${shape.failure}`);
  } finally {
    const left = await swarm?.stop().catch(() => null);
    if (left) swarmNotes(shape, left);
    if (d) shape.notes.push(...serverWarnings(d.servers, logStart));
    await d?.stop().catch((err: unknown) => shape.notes.push(`stopping the servers: ${(err as Error).message.split('\n')[0]}`));
    await tmp.remove();
  }
  return shape;
}

/** The upper bound of the histogram bucket holding the p-th percentile ("≤ 0.1 s"). */
function histogramBound(h: Histogram, p: number): string {
  const rank = (p / 100) * h.count;
  for (const [le, n] of [...h.buckets].sort((a, b) => a[0] - b[0]))
    if (n >= rank) return Number.isFinite(le) ? `≤ ${le * 1000}` : '> 300000';
  return '-';
}

const coresCell = (replicas: number[], postgres: number | null, swarm: number) =>
  [...replicas.map((c) => fmt(c)), ...(postgres === null ? [] : [`PG ${fmt(postgres)}`])].join(' + ') + ` (agents ${fmt(swarm)})`;

const pair = (values: number[]) => (values.length === 0 ? '-' : `${fmt(percentile(values, 50), 0)} / ${fmt(percentile(values, 99), 0)}`);

const mark = (ok: boolean) => (ok ? 'yes' : '**no**');

export async function agents(log: (line: string) => void): Promise<BenchResult> {
  if (DATABASES.includes('PostgreSQL') && !postgresAvailable())
    throw new Error(`agents: PostgreSQL 15 is not installed (${PG_BIN}/postgres): run scripts/services.sh install`);
  const shapes: Shape[] = [];
  const tmp = await tempDir('agents-repo');
  try {
    const git = await makeRemote(tmp.dir);
    await git.commit({ '.gitlab-ci.yml': PIPELINE_FILE }, 'burst');
    await git.push('main');
    for (const database of DATABASES) for (const n of SIZES) shapes.push(await runShape(database, n, git.bare, log));
  } finally {
    await tmp.remove();
  }
  const limits = await fileLimits();
  const commit = await measuredCommit().catch(() => 'unknown');

  const rows = shapes.map((s) => {
    const i = s.idle;
    if (!i)
      return [s.database, String(s.agents), String(s.replicas), `not measured: ${s.failure ?? 'unknown'}`, ...Array<string>(6).fill('-')];
    const rssTotal = i.rssMiB.reduce((a, b) => a + b, 0);
    const perThousand = rssTotal / (s.agents / 1000);
    return [
      s.database,
      s.agents.toLocaleString('en'),
      String(s.replicas),
      fmt(i.statementsPerSecond, 1),
      fmt(i.baselinePerSecond, 1),
      fmt(i.emptyClaimsPerSecond, 1),
      i.rssMiB.map((r) => fmt(r, 0)).join(' + '),
      fmt(perThousand, 0),
      coresCell(i.cores, i.postgresCores, i.swarmCores),
      i.fds.join(' + '),
    ];
  });
  const burstRows = shapes.map((s) => {
    const b = s.burst;
    if (!b) return [s.database, String(s.agents), `not measured: ${s.failure ?? 'unknown'}`, ...Array<string>(10).fill('-')];
    return [
      s.database,
      s.agents.toLocaleString('en'),
      fmt(b.triggerMs, 0),
      `${fmt(percentile(b.claimMs, 50), 0)} / ${fmt(percentile(b.claimMs, 99), 0)}`,
      `${fmt(percentile(b.serverWaitMs, 50), 0)} / ${fmt(percentile(b.serverWaitMs, 99), 0)}`,
      `${histogramBound(b.queueWait, 50)} / ${histogramBound(b.queueWait, 99)}`,
      fmt(b.jobsPerSecond, 0),
      pair(b.askMs),
      pair(b.completeMs),
      fmt(b.attemptsPerJob, 2),
      fmt(b.statementsPerJob, 1),
      coresCell(b.cores, b.postgresCores, b.swarmCores),
      b.exactlyOnce ? 'yes' : `**no**: ${b.problems.join('; ')}`,
    ];
  });
  const targets = shapes
    .filter((s) => s.idle && s.burst)
    .map((s) => {
      const i = s.idle!;
      const b = s.burst!;
      const rssTotal = i.rssMiB.reduce((a, x) => a + x, 0);
      return [
        s.database,
        s.agents.toLocaleString('en'),
        s.agents >= 5000 ? mark(i.statementsPerSecond <= 50) : '(at 5,000)',
        s.agents >= 1000 ? mark(rssTotal / (s.agents / 1000) <= 150) : '(baseline dominates)',
        mark(percentile(b.claimMs, 99) <= 200),
        mark(b.attemptsPerJob <= 1.2),
      ];
    });
  const shapeNotes = shapes.flatMap((s) => s.notes.map((n) => `${s.database}, ${s.agents.toLocaleString('en')} agents: ${n}.`));
  return {
    id: 'agents',
    title: `Agents at scale: ${SIZES.map((n) => n.toLocaleString('en')).join(', ')} waiting agents, then a burst of ${BURST_JOBS.toLocaleString('en')} jobs`,
    header: [
      'database',
      'agents',
      'replicas',
      'idle statements/s (all replicas)',
      'with no agents',
      'empty claims/s',
      'RSS MiB per replica',
      'RSS MiB per 1,000 agents',
      'cores per replica',
      'open fds per replica',
    ],
    rows,
    notes: [
      `Commit measured: ${commit}. Each shape: ${'`tandem server`'} on SQLite (one replica), or two replicas sharing one PostgreSQL 15 database (loopback, fsync off) with the agents spread evenly over them. ` +
        'The agents are simulated in worker processes (bench/agent-swarm.ts, node:http, each agent on a loopback address of its own): each registers, announces itself, holds its presence stream open and long-polls (`waitMs` 25 s) as `tandem agent` does; a job it gets is completed at once with its fencing token. ' +
        `Idle: once every agent shows online, a window of ${IDLE_MS / 1000} s (${IDLE_MS >= 25_000 ? 'at least one long-poll period, so every agent renews its poll in it' : 'shorter than a long-poll period: renewals may fall outside it'}) gives the statements the replicas ran (\`tandem_db_query_duration_seconds_count\`, two /metrics scrapes included; "with no agents": the same replicas over ${BASELINE_MS / 1000} s before the first agent registered), the claims that found nothing, each replica's CPU seconds per second and its RSS (VmRSS) at the window's end; "agents" is the swarm's own CPU. ` +
        `Open files: the limit is ${limits.soft} soft / ${limits.hard} hard here; the bench raises each process's soft limit to the hard one (prlimit) and uses as many swarm processes as the sockets need (at least two).`,
      `Burst: ${PIPELINES === 1 ? 'one pipeline' : `${PIPELINES} pipelines, triggered at once,`} of ${JOBS_PER_PIPELINE.toLocaleString('en')} trivial jobs in one stage (jobs of \`parallel: 200\` at most) triggered with \`POST /api/v1/repos/:name/pipelines\` on the first replica. ` +
        '"claim ms" runs from sending the trigger to each claim\'s response at the agent (so it includes the trigger\'s own time, and, with fewer agents than jobs, the wait behind earlier jobs); "queued→claimed" is each job\'s startedAt − queuedAt as the server recorded it; the histogram column is the bucket of `tandem_job_queue_wait_seconds` holding p50 / p99. ' +
        'jobs/s: the 2,000 jobs over the time from the trigger to the last completion. Claim attempts per job: (claimed + empty) of `tandem_job_claim_attempts_total` over all replicas during the burst, ÷ 2,000 (the idle agents\' renewed polls count too). "once": every job handed to exactly one agent, completed once, no 409, the server counted 2,000 claims, the pipeline succeeded with every job at attempt 1.',
      ...shapeNotes,
    ],
    tables: [
      {
        caption: `Burst of ${BURST_JOBS.toLocaleString('en')} jobs to the waiting agents:`,
        header: [
          'database',
          'agents',
          'trigger ms',
          'claim ms p50 / p99 (from trigger)',
          'queued→claimed ms p50 / p99',
          'queue-wait histogram ms p50 / p99',
          'jobs/s',
          'request with jobs queued ms p50 / p99',
          'complete ms p50 / p99',
          'claim attempts/job',
          'statements/job',
          'cores per replica',
          'once',
        ],
        rows: burstRows,
      },
      {
        caption:
          'Against the targets (idle ≤ 50 statements/s with 5,000 agents in total, RSS ≤ 150 MB per 1,000 agents, burst claim p99 ≤ 200 ms, ≤ 1.2 claim attempts per job):',
        header: ['database', 'agents', 'idle ≤ 50/s', 'RSS ≤ 150 MB/1,000', 'claim p99 ≤ 200 ms', '≤ 1.2 attempts/job'],
        rows: targets,
      },
    ],
  };
}
