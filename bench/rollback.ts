// Rollback: a release failing its health check → the previous release serving again, measured on
// runDeployment, the library the agent runs after a deploy job's script (no server or agent around
// it), on a local target and on three ssh hosts (real sshd on loopback). The release is the demo
// service (examples/deploy/service), restarted by its service command. A good v1 goes live; then, over
// and over, a v2 whose /health answers 500 is deployed with one http check per host (interval 1 s,
// failures 1) and rolled back automatically. Per deploy: detection (switchedAtMs → detectedAtMs),
// restore (detectedAtMs → restoredAtMs) and, independently, an outside observer polling GET /version
// of every host on a fresh connection every POLL_MS: detection → v1's first answer on the last host.
// The peer is the same deploy's way in: runDeployment's start → the bad release serving.
//
// Listing: a real `tandem server` on SQLite and on PostgreSQL 15; one environment holding 10,000
// releases (inserted straight into the database, as a long history leaves them) and, in another
// repository, a peer environment holding 100. The releases list (default page: 100 newest) and the
// environments list are timed client-side on loopback and by the server's own request histogram.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CompiledQuery, sql, type Insertable } from 'kysely';
import type { ManifestEntry } from '../src/artifacts/index.js';
import { parseDeploySpec, runDeployment, type DeploySpec, type ReleaseInput } from '../src/deploy/index.js';
import { releaseDigest } from '../src/releases/index.js';
import { openStore, type Store } from '../src/store/index.js';
import type { ReleaseTable } from '../src/store/schema.js';
import { get, recorder } from '../test/deploy/deploy-fixtures.js';
import { release } from '../test/deploy/targets-fixtures.js';
import { DEMO_SERVICE_COMMANDS, stopDeployedDemoServices, writeDeployableDemoRelease } from '../test/support/demo-service.js';
import { makeRemote } from '../test/support/git.js';
import { podmanSkip, removeContainersNamed } from '../test/support/podman.js';
import { PG_BIN, postgresAvailable, startPostgres } from '../test/support/postgres.js';
import { freePort } from '../test/support/ports.js';
import { pushBusybox, registrySkip, startRegistry } from '../test/support/registry.js';
import { SSHD, sshdAvailable, startSshd, type SshdHosts } from '../test/support/sshd.js';
import { fmt, histogramSince, LiveServer, median, percentile, sleep, tempDir, timed, type BenchResult, type Histogram } from './common.js';

const run = promisify(execFile);
const FAILED_DEPLOYS = 20;
const SSH_HOSTS = 3;
const INTERVAL_MS = 1000;
const POLL_MS = 10;
/** The issue's targets: restore p50 ≤ 1 s; detection within one health interval plus 1 s. */
const RESTORE_TARGET_MS = 1000;
const DETECTION_TARGET_MS = INTERVAL_MS + 1000;

const HISTORY = 10_000;
const PEER_HISTORY = 100;
const REQUESTS = 200;
/** Requests of each kind alternate in blocks, so that drift on a shared machine hits every kind alike. */
const BLOCKS = 4;
const WARMUP = 10;
const LISTING_TARGET_MS = 50;
const HTTP_DURATION = 'tandem_http_request_duration_seconds';

// ---- Rollback ----

interface Fleet {
  name: string;
  /** Deploy dirs, one per host, whose demo services are stopped at the end. */
  dirs: string[];
  /** The service's URL on each host (GET /version answers the version). */
  urls: string[];
  spec: DeploySpec;
  /** v1, live first; and v2, which fails its checks, as release `id`. */
  good: ReleaseInput;
  bad(id: number): ReleaseInput;
  /** How v2's failure reads. */
  failure: RegExp;
}

/** What one failed deploy took, in ms. */
interface Sample {
  rollout: number;
  detection: number;
  restore: number;
  observed: number;
  /** The observer's polls went unanswered for this long after detection (the restart's gap). */
  unanswered: number;
  /** The observer's polls during the deploy, and those that took SLOW_POLL_MS or more. */
  polls: number;
  slowPolls: number;
}

const SLOW_POLL_MS = 500;

function earliest<T>(items: T[], time: (item: T) => number): T | undefined {
  return items.reduce<T | undefined>((best, item) => (best === undefined || time(item) < time(best) ? item : best), undefined);
}

interface Seen {
  sentAt: number;
  at: number;
  /** null: no answer (connection refused, or an error status). */
  version: string | null;
}

/**
 * Sends GET /version to every url on a fresh connection every POLL_MS, without waiting for earlier
 * answers: a connection attempt stuck in the restart does not hold the next polls up.
 */
