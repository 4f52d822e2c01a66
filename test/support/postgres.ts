// Private PostgreSQL 15 servers for tests: each in its own temp dir on a free loopback port, with
// fsync off (a test's data need not survive a crash). initdb and pg_ctl refuse to run as root, so
// as root they run as the `postgres` user on a directory it owns.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { appendFile, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { serviceSkip } from './skip.js';
import { freePort } from './ports.js';

const execFileP = promisify(execFile);

export const PG_BIN = '/usr/lib/postgresql/15/bin';

const asRoot = process.getuid?.() === 0;

function postgresUser(): { uid: number; gid: number } | null {
  try {
    const id = (flag: string) =>
      Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    return null;
  }
}

let available: boolean | null = null;

/** PostgreSQL 15's binaries are installed (and, as root, the `postgres` user exists to run them). */
export function postgresAvailable(): boolean {
  available ??= existsSync(join(PG_BIN, 'postgres')) && existsSync(join(PG_BIN, 'initdb')) && (!asRoot || postgresUser() !== null);
  return available;
}

async function pgTool(tool: string, args: string[]): Promise<string> {
  const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(PG_BIN, tool), ...args]] : [join(PG_BIN, tool), args];
  try {
    const { stdout } = await execFileP(cmd, argv, { timeout: 30_000 });
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`${tool} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`, { cause: err });
  }
}

export interface PostgresServer {
  /** The `postgres` database as the `postgres` superuser (trust auth). */
  url: string;
  port: number;
  dataDir: string;
  /** The postmaster's PID while it runs. */
  pid(): number | null;
  /** A new empty database; returns its URL. */
  createDatabase(): Promise<string>;
  /** Runs one statement on the `postgres` database. */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string): Promise<R[]>;
  /** `pg_ctl restart -m fast`: open sessions are terminated (57P01), the server comes back on the same port. */
  restart(): Promise<void>;
  /** `pg_ctl start` after `halt` (or after its data directory was restored), on the same port. */
  start(): Promise<void>;
  /** `pg_ctl promote`: a standby becomes writable. */
  promote(): Promise<void>;
  /** Stops the server (immediate shutdown) and keeps its directory. */
  halt(): Promise<void>;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

export interface StartPostgresOptions {
  /** Start as a streaming standby of this server (pg_basebackup -R). */
  standbyOf?: PostgresServer;
  /** Extra postgresql.conf settings, e.g. { default_transaction_read_only: 'on' }. */
  settings?: Record<string, string>;
}

let dbCounter = 0;

export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  if (!postgresAvailable()) throw new Error(`PostgreSQL 15 is not installed (${PG_BIN}/postgres): run scripts/services.sh install`);
  const dir = await mkdtemp(join(tmpdir(), 'tandem-pg-'));
  const dataDir = join(dir, 'data');
  const conf = join(dataDir, 'postgresql.conf');
  const pidFile = join(dataDir, 'postmaster.pid');
  const pid = (): number | null => {
    try {
      return Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    } catch {
      return null;
    }
  };
  // Should the test process die without its after hooks, the server must not outlive it.
  const killOnExit = (): void => {
    const p = pid();
    if (p) {
      try {
        process.kill(p, 'SIGQUIT');
      } catch {
        // already gone
      }
    }
  };

  try {
    if (asRoot) {
      const user = postgresUser();
      if (user) await chown(dir, user.uid, user.gid);
    }
    if (options.standbyOf) {
      await pgTool('pg_basebackup', [
        '-h',
        '127.0.0.1',
        '-p',
        String(options.standbyOf.port),
        '-U',
        'postgres',
        '-D',
        dataDir,
        '-R',
        '-X',
        'stream',
        '-c',
        'fast',
      ]);
    } else {
      await pgTool('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
    }
    const settings: Record<string, string> = {
      listen_addresses: "'127.0.0.1'",
      unix_socket_directories: `'${dir}'`,
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      max_connections: '60',
      shared_buffers: '16MB',
      ...options.settings,
    };
    // Appended settings win over earlier ones, also over those a standby copied from its primary.
    await appendFile(
      conf,
      '\n' +
        Object.entries(settings)
          .map(([k, v]) => `${k} = ${v}`)
          .join('\n') +
        '\n',
    );

    let port = 0;
    for (let tries = 1; ; tries++) {
      port = await freePort();
      await appendFile(conf, `port = ${port}\n`);
      try {
        await pgTool('pg_ctl', ['-D', dataDir, '-l', join(dir, 'server.log'), '-w', '-t', '20', 'start']);
        break;
      } catch (err) {
        // Another process may have taken the port between the check and the start.
        if (tries >= 3)
          throw new Error(`${(err as Error).message}\n${readFileSync(join(dir, 'server.log'), 'utf8').slice(-2000)}`, { cause: err });
      }
    }
    process.once('exit', killOnExit);

    const url = `postgresql://postgres@127.0.0.1:${port}/postgres`;
    const query = async <R extends pg.QueryResultRow>(text: string): Promise<R[]> => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        return (await client.query<R>(text)).rows;
      } finally {
        await client.end();
      }
    };
    const halt = async (): Promise<void> => {
      if (pid() === null) return;
      await pgTool('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']).catch(() => {
        // pg_ctl could not stop it: end the postmaster we started, by its PID.
        const p = pid();
        if (p) process.kill(p, 'SIGKILL');
      });
    };
    return {
      url,
      port,
      dataDir,
      pid,
      query,
      async createDatabase() {
        const name = `tandem_${process.pid}_${++dbCounter}`;
        await query(`create database ${name}`);
        return `postgresql://postgres@127.0.0.1:${port}/${name}`;
      },
      async restart() {
        await pgTool('pg_ctl', ['-D', dataDir, '-l', join(dir, 'server.log'), '-m', 'fast', '-w', '-t', '20', 'restart']);
      },
      async start() {
        await pgTool('pg_ctl', ['-D', dataDir, '-l', join(dir, 'server.log'), '-w', '-t', '30', 'start']);
      },
      async promote() {
        await pgTool('pg_ctl', ['-D', dataDir, '-w', 'promote']);
      },
      halt,
      async stop() {
        await halt();
        process.removeListener('exit', killOnExit);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    killOnExit();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Why PostgreSQL suites are skipped here, or false when they run (see skip.ts). */
export const postgresSkipReason = serviceSkip('the PostgreSQL tests', () =>
  !postgresAvailable() ? `PostgreSQL 15 is not installed (${PG_BIN}/postgres missing): run scripts/services.sh install` : null,
);

/**
 * One server for the calling test file, started on first use and stopped after the file's tests.
 * Call at the top level of a test file (it registers an `after` hook there).
 */
export function postgresForFile(after: (fn: () => Promise<void>) => void): () => Promise<PostgresServer> {
  let server: Promise<PostgresServer> | null = null;
  after(async () => {
    await (await server?.catch(() => null))?.stop();
  });
  return () => (server ??= startPostgres());
}
