// Auth: what authentication and authorization cost. (1) The lookups of one request, timed in
// process on SQLite and PostgreSQL: a personal token, a session, and a token plus the caller's role
// in the route's repository (what a member's request costs). (2) API requests per second through a
// real server pinned to one core (taskset), the same routes with Tandem's access control and
// without any: a read, and a change (which also writes its audit record). (3) Sign-ins per second
// with the argon2id parameters, on that one core.
import { fork, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { hash } from '@node-rs/argon2';
import { ARGON2_PARAMS } from '../src/auth/passwords.js';
import { decide } from '../src/auth/permissions.js';
import { callerOf, principalOfSession, principalOfToken } from '../src/auth/principal.js';
import { repoStanding } from '../src/auth/repo-access.js';
import { createSession } from '../src/auth/sessions.js';
import { createPersonalToken } from '../src/auth/tokens.js';
import { createUser } from '../src/auth/users.js';
import { openStore, type Store } from '../src/store/index.js';
import { postgresAvailable, startPostgres } from '../test/support/postgres.js';
import type { AuthServerReady } from './auth-server.js';
import { cpuSeconds, fmt, median, percentile, tempDir, type BenchResult } from './common.js';

const LOOKUPS = 5000;
const BATCHES = 5;
const CONCURRENCY = 16;
const WARMUP_MS = 1000;
const WINDOW_MS = 4000;
const RUNS = 3;
const SERVER = fileURLToPath(new URL('./auth-server.js', import.meta.url));
const SESSION_LIMITS = { maxAgeMs: 86_400_000, idleMs: 86_400_000 };

/** Microseconds per call of `fn`: the median of several batches (the first warms up). */
async function perCall(fn: () => Promise<unknown>): Promise<number> {
  const batches: number[] = [];
  for (let b = 0; b <= BATCHES; b++) {
    const started = performance.now();
    for (let i = 0; i < LOOKUPS; i++) await fn();
    if (b > 0) batches.push(((performance.now() - started) * 1000) / LOOKUPS);
  }
  return median(batches);
}

async function lookups(name: string, store: Store): Promise<string[]> {
  const now = Date.now();
  const user = await createUser(store.db, { username: 'dev', now, passwordMinLength: 12 });
  const repo = await store.db
    .insertInto('repos')
    .values({
      name: 'bench',
      url: '/x',
      default_branch: 'main',
      poll_interval_seconds: 0,
      webhook_secret: null,
      branch_filter: null,
      tag_filter: null,
      known_refs: '{}',
      last_polled_at: null,
      created_at: now,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  await store.db
    .insertInto('memberships')
    .values({ repo_id: repo.id, user_id: user.id, role: 'developer', source: 'manual', created_at: now, updated_at: now })
    .execute();
  const { token } = await createPersonalToken(store.db, { userId: user.id, name: 'bench', scopes: ['api'], expiresAt: null, now });
  const session = await createSession(store.db, { userId: user.id, address: null, userAgent: null, now, limits: SESSION_LIMITS });
  const tokenUs = await perCall(() => principalOfToken(store.db, token, Date.now()));
  const sessionUs = await perCall(() => principalOfSession(store.db, session.token, Date.now(), SESSION_LIMITS));
  const memberUs = await perCall(async () => {
    const principal = await principalOfToken(store.db, token, Date.now());
    const standing = await repoStanding(store.db, { by: 'name', param: 'name' }, { name: 'bench' }, user.id);
    if (!decide('pipeline.create', 'POST', callerOf(principal), standing).allowed) throw new Error('the benchmark user should be allowed');
  });
  return [name, fmt(tokenUs, 0), fmt(sessionUs, 0), fmt(memberUs, 0)];
}

interface Load {
  perSecond: number;
  p50: number;
  p99: number;
  /** CPU time the server process spent per request in the window: steadier than rates on a shared machine. */
  cpuUs: number;
}

/** Requests per second (latency in ms, server CPU per request) of `concurrency` keep-alive clients over the window. */
async function load(
  base: string,
  opts: { method: string; path: string; headers?: Record<string, string>; body?: string; concurrency: number; expect: number; pid: number },
): Promise<Load> {
  const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const target = new URL(opts.path, base);
  const t0 = performance.now();
  const windowStart = t0 + WARMUP_MS;
  const windowEnd = windowStart + WINDOW_MS;
  const latencies: number[] = [];
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const req = request(
        target,
        {
          method: opts.method,
          agent,
          headers: {
            ...opts.headers,
            ...(opts.body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(opts.body) } : {}),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () =>
            res.statusCode === opts.expect ? resolve() : reject(new Error(`${opts.method} ${opts.path}: HTTP ${res.statusCode}`)),
          );
        },
      );
      req.on('error', reject);
      req.end(opts.body);
    });
  const cpu: number[] = [];
  const sample = (at: number) =>
    new Promise<void>((resolve) =>
      setTimeout(() => {
        void cpuSeconds(opts.pid).then((c) => {
          cpu.push(c);
          resolve();
        });
      }, at - performance.now()),
    );
  const samples = Promise.all([sample(windowStart), sample(windowEnd)]);
  await Promise.all(
    Array.from({ length: opts.concurrency }, async () => {
      while (performance.now() < windowEnd) {
        const started = performance.now();
        await one();
        if (started >= windowStart && started < windowEnd) latencies.push(performance.now() - started);
      }
    }),
  );
  agent.destroy();
  await samples;
  return {
    perSecond: latencies.length / (WINDOW_MS / 1000),
    p50: median(latencies),
    p99: percentile(latencies, 99),
    cpuUs: ((cpu[1] - cpu[0]) * 1e6) / latencies.length,
  };
}