function watch(urls: string[]): { seen: Seen[][]; stop(): Promise<void> } {
  const seen = urls.map((): Seen[] => []);
  const inFlight = new Set<Promise<void>>();
  const poll = (): void => {
    const sentAt = Date.now();
    urls.forEach((url, i) => {
      const request = get(`${url}/version`)
        .catch(() => null)
        .then((answer) => void seen[i].push({ sentAt, at: Date.now(), version: answer?.status === 200 ? answer.body.trim() : null }));
      inFlight.add(request);
      void request.then(() => inFlight.delete(request));
    });
  };
  poll();
  const timer = setInterval(poll, POLL_MS);
  return {
    seen,
    stop: async () => {
      clearInterval(timer);
      await Promise.all(inFlight);
    },
  };
}

/**
 * The ssh hosts log in as the bench's own user, whose login shell (Debian's bash) sources ~/.bashrc for
 * every command run over ssh. On the machines this runs on that file runs `pyenv init`: 0.1–0.6 s (the
 * bench measures it) per ssh command, serialised across hosts by pyenv's lock, which would measure the account rather
 * than Tandem. SHLVL=1 set by sshd makes bash skip it, as the usual non-interactive guard at the top of
 * a deploy user's .bashrc does; a shorter series keeps the rc files, to show what they cost.
 */
const SSH_SERIES: { name: string; sessionEnv: Record<string, string>; deploys: number }[] = [
  { name: `ssh, ${SSH_HOSTS} hosts`, sessionEnv: { SHLVL: '1' }, deploys: FAILED_DEPLOYS },
  { name: `ssh, ${SSH_HOSTS} hosts, with the login shell's rc files`, sessionEnv: {}, deploys: 10 },
];

/** A deploy dir per host, each with its own service port (the demo service's service.sh reads `port`). */
async function hostDirs(root: string, count: number): Promise<{ dirs: string[]; urls: string[] }> {
  const dirs: string[] = [];
  const urls: string[] = [];
  for (let i = 0; i < count; i++) {
    const dir = path.join(root, `host-${i}`);
    await mkdir(dir, { recursive: true });
    const port = await freePort();
    await writeFile(path.join(dir, 'port'), `${port}\n`);
    dirs.push(dir);
    urls.push(`http://127.0.0.1:${port}`);
  }
  return { dirs, urls };
}

/** The deploy block of a fleet: one http health check per host. */
function deploySpec(
  target: unknown,
  urls: string[],
  release: Record<string, unknown> = { source: 'dist', service: DEMO_SERVICE_COMMANDS },
): DeploySpec {
  return parseDeploySpec(
    {
      ...release,
      target,
      verify: urls.map((url) => ({ http: `${url}/health`, expect_status: 200, interval: `${INTERVAL_MS}ms`, failures: 1 })),
    },
    'deploy',
  );
}

/** v1 live, then FAILED_DEPLOYS deploys of an unhealthy v2, each rolled back to v1. */
async function failedDeploys(fleet: Fleet, root: string, deploys: number, log: (line: string) => void): Promise<Sample[]> {
  const good = fleet.good;
  const workDir = path.join(root, 'work');
  const first = recorder({ spec: fleet.spec, release: good, previous: null, workDir });
  if ((await runDeployment(first.input)).status !== 'live')
    throw new Error(`rollback: ${fleet.name}: v1 did not go live:\n${first.lines.join('\n')}`);
  const samples: Sample[] = [];
  for (let i = 0; i < deploys; i++) {
    const id = i + 2;
    const rec = recorder({ spec: fleet.spec, release: fleet.bad(id), previous: good, workDir });
    const observer = watch(fleet.urls);
    const started = Date.now();
    let times: { switchedAt: number; detectedAt: number; restoredAt: number };
    let firstV1: Seen[];
    try {
      const result = await runDeployment(rec.input);
      if (result.status !== 'rolled_back' || !fleet.failure.test(result.reason)) {
        throw new Error(`rollback: ${fleet.name}: deploy ${id} ended ${JSON.stringify(result)}:\n${rec.lines.join('\n')}`);
      }
      times = { switchedAt: result.switchedAtMs, detectedAt: result.detectedAtMs, restoredAt: result.restoredAtMs };
      const v1After = (seen: Seen[]) =>
        earliest(
          seen.filter((s) => s.sentAt >= times.detectedAt && s.version === 'v1'),
          (s) => s.at,
        );
      for (const deadline = Date.now() + 5_000; !observer.seen.every(v1After); await sleep(POLL_MS)) {
        if (Date.now() > deadline)
          throw new Error(`rollback: ${fleet.name}: v1 did not answer on every host within 5 s of the rollback of release ${id}`);
      }
      firstV1 = observer.seen.map((seen) => v1After(seen)!);
    } finally {
      await observer.stop();
    }
    const { switchedAt, detectedAt, restoredAt } = times;
    const unanswered = observer.seen.map((seen, h) => {
      const silent = earliest(
        seen.filter((s) => s.sentAt >= detectedAt && s.version === null),
        (s) => s.sentAt,
      );
      return silent && silent.sentAt < firstV1[h].at ? firstV1[h].at - silent.sentAt : 0;
    });
    const polls = observer.seen.flat();
    const slow = polls.map((p) => p.at - p.sentAt).filter((ms) => ms >= SLOW_POLL_MS);
    if (slow.length > 0) log(`rollback: ${fleet.name}: release ${id}: polls took ${slow.join(', ')} ms`);
    samples.push({
      rollout: switchedAt - started,
      detection: detectedAt - switchedAt,
      restore: restoredAt - detectedAt,
      observed: Math.max(...firstV1.map((s) => s.at)) - detectedAt,
      unanswered: Math.max(...unanswered),
      slowPolls: slow.length,
      polls: polls.length,
    });
    if (i % 10 === 9)
      log(
        `rollback: ${fleet.name}: ${i + 1}/${deploys} failed deploys rolled back, restore p50 so far ${fmt(median(samples.map((s) => s.restore)), 0)} ms`,
      );
  }
  return samples;
}

