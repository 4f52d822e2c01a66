// Claims: jobs claimed per second by 2 and 8 busy agents, through a real `tandem server` on SQLite
// and on PostgreSQL 15. The queue is filled straight into the server's database with the scheduler's
// createPipeline (as a webhook's pipeline would be stored) and topped up to the same depth before
// every run; the agents (bench/claimers.ts, in their own process) claim with the agent's HTTP request
// and complete each job at once with its fencing token. Runs alternate 2 and 8 agents so that drift
// on a shared machine hits both alike. PostgreSQL's statistics are brought up to date before each run
// (its claim query's plan depends on them); the scheduler's claimJob alone is timed before and after.
import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { compilePipeline } from '../src/pipeline/index.js';
import type { CompiledPipeline } from '../src/pipeline/types.js';
import { claimJob, completeJob, createPipeline } from '../src/scheduler/index.js';
import { openStore, type JobStatus, type Store } from '../src/store/index.js';
import { makeRemote } from '../test/support/git.js';
import { postgresAvailable, startPostgres, PG_BIN } from '../test/support/postgres.js';
import type { ClaimersMessage, ClaimersResult, ClaimersTask } from './claimers.js';
import {
  cpuSeconds,
  familyCpuSeconds,
  fmt,
  LiveServer,
  machineBusySeconds,
  median,
  percentile,
  tempDir,
  timed,
  type BenchResult,
} from './common.js';

const AGENT_COUNTS = [2, 8];
const RUNS = 3;
const WARMUP_MS = 500;
const WINDOW_MS = 3000;
/** Jobs waiting (pending, or created behind an earlier stage) when a run starts: more than any run takes. */
const QUEUE = 8000;
const CLAIMERS = fileURLToPath(new URL('./claimers.js', import.meta.url));

// Ten trivial jobs in two stages: completing the last build releases the tests, as in real pipelines.
const PIPELINE_FILE = `stages: [build, test]
build:
  stage: build
  parallel: 5
  script: [make]
test:
  stage: test
  parallel: 5
  script: [make test]
`;

interface Database {
  name: 'SQLite' | 'PostgreSQL';
  server: LiveServer;
  store: Store;
  /** CPU seconds of the database's own processes; null when it runs inside the server (SQLite). */
  cpu: () => Promise<number | null>;
  /** Brings the planner's statistics up to date, where the database keeps them (PostgreSQL). */
  analyze: (() => Promise<void>) | null;
}

interface Run {
  perSecond: number;
  claimP50: number;
  claimP99: number;
  completeP50: number;
  /** Cores busy during the window (CPU seconds / window seconds): the server, PostgreSQL, the agents, everything else on the machine. */
  cores: { server: number; database: number | null; agents: number; rest: number };
}

/** What one database's server measured. */
interface Measured {
  runs: Map<number, Run[]>;
  /** Median ms of the scheduler's claimJob called directly, one caller, before and after ANALYZE. */
  claimJobMs: { queued: number; analyzed: number | null };
}

async function countJobs(store: Store, statuses: JobStatus[]): Promise<number> {
  const row = await store.db
    .selectFrom('jobs')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('status', 'in', statuses)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Adds pipelines until QUEUE jobs wait; returns how many were added. */
async function topUp(store: Store, repoId: number, sha: string, compiled: CompiledPipeline): Promise<number> {
  const missing = QUEUE - (await countJobs(store, ['pending', 'created']));
  const pipelines = Math.max(0, Math.ceil(missing / compiled.jobs.length));
  for (let i = 0; i < pipelines; i++) {
    await createPipeline(store, {
      repoId,
      ref: 'main',
      isTag: false,
      sha,
      beforeSha: null,
      source: 'push',
      compiled,
      defaultTimeoutSeconds: 3600,
      now: Date.now(),
    });
  }
  return pipelines;
}

/** The scheduler's own claim transaction, without HTTP or contention: median ms of 20, each job completed after. */
async function claimJobMs(store: Store, agentId: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 20; i++) {
    const claim = await timed(() => claimJob(store, { agentId, agentTags: [], leaseMs: 60_000, now: Date.now() }));
    if (!claim.value) throw new Error('claims: claimJob found the queue empty');
    samples.push(claim.ms);
    await completeJob(store, {
      jobId: claim.value.job.id,
      agentId,
      fencingToken: claim.value.fencingToken,
      status: 'success',
      exitCode: 0,
      failureReason: null,
      now: Date.now(),
    });
  }
  return median(samples);
}

