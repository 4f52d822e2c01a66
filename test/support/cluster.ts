// The local HA cluster of ops/cluster/cluster.sh for tests: etcd x3, PostgreSQL x3 under Patroni and
// HAProxy, with as many Tandem servers and agents as the test asks for (none: the database only).
// It runs in a temp state dir on a free block of ports and is torn down even if the test process
// dies without its after hooks.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { repoRoot } from './git.js';
import { serviceSkip } from './skip.js';
import { portFree } from './ports.js';

const execFileP = promisify(execFile);

const SCRIPT = path.join(repoRoot(), 'ops', 'cluster', 'cluster.sh');
export const CLUSTER_CLI = process.env.TANDEM_CLI ?? path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
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

/** Why a suite needing the cluster is skipped, or false (see skip.ts). */
export function clusterSkipReason(suite: string): string | false {
  return serviceSkip(suite, () => {
    const missing = Object.entries(NEEDED).filter(([bin]) => !existsSync(bin));
    return missing.length === 0
      ? null
      : `missing ${missing.map(([bin, pkg]) => `${bin} (${pkg})`).join(', ')}: run scripts/services.sh install`;
  })();
}

/** A base for cluster.sh's 30 consecutive ports, all free and below the ephemeral range. */
async function freeBasePort(): Promise<number> {
  for (;;) {
    const base = 20_000 + 30 * Math.floor(Math.random() * 400);
    const ports = Array.from({ length: 30 }, (_, i) => base + i);
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
}

export interface PatroniMember {
  name: string;
  role: string;
  state: string;
}

export class LocalCluster {
  private constructor(
    readonly stateDir: string,
    private readonly env: NodeJS.ProcessEnv,
    /** ports.env of the state dir: KEY=VALUE, lists comma-separated. */
    readonly ports: Record<string, string>,
  ) {}

  static async up(opts: { servers: number; agents: number }): Promise<LocalCluster> {
    if (!existsSync(CLUSTER_CLI)) throw new Error(`${CLUSTER_CLI} is missing: build Tandem first (npx tsc -p .)`);
    const stateDir = await mkdtemp(path.join(tmpdir(), 'tandem-cluster-'));
    const env = {
      ...process.env,
      TANDEM_CLI: CLUSTER_CLI,
      TANDEM_CLUSTER_DIR: stateDir,
      TANDEM_CLUSTER_BASE_PORT: String(await freeBasePort()),
      TANDEM_CLUSTER_SERVERS: String(opts.servers),
      TANDEM_CLUSTER_AGENTS: String(opts.agents),
      // A test's data need not survive a power cut; fsync costs seconds on a shared CI disk.
      TANDEM_CLUSTER_FSYNC: 'off',
      TANDEM_CLUSTER_GRACE: '3',
    };
    const cluster = new LocalCluster(stateDir, env, {});
    process.once('exit', cluster.downOnExit);
    try {
      await cluster.run(['up'], 150_000);
    } catch (err) {
      await cluster.down().catch(() => undefined);
      throw err;
    }
    const text = await readFile(path.join(stateDir, 'ports.env'), 'utf8');
    for (const line of text.split('\n')) {
      if (/^[A-Z_]+=/.test(line)) cluster.ports[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
    }
    return cluster;
  }

  // Should the test process die without its after hooks, the daemons (in sessions of their own) must not outlive it.
  private readonly downOnExit = (): void => {
    execFileSync('bash', [SCRIPT, 'down', '--purge'], { env: this.env, stdio: 'ignore', timeout: 30_000 });
  };

  async run(command: string[], timeoutMs: number): Promise<string> {
    try {
      const { stdout } = await execFileP('bash', [SCRIPT, ...command], { env: this.env, timeout: timeoutMs, killSignal: 'SIGKILL' });
      return stdout;
    } catch (err) {
      const e = err as Error & { stdout?: string; stderr?: string };
      throw new Error(`cluster.sh ${command.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`, { cause: err });
    }
  }

  async down(): Promise<void> {
    try {
      await this.run(['down', '--purge'], 60_000);
    } finally {
      process.removeListener('exit', this.downOnExit);
      await rm(this.stateDir, { recursive: true, force: true });
    }
  }

  get restPorts(): number[] {
    return this.ports.PATRONI_REST_PORTS.split(',').map(Number);
  }

  /** Every PostgreSQL node, for Tandem's own search of the writable one (no HAProxy in between). */
  multiHostUrl(database = 'tandem'): string {
    const hosts = this.ports.POSTGRES_PORTS.split(',').map((p) => `127.0.0.1:${p}`);
    return `postgresql://postgres@${hosts.join(',')}/${database}?target_session_attrs=read-write`;
  }

  async members(): Promise<PatroniMember[]> {
    for (const port of this.restPorts) {
      const res = await fetch(`http://127.0.0.1:${port}/cluster`, { signal: AbortSignal.timeout(2000) }).catch(() => null);
      if (res?.ok) return ((await res.json()) as { members: PatroniMember[] }).members;
    }
    throw new Error('no Patroni REST API answered /cluster');
  }

  /**
   * SIGKILLs the Patroni leader's postmaster (Patroni itself lives on and notices). Resolves once it
   * is killed; `promoted` resolves when a standby answers /primary.
   */
  async killPrimaryPostgres(): Promise<{ leader: string; killedAt: number; promoted: Promise<number> }> {
    const leader = (await this.members()).find((m) => m.role === 'leader');
    if (!leader) throw new Error('Patroni has no leader');
    const postmaster = Number((await readFile(path.join(this.stateDir, leader.name, 'data', 'postmaster.pid'), 'utf8')).split('\n')[0]);
    const others = this.restPorts.filter((_, i) => `pg${i + 1}` !== leader.name);
    const killedAt = Date.now();
    process.kill(postmaster, 'SIGKILL');
    const promoted = (async () => {
      for (;;) {
        for (const port of others) {
          const res = await fetch(`http://127.0.0.1:${port}/primary`, { signal: AbortSignal.timeout(1000) }).catch(() => null);
          if (res?.status === 200) return Date.now();
        }
        if (Date.now() - killedAt > 30_000)
          throw new Error(`no standby was promoted within 30 s; Patroni said:\n${await this.patroniTail()}`);
        await sleep(100);
      }
    })();
    // Observed by the caller later; a rejection before that must not crash the test process.
    promoted.catch(() => undefined);
    return { leader: leader.name, killedAt, promoted };
  }

  /** The last lines each Patroni node logged, for a failure message. */
  async patroniTail(lines = 15): Promise<string> {
    const tails = await Promise.all(
      this.restPorts.map(async (_, i) => {
        const text = await readFile(path.join(this.stateDir, 'logs', `patroni${i + 1}.log`), 'utf8').catch((err: Error) => err.message);
        return `pg${i + 1}:\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`;
      }),
    );
    return tails.join('\n');
  }

  /** HAProxy's view of one server: UP, DOWN, ... (stats CSV: pxname, svname, ..., status is column 18). */
  async haproxyStatus(proxy: string, server: string): Promise<string | undefined> {
    const csv = await (await fetch(`http://127.0.0.1:${this.ports.HAPROXY_STATS_PORT}/;csv`)).text();
    return csv
      .split('\n')
      .map((line) => line.split(','))
      .find((f) => f[0] === proxy && f[1] === server)?.[17];
  }
}