/** The demo service as v1 and as a v2 whose /health answers 500. */
async function demoReleases(root: string): Promise<Pick<Fleet, 'good' | 'bad' | 'failure'>> {
  const bad = await writeDeployableDemoRelease(path.join(root, 'v2'), 'v2', { unhealthy: true });
  return {
    good: release(1, await writeDeployableDemoRelease(path.join(root, 'v1'), 'v1'), 1),
    bad: (id) => release(id, bad, id),
    failure: /expected status 200, got 500/,
  };
}

async function localFleet(root: string): Promise<Fleet> {
  const { dirs, urls } = await hostDirs(root, 1);
  return { name: 'local', dirs, urls, spec: deploySpec({ local: { dir: dirs[0], keep: 3 } }, urls), ...(await demoReleases(root)) };
}

/** Serves $APP_VERSION at /version, and /health only when HEALTHY=yes; catatonit (--init) passes SIGTERM on. */
const CONTAINER_COMMAND = [
  'sh',
  '-c',
  'mkdir -p /www && echo "$APP_VERSION" >/www/version && if [ "$HEALTHY" = yes ]; then echo ok >/www/health; fi && exec httpd -f -p 80 -h /www',
];

/**
 * `hosts` container hosts on this machine (their own container names and state dirs, one port on
 * 127.0.0.2, 127.0.0.3...), running a pinned busybox image from a real registry, pulled beforehand.
 */
async function containerFleet(root: string, hosts: number, image: string, prefix: string): Promise<Fleet> {
  const addresses = Array.from({ length: hosts }, (_, i) => `127.0.0.${i + 2}`);
  const port = await freePort();
  const target = {
    container: {
      hosts: addresses.map((address, i) => ({
        host: 'local',
        container: `${prefix}-${hosts}-${i}`,
        address,
        dir: path.join(root, `host-${i}`),
      })),
      ports: [`\${TANDEM_HOST_ADDRESS}:${port}:80`],
      env: { APP_VERSION: '${APP_VERSION}', HEALTHY: '${HEALTHY}' },
      command: CONTAINER_COMMAND,
      run_args: ['--init'],
      health: { cmd: 'wget -q -O /dev/null http://127.0.0.1/version', interval: '50ms', retries: 100 },
    },
  };
  const urls = addresses.map((address) => `http://${address}:${port}`);
  const version = (id: number, name: string, healthy: boolean): ReleaseInput => ({
    ...release(id, root, id, { APP_VERSION: name, HEALTHY: healthy ? 'yes' : 'no' }),
    image,
  });
  return {
    name: `container (podman), ${hosts} host${hosts === 1 ? '' : 's'}`,
    dirs: [],
    urls,
    spec: deploySpec(target, urls, { image }),
    good: version(1, 'v1', true),
    bad: (id) => version(id, 'v2', false),
    failure: /expected status 200, got 404/,
  };
}

