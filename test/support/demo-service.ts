// The demo web service of examples/deploy/service, run from a release directory of a test's own on a
// free loopback port, and stopped by its PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot } from './git.js';
import { freePort } from './prometheus.js';

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
    const onEarlyExit = (code: number | null): void => fail(new Error(`demo service in ${dir} exited with ${code} before listening: ${output.trim()}`));
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
