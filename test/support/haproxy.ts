// A real HAProxy for tests: one HTTP frontend on a free loopback port in front of one backend whose
// servers start in maintenance, with the runtime API on a unix socket (level admin) to move traffic,
// as a blue-green `switch` command does. Stopped by its PID.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';
import { serviceSkip } from './skip.js';

export const HAPROXY = '/usr/sbin/haproxy';
/** Why HAProxy suites are skipped here, or false (see skip.ts). */
export const haproxySkipReason = serviceSkip('the HAProxy tests', () =>
  !existsSync(HAPROXY) ? `HAProxy is not installed (${HAPROXY}): run scripts/services.sh install` : null,
);

export interface Haproxy {
  /** The frontend, e.g. http://127.0.0.1:23456 */
  url: string;
  /** The runtime API's unix socket. */
  socket: string;
  /** The backend's name in runtime API commands (`set server BACKEND/SERVER state ready`). */
  backend: string;
  pid: number;
  /** Sends runtime API commands (`;`-separated); resolves with the answer. */
  command(text: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * A shell command that sends `commands` (shell words, so "$TANDEM_SLOT" expands) to the runtime API on
 * `socket` and fails when HAProxy answers anything (its answer to a successful `set server` is empty).
 * Node rather than socat, which this machine may not have.
 */
export function runtimeApiShellCommand(socket: string, commands: string): string {
  const script =
    'const c=require("net").connect(process.argv[1]);let a="";c.on("data",(d)=>a+=d);c.on("end",()=>{if(a.trim()){console.error(a.trim());process.exit(1)}});c.end(process.argv[2]+"\\n")';
  return `'${process.execPath}' -e '${script}' '${socket}' "${commands}"`;
}

/**
 * Starts HAProxy in front of `servers` (name -> port on 127.0.0.1), all in maintenance (no traffic).
 * `timeouts` replace the defaults section's (e.g. `{ client: '1h', server: '1h' }` as in ops/cluster).
 */
export async function startHaproxy(servers: Record<string, number>, opts: { timeouts?: Record<string, string> } = {}): Promise<Haproxy> {
  if (!existsSync(HAPROXY)) throw new Error(`HAProxy is not installed (${HAPROXY}): run scripts/services.sh install`);
  const dir = await mkdtemp(path.join(tmpdir(), 'tandem-haproxy-'));
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        return await launch(dir, servers, { connect: '1s', client: '5s', server: '5s', ...opts.timeouts });
      } catch (err) {
        if (attempt >= 3 || !/cannot bind|address already in use/i.test((err as Error).message)) throw err;
      }
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function launch(dir: string, servers: Record<string, number>, timeouts: Record<string, string>): Promise<Haproxy> {
  const port = await freePort();
  const socket = path.join(dir, 'admin.sock');
  const backend = 'app';
  const config = path.join(dir, 'haproxy.cfg');
  await writeFile(
    config,
    [
      'global',
      `  stats socket ${socket} mode 600 level admin`,
      'defaults',
      '  mode http',
      ...Object.entries(timeouts).map(([name, value]) => `  timeout ${name} ${value}`),
      'frontend web',
      `  bind 127.0.0.1:${port}`,
      `  default_backend ${backend}`,
      `backend ${backend}`,
      ...Object.entries(servers).map(([name, p]) => `  server ${name} 127.0.0.1:${p} disabled`),
      '',
    ].join('\n'),
  );
  const logFile = path.join(dir, `haproxy-${port}.log`);
  const log = await open(logFile, 'w');
  const child = spawn(HAPROXY, ['-db', '-f', config], { stdio: ['ignore', log.fd, log.fd] });
  await log.close();
  const pid = child.pid as number;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const command = (text: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const c = connect(socket);
      let answer = '';
      c.on('data', (chunk) => (answer += chunk.toString()));
      c.on('end', () => resolve(answer));
      c.on('error', reject);
      c.end(`${text}\n`);
    });

  const deadline = Date.now() + 10_000;
  while (
    !(await command('show info').then(
      () => true,
      () => false,
    ))
  ) {
    if (!running() || Date.now() > deadline) {
      if (running()) child.kill('SIGKILL');
      await exited;
      process.removeListener('exit', killOnExit);
      throw new Error(`HAProxy did not start (${HAPROXY} -db -f ${config}):\n${readFileSync(logFile, 'utf8').slice(-1500)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    socket,
    backend,
    pid,
    command,
    async stop() {
      if (running()) {
        process.kill(pid, 'SIGTERM');
        const grace = setTimeout(() => child.kill('SIGKILL'), 3_000);
        await exited;
        clearTimeout(grace);
      }
      process.removeListener('exit', killOnExit);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
