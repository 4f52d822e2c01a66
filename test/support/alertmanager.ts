// A real Alertmanager for tests (Debian package prometheus-alertmanager): its own temp dir, a free
// loopback port, clustering off, one receiver that goes nowhere (the tests read its API v2), stopped
// by its PID.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';
import { serviceSkip } from './skip.js';

const BINARY = 'prometheus-alertmanager';

function binary(): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir !== '' && existsSync(path.join(dir, BINARY))) return path.join(dir, BINARY);
  }
  return null;
}

/** Why Alertmanager suites are skipped here, or false when they run (see skip.ts). */
export const alertmanagerSkipReason = serviceSkip('the Alertmanager tests', () =>
  binary() === null ? 'Alertmanager is not installed (no `prometheus-alertmanager` on PATH): run scripts/services.sh install' : null,
);

/** An alert as GET /api/v2/alerts lists it. */
export interface GettableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL?: string;
  status: { state: 'active' | 'suppressed' | 'unprocessed' };
}

export interface AlertmanagerServer {
  url: string;
  pid: number;
  /** GET /api/v2/alerts: the alerts it holds (resolved ones drop out). */
  alerts(): Promise<GettableAlert[]>;
  stop(): Promise<void>;
}

export async function startAlertmanager(): Promise<AlertmanagerServer> {
  const bin = binary();
  if (bin === null)
    throw new Error('Alertmanager is not installed (no `prometheus-alertmanager` on PATH): run scripts/services.sh install');
  const dir = await mkdtemp(path.join(tmpdir(), 'tandem-am-'));
  const config = path.join(dir, 'alertmanager.yml');
  await writeFile(
    config,
    [
      'route:',
      '  receiver: nowhere',
      '  group_wait: 1s',
      '  group_interval: 1s',
      '  repeat_interval: 1h',
      'receivers:',
      '  - name: nowhere',
      '',
    ].join('\n'),
  );
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const logFile = path.join(dir, `alertmanager-${port}.log`);
    const log = await open(logFile, 'w');
    const child = spawn(
      bin,
      [
        `--config.file=${config}`,
        `--storage.path=${path.join(dir, `data-${port}`)}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--cluster.listen-address=',
      ],
      { stdio: ['ignore', log.fd, log.fd] },
    );
    await log.close();
    const pid = child.pid as number;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const killOnExit = (): void => void child.kill('SIGKILL');
    process.once('exit', killOnExit);
    const url = `http://127.0.0.1:${port}`;
    const stop = async (): Promise<void> => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const grace = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(grace);
      }
      process.removeListener('exit', killOnExit);
    };
    const deadline = Date.now() + 20_000;
    let ready = false;
    while (!ready && Date.now() < deadline && child.exitCode === null) {
      ready = await fetch(`${url}/-/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (!ready) await new Promise((r) => setTimeout(r, 100));
    }
    if (ready) {
      return {
        url,
        pid,
        async alerts() {
          const res = await fetch(`${url}/api/v2/alerts`);
          if (!res.ok) throw new Error(`Alertmanager GET /api/v2/alerts: ${res.status} ${await res.text()}`);
          return (await res.json()) as GettableAlert[];
        },
        async stop() {
          await stop();
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
    await stop();
    const output = readFileSync(logFile, 'utf8');
    // Another process may have taken the port between the probe and the listen.
    if (attempt >= 3 || !/address already in use/i.test(output)) {
      await rm(dir, { recursive: true, force: true });
      throw new Error(`Alertmanager did not become ready on port ${port}:\n${output.slice(-1500)}`);
    }
  }
}
