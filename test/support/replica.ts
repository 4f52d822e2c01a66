// A `tandem server` process of a multi-replica test: started from the build, ready once it says it
// listens, killed with SIGKILL (a replica that dies, not one that drains).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { CLI, cleanEnv } from '../cli/helpers.js';
import { freePorts } from './ports.js';

export class Replica {
  child: ChildProcess | null = null;
  readonly tail: string[] = [];
  constructor(
    readonly url: string,
    private readonly env: Record<string, string>,
    private readonly args: string[],
  ) {}

  async start(): Promise<void> {
    const child = spawn(process.execPath, [CLI, 'server', ...this.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: cleanEnv(this.env),
    });
    this.child = child;
    createInterface({ input: child.stderr! }).on('line', (l) => this.tail.push(l));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`replica not ready in 30 s:\n${this.tail.join('\n')}`)), 30_000);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        this.tail.push(line);
        if (/^Tandem listening on http:/.test(line)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`replica exited (${code}) before it was ready:\n${this.tail.join('\n')}`));
      });
    });
  }

  /** Its /metrics, as Prometheus scrapes them. */
  async metrics(): Promise<string> {
    return (await fetch(`${this.url}/metrics`)).text();
  }

  async leads(): Promise<boolean> {
    return /^tandem_leader 1$/m.test(await this.metrics());
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

/**
 * `count` replicas on one PostgreSQL database, sharing a master key and an artifact store under
 * `root`, started in order: the first creates the cluster's admin token, the others find it in the
 * database. Each is pushed onto `into` before it starts, so that the caller's cleanup kills it
 * whatever happens. Returns the admin token.
 */
export async function startReplicas(
  into: Replica[],
  opts: { root: string; databaseUrl: string; count: number; env?: Record<string, string> },
): Promise<string> {
  const { root, databaseUrl } = opts;
  await writeFile(path.join(root, 'master.key'), randomBytes(32).toString('base64'), { mode: 0o600 });
  for (const [i, port] of (await freePorts(opts.count)).entries()) {
    const replica = new Replica(`http://127.0.0.1:${port}`, opts.env ?? {}, [
      ...['--database-url', databaseUrl, '--port', String(port), '--listen', '127.0.0.1'],
      ...['--data-dir', path.join(root, `server-${i}`), '--artifacts-url', path.join(root, 'artifacts')],
      ...['--master-key-file', path.join(root, 'master.key'), '--log-level', 'warn'],
    ]);
    into.push(replica);
    await replica.start();
  }
  return (await readFile(path.join(root, 'server-0', 'admin.token'), 'utf8')).trim();
}
