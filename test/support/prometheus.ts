// A real Prometheus for tests: its own temp dir, a free loopback port, scraping every second, stopped by
// its PID. Targets come from a file_sd file, so a test file can share one Prometheus and point it at
// services it starts later.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, open, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { serviceSkip } from './skip.js';
import { freePort } from './ports.js';

const BINARY = 'prometheus';

let available: boolean | null = null;

/** The `prometheus` binary is on PATH (Debian package `prometheus`). */
export function prometheusAvailable(): boolean {
  available ??= (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir !== '' && existsSync(path.join(dir, BINARY)));
  return available;
}

/** Why Prometheus suites are skipped here, or false when they run (see skip.ts). */
export const prometheusSkipReason = serviceSkip('the Prometheus tests', () =>
  !prometheusAvailable() ? 'Prometheus is not installed (no `prometheus` on PATH): run scripts/services.sh install' : null,
);

export interface PromSample {
  labels: Record<string, string>;
  value: number;
}

export interface PrometheusServer {
  /** Base URL, e.g. http://127.0.0.1:23456 */
  url: string;
  port: number;
  pid: number;
  /** Replaces the scrape targets (host:port) and resolves once each has been scraped (`up == 1`). */
  setTargets(targets: string[]): Promise<void>;
  /** An instant query; the vector's samples (a scalar as one sample without labels). */
  query(promql: string): Promise<PromSample[]>;
  /** Stops the server (SIGTERM, SIGKILL after a grace period) and removes its directory. */
  stop(): Promise<void>;
}

export interface StartPrometheusOptions {
  /** host:port targets to scrape from the start; the call resolves once each is up. */
  targets?: string[];
  /** The scrape job's name (the `job` label); default "app". */
  job?: string;
}

export async function startPrometheus(options: StartPrometheusOptions = {}): Promise<PrometheusServer> {
  if (!prometheusAvailable()) throw new Error('Prometheus is not installed (no `prometheus` on PATH): run scripts/services.sh install');
  const dir = await mkdtemp(path.join(tmpdir(), 'tandem-prom-'));
  const targetsFile = path.join(dir, 'targets.json');
  const writeTargets = async (targets: string[]): Promise<void> => {
    // Renamed into place, so Prometheus never reads a half-written file.
    await writeFile(`${targetsFile}.tmp`, JSON.stringify([{ targets }]));
    await rename(`${targetsFile}.tmp`, targetsFile);
  };
  await writeTargets(options.targets ?? []);
  const config = path.join(dir, 'prometheus.yml');
  await writeFile(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      `  - job_name: ${JSON.stringify(options.job ?? 'app')}`,
      '    file_sd_configs:',
      `      - files: [${JSON.stringify(targetsFile)}]`,
      '        refresh_interval: 1s',
      '',
    ].join('\n'),
  );

  let server: PrometheusServer | null = null;
  try {
    for (let attempt = 1; !server; attempt++) {
      try {
        server = await launch(dir, config, writeTargets);
      } catch (err) {
        // Another process may have taken the port between the probe and the listen.
        if (attempt >= 3 || !/address already in use/i.test((err as Error).message)) throw err;
      }
    }
    await server.setTargets(options.targets ?? []);
    return server;
  } catch (err) {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function launch(dir: string, config: string, writeTargets: (targets: string[]) => Promise<void>): Promise<PrometheusServer> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logFile = path.join(dir, `prometheus-${port}.log`);
  const log = await open(logFile, 'w');
  const child = spawn(
    BINARY,
    [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, `data-${port}`)}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: ['ignore', log.fd, log.fd] },
  );
  await log.close();
  const pid = child.pid as number;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const logTail = (): string => readFileSync(logFile, 'utf8').slice(-1500);
  const running = (): boolean => child.exitCode === null && child.signalCode === null;

  const query = async (promql: string): Promise<PromSample[]> => {
    const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as { status: string; error?: string; data: { resultType: string; result: unknown } };
    if (body.status !== 'success') throw new Error(`Prometheus query ${promql} failed: ${body.error}`);
    if (body.data.resultType === 'scalar') return [{ labels: {}, value: Number((body.data.result as [number, string])[1]) }];
    return (body.data.result as { metric: Record<string, string>; value: [number, string] }[]).map((r) => ({
      labels: r.metric,
      value: Number(r.value[1]),
    }));
  };

  const waitUntil = async (what: string, ready: () => Promise<boolean>): Promise<void> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (!running()) throw new Error(`Prometheus on port ${port} exited while waiting for ${what}:\n${logTail()}`);
      if (await ready().catch(() => false)) return;
      if (Date.now() > deadline) throw new Error(`Prometheus on port ${port}: timed out waiting for ${what}:\n${logTail()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  const server: PrometheusServer = {
    url,
    port,
    pid,
    query,
    async setTargets(targets) {
      await writeTargets(targets);
      for (const target of targets) {
        await waitUntil(`the first scrape of ${target}`, async () =>
          (await query(`up{instance=${JSON.stringify(target)}}`)).some((s) => s.value === 1),
        );
      }
    },
    async stop() {
      if (running()) {
        process.kill(pid, 'SIGTERM');
        const grace = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(grace);
      }
      process.removeListener('exit', killOnExit);
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitUntil('readiness', async () => (await fetch(`${url}/-/ready`)).ok);
  } catch (err) {
    if (running()) child.kill('SIGKILL');
    await exited;
    process.removeListener('exit', killOnExit);
    throw err;
  }
  return server;
}