/** One run: the claimers process for `agents` agents, with the CPU of every party over its window. */
async function claimRun(db: Database, agents: number, namePrefix: string): Promise<Run> {
  const child = fork(CLAIMERS, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const hang = setTimeout(() => child.kill('SIGKILL'), WARMUP_MS + WINDOW_MS + 60_000);
  const samples: { server: number; database: number | null; machine: number }[] = [];
  let sampling = Promise.resolve();
  try {
    const result = await new Promise<ClaimersResult>((resolve, reject) => {
      child.on('message', (m: ClaimersMessage) => {
        if (m.type === 'result') resolve(m.result);
        // The window's edges, as the claimers saw them; sampled in order.
        else
          sampling = sampling.then(
            async () =>
              void samples.push({ server: await cpuSeconds(db.server.pid), database: await db.cpu(), machine: await machineBusySeconds() }),
          );
      });
      void exited.then((code) => reject(new Error(`the claimers exited (${code}) before reporting`)));
      child.send({
        url: db.server.url,
        adminToken: db.server.token,
        agents,
        namePrefix,
        warmupMs: WARMUP_MS,
        windowMs: WINDOW_MS,
      } satisfies ClaimersTask);
    });
    await sampling;
    if (result.empty > 0) throw new Error(`${db.name}: the queue ran dry during a run with ${agents} agents; raise QUEUE (${QUEUE})`);
    if (samples.length !== 2)
      throw new Error(`${db.name}: expected the window's start and end from the claimers, got ${samples.length} marks`);
    // Every claim was completed with its token: nothing may be left running.
    const running = await countJobs(db.store, ['running']);
    if (running !== 0) throw new Error(`${db.name}: ${running} jobs still running after a run with ${agents} agents`);
    const seconds = WINDOW_MS / 1000;
    const [start, end] = samples;
    const server = (end.server - start.server) / seconds;
    const database = end.database === null || start.database === null ? null : (end.database - start.database) / seconds;
    const agentsCores = result.cpuSeconds / seconds;
    return {
      perSecond: result.claims / seconds,
      claimP50: median(result.claimMs),
      claimP99: percentile(result.claimMs, 99),
      completeP50: median(result.completeMs),
      cores: {
        server,
        database,
        agents: agentsCores,
        rest: Math.max(0, (end.machine - start.machine) / seconds - server - (database ?? 0) - agentsCores),
      },
    };
  } finally {
    clearTimeout(hang);
    await exited;
  }
}

/** A `tandem server` on the given database with a repository to hang pipelines on; measures it. */
async function onServer(
  name: Database['name'],
  dataDir: string,
  databaseUrl: string,
  database: { args: string[]; cpu: Database['cpu'] },
  remote: { bare: string; sha: string },
  compiled: CompiledPipeline,
  log: (line: string) => void,
): Promise<Measured> {
  const server = await LiveServer.start('server', dataDir, database.args);
  try {
    const repo = await server.api<{ id: number }>('POST', '/api/v1/repos', { name: 'bench', url: remote.bare });
    // A second connection to the server's database, as another replica (or WAL-mode SQLite) allows.
    const store = await openStore(databaseUrl);
    try {
      const analyze = store.dialect === 'postgres' ? async () => void (await sql`analyze jobs`.execute(store.db)) : null;
      const db: Database = { name, server, store, cpu: database.cpu, analyze };
      const filled = await timed(() => topUp(store, repo.id, remote.sha, compiled));
      log(`claims: ${name}, ${QUEUE} jobs queued in ${fmt(filled.ms / 1000, 1)} s`);
      // Straight after a burst the planner's statistics do not know the queue yet (autovacuum's ANALYZE comes later).
      const probe = await server.api<{ agentId: number }>('POST', '/api/v1/agents', { name: 'probe' });
      const queued = await claimJobMs(store, probe.agentId);
      await analyze?.();
      const claimJob = { queued, analyzed: analyze ? await claimJobMs(store, probe.agentId) : null };
      log(
        `claims: ${name}, claimJob alone ${fmt(queued, 2)} ms${claimJob.analyzed === null ? '' : `, ${fmt(claimJob.analyzed, 2)} ms after ANALYZE`}`,
      );

      const runs = new Map<number, Run[]>(AGENT_COUNTS.map((n) => [n, []]));
      for (let r = 1; r <= RUNS; r++) {
        for (const agents of AGENT_COUNTS) {
          await topUp(store, repo.id, remote.sha, compiled);
          await db.analyze?.();
          const run = await claimRun(db, agents, `bench-${r}-${agents}`);
          runs.get(agents)!.push(run);
          const c = run.cores;
          log(
            `claims: ${name}, ${agents} agents, run ${r}/${RUNS}: ${fmt(run.perSecond, 0)} jobs/s; cores: server ${fmt(c.server)}, ` +
              `database ${c.database === null ? 'in server' : fmt(c.database)}, agents ${fmt(c.agents)}, rest of machine ${fmt(c.rest)}`,
          );
        }
      }
      return { runs, claimJobMs: claimJob };
    } finally {
      await store.close();
    }
  } finally {
    await server.stop();
  }
}

export async function claims(log: (line: string) => void): Promise<BenchResult> {
  if (!postgresAvailable()) throw new Error(`claims: PostgreSQL 15 is not installed (${PG_BIN}/postgres): run scripts/services.sh install`);
  const compiledResult = await compilePipeline('.gitlab-ci.yml', PIPELINE_FILE, {
    readFile: async () => null,
    variables: {},
    changedFiles: async () => null,
  });
  if (!compiledResult.ok) throw new Error('claims: the bench pipeline does not compile');
  const compiled = compiledResult.pipeline;
  const tmp = await tempDir('claims');
  const results = new Map<Database['name'], Measured>();
  try {
    const git = await makeRemote(tmp.dir);
    const remote = { bare: git.bare, sha: await git.commit({ '.gitlab-ci.yml': PIPELINE_FILE }, 'initial') };
    await git.push('main');

    const sqliteDir = path.join(tmp.dir, 'sqlite');
    results.set(
      'SQLite',
      await onServer('SQLite', sqliteDir, path.join(sqliteDir, 'tandem.db'), { args: [], cpu: async () => null }, remote, compiled, log),
    );

    const postgres = await startPostgres();
    try {
      const url = await postgres.createDatabase();
      const postmaster = postgres.pid();
      if (postmaster === null) throw new Error('claims: PostgreSQL started but has no postmaster PID');
      const pgDatabase = { args: ['--database-url', url], cpu: () => familyCpuSeconds(postmaster) };
      results.set('PostgreSQL', await onServer('PostgreSQL', path.join(tmp.dir, 'postgres'), url, pgDatabase, remote, compiled, log));
    } finally {
      await postgres.stop();
    }
  } finally {
    await tmp.remove();
  }

  const medianRun = (db: Database['name'], agents: number): Run => {
    const runs = [...results.get(db)!.runs.get(agents)!].sort((a, b) => a.perSecond - b.perSecond);
    return runs[Math.floor(runs.length / 2)];
  };
  const [few, many] = [AGENT_COUNTS[0], AGENT_COUNTS[AGENT_COUNTS.length - 1]];
  const rows = [...results.keys()].flatMap((db) =>
    AGENT_COUNTS.map((agents) => {
      const run = medianRun(db, agents);
      const c = run.cores;
      return [
        db,
        String(agents),
        fmt(run.perSecond, 0),
        fmt(run.perSecond / medianRun('SQLite', agents).perSecond),
        fmt(run.perSecond / medianRun(db, few).perSecond),
        `${fmt(run.claimP50, 1)} / ${fmt(run.claimP99, 1)}`,
        fmt(run.completeP50, 1),
        [c.server, c.database, c.agents, c.rest].map((v) => (v === null ? '-' : fmt(v, 1))).join(' / '),
      ];
    }),
  );
  const all = [...results.entries()].map(
    ([db, m]) =>
      `${db}: ${AGENT_COUNTS.map(
        (n) =>
          `${n} agents ${m.runs
            .get(n)!
            .map((r) => fmt(r.perSecond, 0))
            .join(' / ')}`,
      ).join('; ')}`,
  );
  const pgRatio = (n: number) => fmt(medianRun('PostgreSQL', n).perSecond / medianRun('SQLite', n).perSecond);
  const sqliteProbe = results.get('SQLite')!.claimJobMs;
  const pgProbe = results.get('PostgreSQL')!.claimJobMs;
  return {
    id: 'claims',
    title: `Claims: jobs claimed per second by ${AGENT_COUNTS.join(' and ')} busy agents, SQLite and PostgreSQL`,
    header: [
      'database',
      'agents',
      'jobs/s (median of 3)',
      '× SQLite',
      `× ${few} agents`,
      'claim ms p50 / p99',
      'complete ms p50',
      'cores: server / PostgreSQL / agents / rest',
    ],
    rows,
    notes: [
      `Each run: a \`tandem server\` with ${QUEUE} trivial jobs waiting (pipelines of ${compiled.jobs.length} jobs in two stages, stored with the scheduler's createPipeline), ` +
        `then N agents in one separate process, each looping as a busy agent does: the agent's job request (\`POST /api/v1/agent/jobs/request\`), then its completion with the fencing token at once. ` +
        `Jobs claimed in a ${WINDOW_MS / 1000} s window after ${WARMUP_MS} ms of warm-up; runs alternate the agent counts; after each run no job may be left running. ` +
        "PostgreSQL 15 runs on loopback with fsync and synchronous_commit off (as in the test suites), its statistics brought up to date (ANALYZE) after each top-up; SQLite is the server's own file (WAL, synchronous NORMAL). " +
        '"cores" is CPU time over the window divided by its length: the server, PostgreSQL\'s postmaster and backends, the agents\' process, and the rest of the machine (other users of this shared machine included).',
      `PostgreSQL vs SQLite: ${pgRatio(few)}× at ${few} agents, ${pgRatio(many)}× at ${many} agents. All runs (jobs/s): ${all.join('; ')}.`,
      `The scheduler's claimJob called directly (one caller, no HTTP), median of 20: SQLite ${fmt(sqliteProbe.queued, 2)} ms; PostgreSQL ${fmt(pgProbe.queued, 2)} ms right after the ${QUEUE} jobs were queued, ` +
        `${fmt(pgProbe.analyzed ?? NaN, 2)} ms once ANALYZE has run.`,
    ],
  };
}
