// The real HA cluster of ops/cluster/cluster.sh: etcd x3, PostgreSQL x3 under Patroni, HAProxy, two
// `tandem server` replicas and one `tandem agent`, all real processes on loopback. It runs a pipeline
// through HAProxy, kills the primary's postmaster and measures how long Tandem's writes fail, then
// SIGKILLs a Tandem replica and checks that HAProxy routes around it.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import type { PipelineJson } from '../../src/server/routes/views.js';
import { until } from '../e2e/helpers.js';
import { makeRemote, repoRoot } from '../support/git.js';

const execFileP = promisify(execFile);

const SCRIPT = path.join(repoRoot(), 'ops', 'cluster', 'cluster.sh');
const CLI = process.env.TANDEM_CLI ?? path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
/** The binaries cluster.sh starts, with the Debian package of each. */
const NEEDED: Record<string, string> = {
  '/usr/bin/etcd': 'etcd-server',
  '/usr/bin/etcdctl': 'etcd-client',
  '/usr/bin/patroni': 'patroni',
  '/usr/sbin/haproxy': 'haproxy',
  '/usr/lib/postgresql/15/bin/postgres': 'postgresql',
  '/usr/bin/psql': 'postgresql-client',
  '/usr/bin/curl': 'curl',
};
const FINAL = ['success', 'failed', 'canceled', 'skipped'];