async function startServer(): Promise<{ child: ChildProcess; ready: AuthServerReady }> {
  // Pinned to core 0 with everything it runs (argon2's worker threads too); the clients run here, elsewhere.
  const child = fork(SERVER, [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execPath: 'taskset',
    execArgv: ['-c', '0', process.execPath],
  });
  const ready = await new Promise<AuthServerReady>((resolve, reject) => {
    child.once('message', (m) => resolve(m as AuthServerReady));
    child.once('exit', (code) => reject(new Error(`the auth bench server exited with ${code}`)));
  });
  return { child, ready };
}

export async function auth(log: (line: string) => void): Promise<BenchResult> {
  const rows: string[][] = [];
  const notes: string[] = [];

  // (1) Lookups per request.
  const sqlite = await tempDir('auth-lookups');
  const store = await openStore(`${sqlite.dir}/tandem.db`);
  const lookupRows = [await lookups('SQLite', store)];
  await store.close();
  await sqlite.remove();
  if (postgresAvailable()) {
    const pg = await startPostgres();
    const pgStore = await openStore(await pg.createDatabase());
    lookupRows.push(await lookups('PostgreSQL', pgStore));
    await pgStore.close();
    await pg.stop();
  } else {
    notes.push('PostgreSQL 15 is not installed here: its lookups were not measured.');
  }
  for (const r of lookupRows) log(`lookups on ${r[0]}: token ${r[1]} µs, session ${r[2]} µs, token + repository role ${r[3]} µs`);

  // (2) and (3): a server on one core.
  const { child, ready } = await startServer();
  const pid = child.pid!;
  try {
    const asDev = { authorization: `Bearer ${ready.token}` };
    const cases = [
      { what: 'read (GET /api/v1/repos/bench)', method: 'GET', path: '/api/v1/repos/bench', expect: 200 },
      {
        what: 'change (POST a variable)',
        method: 'POST',
        path: '/api/v1/repos/bench/variables',
        body: JSON.stringify({ key: 'BENCH', value: 'v' }),
        expect: 201,
      },
    ];
    const apiRows: string[][] = [];
    for (const c of cases) {
      const on: Load[] = [];
      const off: Load[] = [];
      // Alternating, so drift on a shared machine hits both alike.
      for (let run = 0; run < RUNS; run++) {
        on.push(await load(ready.withAuth, { ...c, headers: asDev, concurrency: CONCURRENCY, pid }));
        off.push(await load(ready.withoutAuth, { ...c, concurrency: CONCURRENCY, pid }));
        log(
          `${c.what} run ${run + 1}: ${fmt(on[run].perSecond, 0)}/s (${fmt(on[run].cpuUs, 0)} µs CPU each) with auth, ${fmt(off[run].perSecond, 0)}/s (${fmt(off[run].cpuUs, 0)} µs) without`,
        );
      }
      const m = (runs: Load[], key: keyof Load) => median(runs.map((l) => l[key]));
      apiRows.push([
        `API ${c.what}, 1 core`,
        `${fmt(m(on, 'perSecond'), 0)}/s, ${fmt(m(on, 'cpuUs'), 0)} µs of CPU each, p50 ${fmt(m(on, 'p50'), 1)} ms`,
        `${fmt(m(off, 'perSecond'), 0)}/s, ${fmt(m(off, 'cpuUs'), 0)} µs, p50 ${fmt(m(off, 'p50'), 1)} ms`,
        `auth adds ${fmt(m(on, 'cpuUs') - m(off, 'cpuUs'), 0)} µs of CPU per request`,
      ]);
    }

    const hashMs: number[] = [];
    for (let i = 0; i < 10; i++) {
      const started = performance.now();
      await hash('benchmark passphrase', ARGON2_PARAMS);
      hashMs.push(performance.now() - started);
    }
    const signIn = {
      method: 'POST',
      path: '/api/v1/session',
      body: JSON.stringify({ username: ready.username, password: ready.password }),
      expect: 201,
    };
    const single = await load(ready.withAuth, { ...signIn, concurrency: 1, pid });
    const parallel = await load(ready.withAuth, { ...signIn, concurrency: 4, pid });
    log(
      `sign-ins: ${fmt(single.perSecond, 1)}/s one at a time, ${fmt(parallel.perSecond, 1)}/s four at a time; a hash alone ${fmt(median(hashMs), 1)} ms here`,
    );

    for (const r of lookupRows) {
      rows.push(
        [`Token lookup per request, ${r[0]}`, `${r[1]} µs`],
        [`Session lookup per request, ${r[0]}`, `${r[2]} µs`],
        [`Token + role in the repository, ${r[0]}`, `${r[3]} µs`],
      );
    }
    for (const r of apiRows) rows.push([r[0], `with auth ${r[1]}; without ${r[2]}; ${r[3]}`]);
    rows.push([
      `Sign-ins, 1 core (argon2id ${(ARGON2_PARAMS.memoryCost ?? 0) / 1024} MiB, ${ARGON2_PARAMS.timeCost} passes)`,
      `${fmt(single.perSecond, 1)}/s one at a time (p50 ${fmt(single.p50, 0)} ms); ${fmt(parallel.perSecond, 1)}/s four at a time (p50 ${fmt(parallel.p50, 0)} ms)`,
    ]);
    rows.push(['One argon2id hash, in this process', `${fmt(median(hashMs), 1)} ms (median of 10)`]);
    notes.push(
      "Lookups are timed in process against the database (median of 5 batches of 5000): a personal token is one indexed read of tokens joined with users (its last use is written at most once a minute); a session likewise; a member's request adds one read of the repository and the membership. Nothing is cached between requests, so a revocation holds on every replica at the next request.",
      `API figures: one \`tandem server\` on SQLite pinned to one core (taskset -c 0), ${CONCURRENCY} keep-alive clients in another process, ${WARMUP_MS / 1000} s warm-up and ${WINDOW_MS / 1000} s windows, median of ${RUNS} alternating runs. "Without" serves the same routes, in the same process, with no access control at all (no lookup, no audit record). The server's CPU time per request is the steadier figure on a shared machine; rates move with whatever else runs. With auth, a read makes two more reads of the database (the token with its user; the repository with the caller's role), and a change also inserts its audit record (a write, the larger part of its cost).`,
      "Sign-ins are argon2id by design: each costs one hash of about 50 ms of a core, so one core signs in about 20 people a second; the hash runs on libuv's worker threads, so it does not block other requests, and the failed-login limits keep guessing far below that rate.",
    );
    return { id: 'auth', title: 'Auth: cost of authentication and authorization', header: ['Measure', 'Result'], rows, notes };
  } finally {
    child.disconnect();
    await new Promise((r) => child.once('exit', r));
  }
}