/** Failed deploys on container fleets of 1 and 2 hosts; skipped loudly without podman or a registry. */
async function containerSeries(root: string, results: Map<string, Sample[]>, log: (line: string) => void): Promise<void> {
  const missing = podmanSkip('rollback: the container series') || registrySkip();
  if (missing) return;
  const registry = await startRegistry();
  const prefix = `tandem-bench-${process.pid}`;
  let image: string | null = null;
  try {
    image = (await pushBusybox(registry, 'bench/web', 'v1')).pinned;
    // The hosts' store has the image, as after a first deployment: no pull is measured.
    await run('podman', ['pull', '--quiet', '--tls-verify=false', '--creds', `${registry.username}:${registry.password}`, image]);
    for (const hosts of [1, 2]) {
      const fleet = await containerFleet(path.join(root, `container-${hosts}`), hosts, image, prefix);
      results.set(fleet.name, await failedDeploys(fleet, path.join(root, `container-${hosts}`), FAILED_DEPLOYS, log));
    }
  } finally {
    await removeContainersNamed(prefix);
    if (image) await run('podman', ['rmi', '--force', image]).catch(() => undefined);
    await registry.stop();
  }
}

async function sshFleet(name: string, sshd: SshdHosts, root: string): Promise<Fleet> {
  const { dirs, urls } = await hostDirs(root, sshd.servers.length);
  const target = {
    ssh: {
      hosts: sshd.servers.map((s, i) => ({ host: s.host, port: s.port, dir: dirs[i] })),
      user: sshd.user,
      identity_file: sshd.identityFile,
      known_hosts: sshd.servers.map((s) => s.knownHostsLine).join('\n'),
    },
  };
  return { name, dirs, urls, spec: deploySpec(target, urls), ...(await demoReleases(root)) };
}

// ---- Listing ----

/** The deploy block the seeded releases were "deployed" with: three ssh hosts, a canary, two checks. */
const SEED_SPEC = JSON.stringify(
  parseDeploySpec(
    {
      source: 'dist',
      target: {
        ssh: {
          hosts: ['10.0.0.5', '10.0.0.6', '10.0.0.7'].map((host) => ({ host, dir: '/srv/app' })),
          user: 'deploy',
          identity_file: '/etc/tandem/deploy_key',
        },
      },
      service: { restart: 'systemctl restart app' },
      strategy: { canary: { first: 1, pause: '2m' } },
      verify: [
        { http: 'http://$TANDEM_HOST_ADDRESS:8080/health', expect_status: 200, interval: '5s', failures: 3 },
        { prometheus: { url: 'http://prometheus:9090', query: 'sum(rate(app_errors_total[1m]))', pass: '< 0.5' } },
      ],
      bake: '5m',
    },
    'deploy',
  ),
);

const hex = (text: string, length = 64) => createHash('sha256').update(text).digest('hex').slice(0, length);

/** `count` releases of an environment, oldest first, as deploys over time leave them: the newest live. */
async function seedReleases(store: Store, repoId: number, environmentId: number, count: number, firstJobId: number): Promise<void> {
  const now = Date.now();
  const rows = Array.from({ length: count }, (_, i): Insertable<ReleaseTable> => {
    const files: ManifestEntry[] = ['server.mjs', 'VERSION', 'service.sh', 'config/app.json'].map((file, k) => ({
      path: file,
      digest: hex(`${environmentId}-${i}-${file}`),
      size: 180 + 997 * k,
      mode: file.endsWith('.sh') ? 0o755 : 0o644,
    }));
    const sha = hex(`${environmentId}-${i}`, 40);
    const rolledBack = i % 10 === 9 && i !== count - 1;
    const createdAt = now - (count - i) * 600_000;
    return {
      environment_id: environmentId,
      repo_id: repoId,
      pipeline_id: firstJobId + i,
      job_id: firstJobId + i,
      kind: 'deploy',
      rollback_of: null,
      sha,
      ref: 'main',
      version: sha.slice(0, 8),
      files: JSON.stringify(files),
      digest: releaseDigest(files),
      deploy_spec: SEED_SPEC,
      tags: '["deploy"]',
      fencing_token: firstJobId + i,
      status: i === count - 1 ? 'live' : rolledBack ? 'rolled_back' : 'superseded',
      status_reason: rolledBack
        ? 'batch 1/2 (canary) [10.0.0.5:22]: canary analysis: http http://10.0.0.5:8080/health @ 10.0.0.5:22: 3 consecutive failures, last: expected status 200, got 500'
        : null,
      decision: null,
      created_by: `pipeline #${firstJobId + i}`,
      created_at: createdAt,
      finished_at: createdAt + 150_000,
    };
  });
  await store.transaction(async (trx) => {
    // 500 rows of 21 values stay under SQLite's limit of bound parameters per statement.
    for (let i = 0; i < rows.length; i += 500)
      await trx
        .insertInto('releases')
        .values(rows.slice(i, i + 500))
        .execute();
  });
}