/** Why the suite is skipped, or false. Missing packages are a loud skip, and a failure under TANDEM_REQUIRE_ALL=1. */
function skipReason(): string | false {
  const missing = Object.entries(NEEDED).filter(([bin]) => !existsSync(bin));
  if (missing.length === 0 || process.env.TANDEM_REQUIRE_ALL === '1') return false;
  const reason = `missing ${missing.map(([bin, pkg]) => `${bin} (${pkg})`).join(', ')}: run scripts/services.sh install`;
  const banner = '!'.repeat(78);
  process.stderr.write(`\n${banner}\n!! SKIPPING the Patroni cluster test: ${reason}\n${banner}\n\n`);
  return reason;
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/** A base for cluster.sh's 30 consecutive ports, all free and below the ephemeral range. */
async function freeBasePort(): Promise<number> {
  for (;;) {
    const base = 20_000 + 30 * Math.floor(Math.random() * 400);
    const ports = Array.from({ length: 30 }, (_, i) => base + i);
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the Patroni cluster of ops/cluster', { skip: skipReason() }, () => {
  let stateDir = '';
  let scratch = '';
  let env: NodeJS.ProcessEnv = {};
  let ports: Record<string, string> = {};
  let token = '';
  let tandemUrl = '';
  const restPorts = () => ports.PATRONI_REST_PORTS.split(',').map(Number);

  async function cluster(command: string[], timeoutMs: number): Promise<string> {
    try {
      const { stdout } = await execFileP('bash', [SCRIPT, ...command], { env, timeout: timeoutMs, killSignal: 'SIGKILL' });
      return stdout;
    } catch (err) {
      const e = err as Error & { stdout?: string; stderr?: string };
      throw new Error(`cluster.sh ${command.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`, { cause: err });
    }
  }
  // Should this process die without its after hooks, the daemons (in sessions of their own) must not outlive it.
  const downOnExit = (): void => {
    execFileSync('bash', [SCRIPT, 'down', '--purge'], { env, stdio: 'ignore', timeout: 30_000 });
  };

  async function api<T>(method: string, urlPath: string, body?: unknown, timeoutMs = 20_000): Promise<{ status: number; body: T }> {
    const res = await fetch(tandemUrl + urlPath, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  }

  async function finished(id: number, timeoutMs: number): Promise<PipelineJson> {
    return until(
      `pipeline ${id} to finish`,
      async () => {
        const p = await api<PipelineJson>('GET', `/api/v1/pipelines/${id}`).catch(() => null);
        return p?.status === 200 && FINAL.includes(p.body.status) ? p.body : undefined;
      },
      timeoutMs,
      200,
    );
  }

  async function patroniMembers(): Promise<{ name: string; role: string; state: string }[]> {
    for (const port of restPorts()) {
      const res = await fetch(`http://127.0.0.1:${port}/cluster`, { signal: AbortSignal.timeout(2000) }).catch(() => null);
      if (res?.ok) return ((await res.json()) as { members: { name: string; role: string; state: string }[] }).members;
    }
    throw new Error('no Patroni REST API answered /cluster');
  }

  /** HAProxy's view of one server: UP, DOWN, ... (stats CSV: pxname, svname, ..., status is column 18). */
  async function haproxyStatus(proxy: string, server: string): Promise<string | undefined> {
    const csv = await (await fetch(`http://127.0.0.1:${ports.HAPROXY_STATS_PORT}/;csv`)).text();
    return csv
      .split('\n')
      .map((line) => line.split(','))
      .find((f) => f[0] === proxy && f[1] === server)?.[17];
  }

  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is missing: build Tandem first (npx tsc -p .)`);
    stateDir = await mkdtemp(path.join(tmpdir(), 'tandem-cluster-'));
    scratch = await mkdtemp(path.join(tmpdir(), 'tandem-cluster-repo-'));
    env = {
      ...process.env,
      TANDEM_CLI: CLI,
      TANDEM_CLUSTER_DIR: stateDir,
      TANDEM_CLUSTER_BASE_PORT: String(await freeBasePort()),
      TANDEM_CLUSTER_SERVERS: '2',
      TANDEM_CLUSTER_AGENTS: '1',
      // A test's data need not survive a power cut; fsync costs seconds on a shared CI disk.
      TANDEM_CLUSTER_FSYNC: 'off',
      TANDEM_CLUSTER_GRACE: '3',
    };
    process.once('exit', downOnExit);
    await cluster(['up'], 150_000);
    ports = Object.fromEntries(
      (await readFile(path.join(stateDir, 'ports.env'), 'utf8'))
        .split('\n')
        .filter((line) => /^[A-Z_]+=/.test(line))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    tandemUrl = ports.TANDEM_URL;
    token = (await readFile(ports.ADMIN_TOKEN_FILE, 'utf8')).trim();
  });

  after(async () => {
    try {
      if (stateDir) await cluster(['down', '--purge'], 60_000);
    } finally {
      process.removeListener('exit', downOnExit);
      await rm(stateDir, { recursive: true, force: true });
      await rm(scratch, { recursive: true, force: true });
    }
  });

  it('is up: status reports every part healthy, and up refuses to start it twice', { timeout: 30_000 }, async () => {
    const status = await cluster(['status'], 20_000);
    assert.match(status, /^patroni\d +\d+ +primary/m);
    assert.equal(status.match(/^patroni\d +\d+ +replica/gm)?.length, 2, status);
    assert.equal(status.match(/^server\d +\d+ +ready$/gm)?.length, 2, status);
    await assert.rejects(cluster(['up'], 20_000), /already up/);
  });

  it('runs a pipeline through HAProxy', { timeout: 60_000 }, async () => {
    const remote = await makeRemote(scratch);
    // NAP lets one pipeline run long enough to span the database failover below.
    await remote.commit({ '.gitlab-ci.yml': 'build:\n  script:\n    - sleep "${NAP:-0}"\n    - echo "built $CI_PIPELINE_ID"\n' }, 'initial');
    await remote.push('main');
    assert.equal((await api('POST', '/api/v1/repos', { name: 'shop', url: remote.bare })).status, 201);
    const created = await api<{ id: number }>('POST', '/api/v1/repos/shop/pipelines', {});
    assert.equal(created.status, 201);
    assert.equal((await finished(created.body.id, 45_000)).status, 'success');
  });

  it('fails PostgreSQL over when the primary dies: writes resume within 5 s of the promotion', { timeout: 90_000 }, async (t: TestContext) => {
    const spanning = await api<{ id: number }>('POST', '/api/v1/repos/shop/pipelines', { variables: { NAP: '6' } });
    assert.equal(spanning.status, 201);
    await until(
      'the spanning job to run',
      async () => ((await api<PipelineJson>('GET', `/api/v1/pipelines/${spanning.body.id}`)).body.jobs[0]?.status === 'running' ? true : undefined),
      30_000,
      100,
    );

    const leader = (await patroniMembers()).find((m) => m.role === 'leader');
    assert.ok(leader, 'Patroni has a leader');
    const postmaster = Number((await readFile(path.join(stateDir, leader.name, 'data', 'postmaster.pid'), 'utf8')).split('\n')[0]);
    const others = restPorts().filter((_, i) => `pg${i + 1}` !== leader.name);
    const killedAt = Date.now();
    process.kill(postmaster, 'SIGKILL');

    const promoted = (async () => {
      for (;;) {
        for (const port of others) {
          const res = await fetch(`http://127.0.0.1:${port}/primary`, { signal: AbortSignal.timeout(1000) }).catch(() => null);
          if (res?.status === 200) return Date.now();
        }
        if (Date.now() - killedAt > 30_000) throw new Error('no standby was promoted within 30 s');
        await sleep(100);
      }
    })();
    // Tandem's writes: create pipelines through HAProxy until one is created.
    const failures: string[] = [];
    let created: { id: number } | undefined;
    while (!created) {
      assert.ok(Date.now() - killedAt < 40_000, `no pipeline could be created within 40 s of the kill: ${failures.join('; ')}`);
      const res = await api<{ id: number; error?: string }>('POST', '/api/v1/repos/shop/pipelines', {}).catch((err: Error) => err);
      if (!(res instanceof Error) && res.status === 201) created = res.body;
      else {
        failures.push(`${Date.now() - killedAt} ms: ${res instanceof Error ? res.message : `${res.status} ${res.body.error ?? ''}`}`);
        await sleep(100);
      }
    }
    const writtenAt = Date.now();
    const promotedAt = await promoted;
    t.diagnostic(
      `failover: standby promoted ${promotedAt - killedAt} ms after the kill; Tandem wrote again ${writtenAt - killedAt} ms after the kill, ` +
        `${writtenAt - promotedAt} ms after the promotion; failed attempts: ${failures.join('; ') || 'none'}`,
    );
    assert.ok(writtenAt - promotedAt <= 5000, `writes resumed ${writtenAt - promotedAt} ms after the promotion (target 5000)`);

    assert.equal((await finished(created.id, 45_000)).status, 'success', 'a pipeline started after the failover succeeds');
    const across = await finished(spanning.body.id, 60_000);
    t.diagnostic(`the pipeline running across the failover ended ${across.status}`);
    assert.ok(FINAL.includes(across.status));

    // use_pg_rewind: the old primary comes back as a standby of the new one.
    await until(
      'the old primary to rejoin as a standby',
      async () => {
        const members = await patroniMembers().catch(() => []);
        const old = members.find((m) => m.name === leader.name);
        return members.filter((m) => m.state === 'running' || m.state === 'streaming').length === 3 && old && old.role !== 'leader' ? true : undefined;
      },
      30_000,
      250,
    );
    t.diagnostic(`the old primary ${leader.name} rejoined as a standby ${Date.now() - killedAt} ms after the kill`);
  });

  it('routes around a SIGKILLed Tandem replica within 2 s', { timeout: 30_000 }, async (t: TestContext) => {
    const pid = Number((await readFile(path.join(stateDir, 'run', 'server1.pid'), 'utf8')).trim());
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    const outcomes: { at: number; ok: boolean; what: string }[] = [];
    while (Date.now() - killedAt < 3000) {
      const res = await api('GET', '/api/v1/repos/shop/pipelines?limit=1', undefined, 2000).catch((err: Error) => err);
      const what = res instanceof Error ? res.message : String(res.status);
      outcomes.push({ at: Date.now() - killedAt, ok: what === '200', what });
      await sleep(50);
    }
    const failed = outcomes.filter((o) => !o.ok);
    t.diagnostic(
      `after the replica's SIGKILL: ${outcomes.length - failed.length} of ${outcomes.length} requests succeeded; ` +
        `failed: ${failed.map((o) => `${o.at} ms: ${o.what}`).join('; ') || 'none'}`,
    );
    assert.deepEqual(failed.filter((o) => o.at > 2000), [], 'every request from 2 s after the kill succeeds');
    assert.ok(outcomes.some((o) => o.ok && o.at <= 2000), 'a request succeeded within 2 s');
    await until('HAProxy to mark server1 down', async () => ((await haproxyStatus('tandem', 'server1'))?.startsWith('DOWN') ? true : undefined), 3000);
  });
});
