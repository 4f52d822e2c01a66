// Private OpenSSH servers for tests: each a real `sshd -D -e` on a free loopback port with its own host
// key, all accepting one client key generated for the test file. Several servers make several "hosts".
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { serviceSkip } from './skip.js';
import { freePort } from './ports.js';

const execFileP = promisify(execFile);

export const SSHD = '/usr/sbin/sshd';

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, command)));
}

export function sshdAvailable(): boolean {
  return existsSync(SSHD) && onPath('ssh') && onPath('ssh-keygen');
}

export interface SshdServer {
  host: '127.0.0.1';
  port: number;
  /** `[127.0.0.1]:PORT TYPE KEY`: this server's host key as a known_hosts line. */
  knownHostsLine: string;
  pid: number;
  stop(): Promise<void>;
}

export interface SshdHosts {
  servers: SshdServer[];
  /** The private key every server accepts. */
  identityFile: string;
  /** The user to log in as (the test's own user). */
  user: string;
  /** Stops every server and removes the keys and configs. */
  stop(): Promise<void>;
}

async function keygen(file: string): Promise<void> {
  await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'tandem-test', '-f', file], { timeout: 10_000 });
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Starts sshd on a free port; resolves once it listens, retrying when another process took the port. */
async function startOne(dir: string, index: number, authorizedKeys: string, sessionEnv: Record<string, string>): Promise<SshdServer> {
  const hostKey = join(dir, `host_key_${index}`);
  await keygen(hostKey);
  const [type, key] = (await readFile(`${hostKey}.pub`, 'utf8')).trim().split(/\s+/);
  for (let tries = 1; ; tries++) {
    const port = await freePort();
    const config = join(dir, `sshd_config_${index}`);
    await writeFile(
      config,
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${hostKey}`,
        `PidFile ${join(dir, `sshd_${index}.pid`)}`,
        `AuthorizedKeysFile ${authorizedKeys}`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        // The keys live under /tmp, which StrictModes would reject.
        'StrictModes no',
        'PrintMotd no',
        ...Object.entries(sessionEnv).map(([name, value]) => `SetEnv ${name}=${value}`),
        '',
      ].join('\n'),
    );
    const child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    const stderr: string[] = [];
    const listening = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 10_000);
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        // Kept short: sshd logs every connection here for as long as it runs.
        if (stderr.length < 50) stderr.push(chunk);
        if (chunk.includes('Server listening on')) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      child.once('exit', () => {
        clearTimeout(timer);
        resolve(false);
      });
      child.once('error', () => resolve(false));
    });
    const kill = (): void => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    if (listening && child.pid !== undefined) {
      process.once('exit', kill);
      return {
        host: '127.0.0.1',
        port,
        pid: child.pid,
        knownHostsLine: `[127.0.0.1]:${port} ${type} ${key}`,
        async stop() {
          process.removeListener('exit', kill);
          child.kill('SIGTERM');
          if (!(await waitExit(child, 2_000))) {
            kill();
            await waitExit(child, 2_000);
          }
        },
      };
    }
    kill();
    if (tries >= 3) throw new Error(`sshd did not start (${SSHD} -D -e -f ${config}):\n${stderr.join('').slice(-2000)}`);
  }
}

/**
 * `count` sshd servers accepting one fresh client key, for the test's own user. `sessionEnv` is set
 * in every session (sshd's SetEnv).
 */
export async function startSshd(count: number, sessionEnv: Record<string, string> = {}): Promise<SshdHosts> {
  if (!sshdAvailable()) throw new Error(`OpenSSH is not installed (${SSHD}, ssh, ssh-keygen): run scripts/services.sh install`);
  // sshd refuses to start without its privilege separation directory.
  if (process.getuid?.() === 0) await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = await mkdtemp(join(tmpdir(), 'tandem-sshd-'));
  const servers: SshdServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const identityFile = join(dir, 'client_key');
    await keygen(identityFile);
    const authorizedKeys = join(dir, 'authorized_keys');
    await writeFile(authorizedKeys, await readFile(`${identityFile}.pub`, 'utf8'));
    for (let i = 0; i < count; i++) servers.push(await startOne(dir, i, authorizedKeys, sessionEnv));
    return { servers, identityFile, user: userInfo().username, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Why the ssh suites are skipped here, or false when they run (see skip.ts). */
export const sshdSkipReason = serviceSkip('the ssh tests', () =>
  !sshdAvailable() ? `OpenSSH is not installed (${SSHD}, ssh or ssh-keygen missing): run scripts/services.sh install` : null,
);