interface Endpoint {
  label: string;
  route: string;
  path: string;
  client: number[];
  server: Histogram;
}

interface Listing {
  database: 'SQLite' | 'PostgreSQL';
  endpoints: Endpoint[];
  /** EXPLAIN of the releases page on both environments, and of the live release look-up (the environments list's) on the big one. */
  plans: { releases: string; peerReleases: string; live: string };
  seedMs: number;
}

const RELEASES_ROUTE = '/api/v1/repos/:name/environments/:env/releases';
const ENVIRONMENTS_ROUTE = '/api/v1/repos/:name/environments';

async function explain(store: Store, query: CompiledQuery): Promise<string> {
  const text =
    store.dialect === 'postgres' ? `explain (analyze, costs off, timing off, summary on) ${query.sql}` : `explain query plan ${query.sql}`;
  const { rows } = await store.db.executeQuery<Record<string, unknown>>(CompiledQuery.raw(text, [...query.parameters]));
  return rows
    .map((r) => String(r['QUERY PLAN'] ?? r.detail).trim())
    .filter((line) => line !== '')
    .join('; ');
}

async function timedRequests(server: LiveServer, endpoint: Endpoint, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const { ms } = await timed(async () => {
      const res = await fetch(server.url + endpoint.path, { headers: { authorization: `Bearer ${server.token}` } });
      const body = await res.text();
      if (!res.ok) throw new Error(`GET ${endpoint.path}: ${res.status} ${body}`);
    });
    endpoint.client.push(ms);
  }
}

async function listingOn(
  database: Listing['database'],
  dataDir: string,
  databaseUrl: string,
  args: string[],
  remote: string,
  log: (line: string) => void,
): Promise<Listing> {
  const server = await LiveServer.start('server', dataDir, args);
  try {
    const repos = { history: HISTORY, peer: PEER_HISTORY };
    const ids = new Map<string, { repo: number; env: number }>();
    const store = await openStore(databaseUrl);
    let seedMs = 0;
    let plans: Listing['plans'];
    try {
      for (const [index, [name, count]] of Object.entries(repos).entries()) {
        const repo = await server.api<{ id: number }>('POST', '/api/v1/repos', { name, url: remote });
        await server.api('PUT', `/api/v1/repos/${name}/environments/production`, { tier: 'production' });
        const env = await store.db
          .selectFrom('environments')
          .select('id')
          .where('repo_id', '=', repo.id)
          .where('name', '=', 'production')
          .executeTakeFirstOrThrow();
        ids.set(name, { repo: repo.id, env: env.id });
        seedMs += (await timed(() => seedReleases(store, repo.id, env.id, count, 1 + index * 1_000_000))).ms;
      }
      // A table that grew over months has statistics; one filled in a second needs ANALYZE first.
      if (store.dialect === 'postgres') await sql`analyze releases`.execute(store.db);
      // The queries of the routes, as they build them.
      const page = (env: number) =>
        store.db.selectFrom('releases').selectAll().where('environment_id', '=', env).orderBy('id', 'desc').limit(100).compile();
      const big = ids.get('history')!.env;
      const live = store.db
        .selectFrom('releases')
        .selectAll()
        .where('environment_id', '=', big)
        .where('status', '=', 'live')
        .orderBy('id', 'desc')
        .limit(1)
        .compile();
      plans = {
        releases: await explain(store, page(big)),
        peerReleases: await explain(store, page(ids.get('peer')!.env)),
        live: await explain(store, live),
      };
    } finally {
      await store.close();
    }
    log(`rollback: ${database}: ${HISTORY} + ${PEER_HISTORY} releases inserted in ${fmt(seedMs / 1000, 1)} s`);

    const endpoints: Endpoint[] = [
      ...Object.entries(repos).map(([name, count]) => ({
        label: `releases, ${count} in the environment`,
        route: RELEASES_ROUTE,
        path: `/api/v1/repos/${name}/environments/production/releases`,
      })),
      ...Object.entries(repos).map(([name, count]) => ({
        label: `environments, ${count} releases in it`,
        route: ENVIRONMENTS_ROUTE,
        path: `/api/v1/repos/${name}/environments`,
      })),
    ].map((e) => ({ ...e, client: [], server: { count: 0, sum: 0, buckets: new Map() } }));
    for (const endpoint of endpoints) {
      const res = await server.api<unknown[]>('GET', endpoint.path);
      const expected = endpoint.route === RELEASES_ROUTE ? 100 : 1;
      if (res.length !== expected)
        throw new Error(`rollback: GET ${endpoint.path} on ${database}: expected ${expected} items, got ${res.length}`);
      await timedRequests(server, endpoint, WARMUP);
      endpoint.client.length = 0;
    }
    for (let block = 0; block < BLOCKS; block++) {
      for (const endpoint of endpoints) {
        const labels = { route: endpoint.route, method: 'GET' };
        const before = await server.histogram(HTTP_DURATION, labels);
        await timedRequests(server, endpoint, REQUESTS / BLOCKS);
        const since = histogramSince(await server.histogram(HTTP_DURATION, labels), before);
        endpoint.server = {
          count: endpoint.server.count + since.count,
          sum: endpoint.server.sum + since.sum,
          buckets: new Map([...since.buckets].map(([le, n]) => [le, n + (endpoint.server.buckets.get(le) ?? 0)])),
        };
      }
    }
    log(
      `rollback: ${database}: releases of ${HISTORY}: p50 ${fmt(median(endpoints[0].client))} ms, of ${PEER_HISTORY}: ${fmt(median(endpoints[1].client))} ms`,
    );
    return { database, endpoints, plans, seedMs };
  } finally {
    await server.stop();
  }
}

