// The demo web service of examples/deploy/service, run from a release directory of a test's own on a
// free loopback port, and stopped by its PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot } from './git.js';
import { freePort } from './ports.js';

/** The service's source: one file, deployable as a release directory. */
export function demoServiceSource(): string {
  return path.join(repoRoot(), 'examples', 'deploy', 'service', 'server.mjs');
}

/** Makes `dir` a release of the demo service reporting `version`. */
export async function writeDemoRelease(dir: string, version: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await copyFile(demoServiceSource(), path.join(dir, 'server.mjs'));
  await writeFile(path.join(dir, 'VERSION'), `${version}\n`);
}

export interface DemoService {
  url: string;
  /** host:port, as a Prometheus target. */
  address: string;
  port: number;
  pid: number;
  /** SIGTERM, then SIGKILL after a grace period; resolves once the process is gone. */
  stop(): Promise<void>;
}

/** Starts `dir/server.mjs` (see writeDemoRelease); resolves once it listens. */
export async function startDemoService(dir: string, env: Record<string, string> = {}): Promise<DemoService> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await launch(dir, port, env);
    } catch (err) {
      // Another process may have taken the port between the probe and the listen.
      if (attempt >= 3 || !/EADDRINUSE/.test((err as Error).message)) throw err;
    }
  }
}

function launch(dir: string, port: number, env: Record<string, string>): Promise<DemoService> {
  const child = spawn(process.execPath, [path.join(dir, 'server.mjs')], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  let output = '';
  return new Promise<DemoService>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`demo service in ${dir} did not listen within 10s: ${output}`)), 10_000);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      process.removeListener('exit', killOnExit);
      child.kill('SIGKILL');
      reject(err);
    };
    const onEarlyExit = (code: number | null): void =>
      fail(new Error(`demo service in ${dir} exited with ${code} before listening: ${output.trim()}`));
    child.once('exit', onEarlyExit);
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (!output.includes('listening on')) return;
      clearTimeout(timer);
      child.removeListener('exit', onEarlyExit);
      resolve(service(child, port, exited, () => process.removeListener('exit', killOnExit)));
    });
  });
}

function service(child: ChildProcess, port: number, exited: Promise<void>, forget: () => void): DemoService {
  const pid = child.pid as number;
  return {
    url: `http://127.0.0.1:${port}`,
    address: `127.0.0.1:${port}`,
    port,
    pid,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(pid, 'SIGTERM');
        const grace = setTimeout(() => child.kill('SIGKILL'), 3_000);
        await exited;
        clearTimeout(grace);
      }
      forget();
    },
  };
}

/**
 * A shell script that restarts the demo service of a deploy dir, for a deploy target's service
 * `restart` (`sh service.sh`, run in the release dir <deploy dir>/releases/<id>): it stops the one
 * running for this slot (TANDEM_SLOT, or "main"), starts this release's and returns once it listens.
 * The port is $PORT (e.g. a blue-green slot's variable), else the deploy dir's `port` file; a file
 * `unhealthy` in the deploy dir makes /health fail on that host only. State lives in the deploy dir:
 * <slot>.pid, <slot>.log.
 */
function demoServiceScript(): string {
  return `set -eu
d=$(cd ../.. && pwd)
s=\${TANDEM_SLOT:-main}
[ -n "\${PORT:-}" ] || PORT=$(cat "$d/port")
[ ! -f "$d/unhealthy" ] || export HEALTHY=0
pidfile="$d/$s.pid"
if [ -f "$pidfile" ]; then
  old=$(cat "$pidfile")
  # Only our own server: a stale pid file may name another process by now.
  if grep -q server.mjs "/proc/$old/cmdline" 2>/dev/null; then
    kill "$old" 2>/dev/null || true
    # Until it is gone or a zombie (which holds no socket): its port is then free.
    while [ -d "/proc/$old" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$old/stat" 2>/dev/null; do sleep 0.01; done
  fi
  rm -f "$pidfile"
fi
rm -f "$pidfile.new"
PORT=$PORT PIDFILE="$pidfile.new" setsid '${process.execPath}' server.mjs >>"$d/$s.log" 2>&1 </dev/null &
i=0
while [ ! -s "$pidfile.new" ]; do
  i=$((i + 1))
  if [ "$i" -gt 1000 ]; then echo "the demo service did not start: $(tail -n 3 "$d/$s.log")" >&2; exit 1; fi
  sleep 0.01
done
mv "$pidfile.new" "$pidfile"
echo "demo service $(cat VERSION) on port $PORT (pid $(cat "$pidfile"))"
`;
}

/** The deploy target's service commands for a release written by writeDeployableDemoRelease. */
export const DEMO_SERVICE_COMMANDS = { restart: 'sh service.sh' };

/** A demo release with its service script (service.sh); `unhealthy` makes its /health fail everywhere. */
export async function writeDeployableDemoRelease(
  dir: string,
  version: string,
  options: { unhealthy?: boolean; errorRate?: number } = {},
): Promise<string> {
  await writeDemoRelease(dir, version);
  await writeFile(path.join(dir, 'service.sh'), demoServiceScript());
  if (options.unhealthy) await writeFile(path.join(dir, 'UNHEALTHY'), '');
  if (options.errorRate !== undefined) await writeFile(path.join(dir, 'ERROR_RATE'), `${options.errorRate}\n`);
  return dir;
}

/** Stops the demo services that service.sh started in a deploy dir (its *.pid files). */
export async function stopDeployedDemoServices(deployDir: string): Promise<void> {
  const files = (await readdir(deployDir).catch(() => [] as string[])).filter((f) => f.endsWith('.pid'));
  await Promise.all(
    files.map(async (file) => {
      const pid = Number(await readFile(path.join(deployDir, file), 'utf8').catch(() => ''));
      if (!Number.isInteger(pid) || pid <= 0) return;
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (!cmdline.includes('server.mjs')) return;
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 200 && (await processAlive(pid)); i++) await new Promise((resolve) => setTimeout(resolve, 10));
      if (await processAlive(pid)) process.kill(pid, 'SIGKILL');
    }),
  );
}

/** Running, and not a zombie waiting for the slow reaper of this machine's PID 1. */
async function processAlive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  return stat !== null && !/^\d+ \(.*\) Z/.test(stat);
}
