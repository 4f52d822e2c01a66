// How responsive a server stays: /healthz latency over a bounded number of probes, each on a new
// connection (an attack that exhausts sockets or the accept queue shows too), from 127.0.0.1 while
// attacks come from other loopback addresses.
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export interface LatencyReport {
  probes: number;
  /** Probes that failed or took longer than the timeout (counted at the timeout in the percentiles). */
  failures: number;
  p50: number;
  p99: number;
  max: number;
}

function probe(url: string, timeoutMs: number): Promise<number> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = request(`${url}/healthz`, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? performance.now() - started : Infinity));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(Infinity));
    req.end();
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * At least `probes` GETs of /healthz, one after another `intervalMs` apart, and more until `during`
 * (an attack that ends by itself) has settled; latencies in milliseconds.
 */
export async function measureHealthLatency(
  url: string,
  opts: { probes?: number; intervalMs?: number; timeoutMs?: number; during?: Promise<unknown> } = {},
): Promise<LatencyReport> {
  const { probes = 200, intervalMs = 10, timeoutMs = 2000 } = opts;
  let attacking = opts.during !== undefined;
  const settled = opts.during?.finally(() => (attacking = false)).catch(() => undefined);
  const latencies: number[] = [];
  while (latencies.length < probes || attacking) {
    latencies.push(await probe(url, timeoutMs));
    await sleep(intervalMs);
  }
  await settled;
  const failures = latencies.filter((l) => !Number.isFinite(l)).length;
  const sorted = latencies.map((l) => (Number.isFinite(l) ? l : timeoutMs)).sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    probes: latencies.length,
    failures,
    p50: round(percentile(sorted, 50)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted[sorted.length - 1]),
  };
}