// ---- The benchmark ----

const rollbackRows = (target: string, samples: Sample[]): string[][] => {
  const row = (measure: string, values: number[], targetMs: number | null): string[] => {
    const [p50, max] = [median(values), Math.max(...values)];
    return [
      target,
      measure,
      fmt(p50, 0),
      fmt(percentile(values, 90), 0),
      fmt(max, 0),
      targetMs === null ? '-' : String(targetMs),
      targetMs === null ? '-' : fmt(p50 / targetMs),
      targetMs === null ? '-' : fmt(max / targetMs),
    ];
  };
  return [
    row(
      'detection: bad release serving → failure detected',
      samples.map((s) => s.detection),
      DETECTION_TARGET_MS,
    ),
    row(
      'restore: detected → previous release back (restoredAtMs)',
      samples.map((s) => s.restore),
      RESTORE_TARGET_MS,
    ),
    row(
      'restore, outside observer: detected → first v1 answer',
      samples.map((s) => s.observed),
      RESTORE_TARGET_MS,
    ),
    row(
      'observer: no answer during the restore',
      samples.map((s) => s.unanswered),
      null,
    ),
    row(
      'peer: deploy start → bad release serving',
      samples.map((s) => s.rollout),
      null,
    ),
  ];
};

/** What the account's interactive bash costs to start (its ~/.bashrc), p50 of 5 runs, in ms. */
async function interactiveShellMs(): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) times.push((await timed(() => run('bash', ['-ic', 'true']))).ms);
  return median(times);
}

export async function rollback(log: (line: string) => void): Promise<BenchResult> {
  if (!sshdAvailable()) throw new Error(`rollback: OpenSSH is not installed (${SSHD}, ssh, ssh-keygen): run scripts/services.sh install`);
  const loadAtStart = loadavg()[0];
  const rcMs = await interactiveShellMs();
  const tmp = await tempDir('rollback');
  const fleets: Fleet[] = [];
  const results = new Map<string, Sample[]>();
  const listings: Listing[] = [];
  try {
    const local = await localFleet(path.join(tmp.dir, 'local'));
    fleets.push(local);
    results.set('local', await failedDeploys(local, path.join(tmp.dir, 'local'), FAILED_DEPLOYS, log));
    await containerSeries(path.join(tmp.dir, 'containers'), results, log);

    for (const series of SSH_SERIES) {
      const sshd = await startSshd(SSH_HOSTS, series.sessionEnv);
      try {
        const root = path.join(tmp.dir, `ssh-${results.size}`);
        const fleet = await sshFleet(series.name, sshd, root);
        fleets.push(fleet);
        results.set(fleet.name, await failedDeploys(fleet, root, series.deploys, log));
      } finally {
        await sshd.stop();
      }
    }

    const git = await makeRemote(tmp.dir);
    await git.commit({ 'README.md': 'releases\n' }, 'initial');
    await git.push('main');
    const sqliteDir = path.join(tmp.dir, 'sqlite');
    listings.push(await listingOn('SQLite', sqliteDir, path.join(sqliteDir, 'tandem.db'), [], git.bare, log));
    if (postgresAvailable()) {
      const postgres = await startPostgres();
      try {
        const url = await postgres.createDatabase();
        listings.push(await listingOn('PostgreSQL', path.join(tmp.dir, 'postgres'), url, ['--database-url', url], git.bare, log));
      } finally {
        await postgres.stop();
      }
    } else {
      const banner = '!'.repeat(78);
      process.stderr.write(
        `\n${banner}\n!! rollback: SKIPPING the PostgreSQL listing: PostgreSQL 15 is not installed (${PG_BIN}/postgres)\n${banner}\n\n`,
      );
    }
  } finally {
    await Promise.all(fleets.flatMap((f) => f.dirs.map(stopDeployedDemoServices)));
    await tmp.remove();
  }

  const rows = [...results].flatMap(([target, samples]) => rollbackRows(target, samples));
  const verdicts = [...results].map(([target, samples]) => {
    const restore = median(samples.map((s) => s.observed));
    const detection = Math.max(...samples.map((s) => s.detection));
    return (
      `${target}: restore p50 ≤ ${RESTORE_TARGET_MS} ms — ${restore <= RESTORE_TARGET_MS ? 'met' : 'missed'} (observer ${fmt(restore, 0)} ms, ${fmt(restore / RESTORE_TARGET_MS)}× the target); ` +
      `detection ≤ ${DETECTION_TARGET_MS} ms — ${detection <= DETECTION_TARGET_MS ? 'met' : 'missed'} on every deploy (max ${fmt(detection, 0)} ms)`
    );
  });
  const slowPolls = () => {
    const all = [...results.values()].flat();
    const slow = all.reduce((n, s) => n + s.slowPolls, 0);
    const deploys = all.filter((s) => s.slowPolls > 0).length;
    return slow === 0
      ? `No poll took ${SLOW_POLL_MS} ms or more.`
      : `${slow} of ${all.reduce((n, s) => n + s.polls, 0)} polls, in ${deploys} of ${all.length} deploys, took ${SLOW_POLL_MS} ms or more: connection attempts caught in a restart wait for a retry.`;
  };
  const ratio = (target: string) => {
    const s = results.get(target)!;
    return fmt(median(s.map((x) => x.restore)) / median(s.map((x) => x.rollout)));
  };

  const listingRows = listings.flatMap((l) =>
    l.endpoints.map((e, i) => {
      const peer = l.endpoints[i % 2 === 0 ? i + 1 : i];
      const serverMean = e.server.count > 0 ? (e.server.sum / e.server.count) * 1000 : NaN;
      const under = (le: number) => `${fmt(((e.server.buckets.get(le) ?? 0) / e.server.count) * 100, 0)}%`;
      const p99 = percentile(e.client, 99);
      return [
        l.database,
        e.label,
        fmt(median(e.client)),
        fmt(p99),
        fmt(serverMean),
        `${under(0.01)} / ${under(0.05)}`,
        peer === e ? '-' : fmt(median(e.client) / median(peer.client)),
        fmt(p99 / LISTING_TARGET_MS),
      ];
    }),
  );
  // The target is server time: the share of the big listing's requests the server's histogram puts at most 50 ms.
  const withinTarget = listings.map((l) => ({
    database: l.database,
    share: (l.endpoints[0].server.buckets.get(LISTING_TARGET_MS / 1000) ?? 0) / l.endpoints[0].server.count,
    p99: percentile(l.endpoints[0].client, 99),
  }));
  const listingVerdict =
    `${withinTarget.every((w) => w.share >= 0.99) ? 'met' : 'missed'} at the 99th percentile ` +
    `(server time ≤ ${LISTING_TARGET_MS} ms for ${withinTarget.map((w) => `${fmt(w.share * 100, 1)}% of the requests on ${w.database}`).join(', ')}; ` +
    `client-side p99, round trip and the machine's other load included: ${withinTarget.map((w) => `${fmt(w.p99, 1)} ms on ${w.database}`).join(', ')})`;

  return {
    id: 'rollback',
    title: `Rollback: failed verification → previous release serving, local and ssh targets; listing ${HISTORY} releases`,
    header: ['target', 'measure', 'p50 ms', 'p90 ms', 'max ms', 'target ms', 'p50 / target', 'max / target'],
    rows,
    notes: [
      `Measured on \`runDeployment\` — the library the agent runs after a deploy job's script — called directly, with no server or agent around it (their part, reporting phases and the release's status, is not in these times). ` +
        `The release is the demo service (examples/deploy/service), restarted by its service command (\`sh service.sh\`: stop the running one, start this release's, return once it listens). ` +
        `A good v1 is live; then ${FAILED_DEPLOYS} times a v2 whose /health answers 500 is deployed (strategy rolling, every host in one batch) and rolled back automatically; each deploy is a new release id, so the swap back is to v1's directory still on the host. ` +
        `Verification: one http check per host, interval ${INTERVAL_MS / 1000} s, failures 1, timeout 1 s (the default, min(interval, 10 s)). The ssh target is ${SSH_HOSTS} real sshd servers on loopback (OpenSSH client with its shared master connection per host). ` +
        `Their sessions get SHLVL=1 from sshd so that bash skips the account's ~/.bashrc, which on this machine runs \`pyenv init\` for every ssh command (\`bash -ic true\` takes ${fmt(rcMs, 0)} ms here, p50 of 5; serialised across hosts by pyenv's lock), ` +
        `as the usual non-interactive guard in a deploy user's .bashrc would; the series "${SSH_SERIES[1].name}" keeps it (${SSH_SERIES[1].deploys} deploys, the others ${FAILED_DEPLOYS}).`,
      `The container series run a pinned busybox image (pushed to a real docker-registry with TLS and basic auth, already in the hosts' image store) with podman 4.3 and runc on 1 and 2 "hosts" on this machine (own container names and state dirs, one port on 127.0.0.2, 127.0.0.3): ` +
        `v1 and v2 are the same image with APP_VERSION and HEALTHY set per release; v2 serves no /health, so its check answers 404. A new container waits for its health check (GET /version inside it) before its host counts as activated; ` +
        `the rollback is \`podman stop\` of v2's container (SIGTERM through catatonit, --init) and \`podman start\` of v1's, stopped but kept, per host in parallel, without a health wait. ` +
        `Both join the host's network holder, which keeps the bridge and the published port up between them (before it, each rollback tore the network down and set it up again: restore p50 963 ms on 1 host and 1,423 ms on 2, measured 2026-12-07).`,
      `Detection is \`switchedAtMs\` → \`detectedAtMs\` of the DeploymentResult; restore is \`detectedAtMs\` → \`restoredAtMs\` (the last host's activation of v1 returned). ` +
        `The outside observer (in the bench's process) sends GET /version to every host on a fresh connection every ${POLL_MS} ms, not waiting for earlier answers; its restore is detection → the first v1 answer (to a request sent after detection) on the last host, ` +
        `and "no answer" is how long its polls went unanswered in between (the restart's gap: service.sh stops the running process before it starts the other). ${slowPolls()} The peer is the same deploy's way in, runDeployment's start → the bad release serving (upload, swap, restart): restore / rollout p50 is ${[...results.keys()].map((t) => `${ratio(t)} (${t})`).join(', ')}.`,
      ...verdicts.map((v) => `Targets, ${v}.`),
      `Listing: a real \`tandem server\` (SQLite, and PostgreSQL 15 on loopback with fsync off, as in the test suites, ANALYZEd after the insert); one environment holding ${HISTORY} releases inserted straight into the database ` +
        `(4-file manifests, the JSON deploy block of a 3-host canary, one in ten rolled back, the newest live), and in another repository a peer environment holding ${PEER_HISTORY}. ` +
        `${REQUESTS} requests of each kind, one at a time on a keep-alive connection, in ${BLOCKS} alternating blocks after ${WARMUP} warm-up requests each; client ms is loopback round trip to the last body byte; ` +
        `server ms is the mean of the server's own \`${HTTP_DURATION}\` (Fastify's reply time) over the same requests, and its buckets give the share at most 10 ms / 50 ms. The releases list is the default page (100 newest); the environments list reads each environment's live and latest release. ` +
        `Target: listing ${HISTORY} releases ≤ ${LISTING_TARGET_MS} ms server time — ${listingVerdict}.`,
      `The machine is shared: its 1-minute load average was ${fmt(loadAtStart, 1)} when this run started and ${fmt(loadavg()[0], 1)} when it ended, on ${cpus().length} cores.`,
      ...listings.map(
        (l) =>
          `Plans on ${l.database}: the releases page of the environment holding ${HISTORY} — ${l.plans.releases}; of the one holding ${PEER_HISTORY} — ${l.plans.peerReleases}; ` +
          `the live release (environments list) of the first — ${l.plans.live}.`,
      ),
    ],
    tables: [
      {
        caption: `Listing releases (${REQUESTS} requests each; "× peer" is p50 against the same request on the environment holding ${PEER_HISTORY}):`,
        header: [
          'database',
          'request',
          'client p50 ms',
          'client p99 ms',
          'server mean ms',
          'server ≤ 10 / 50 ms',
          '× peer',
          `p99 / ${LISTING_TARGET_MS} ms`,
        ],
        rows: listingRows,
      },
    ],
  };
}
