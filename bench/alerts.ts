// Alerting costs and speed: the leader's evaluation time per SLO (the built-in ones from 30 days
// of recorded counts, declared ones through a real Prometheus, Tandem's own signals), and the
// detection delay from the start of an error burst to the webhook's firing message, at the
// production windows and default intervals: a declared service's outage seen through Prometheus,
// and a burst of SIGKILLed agents failing pipelines (the built-in pipeline-system-errors SLO).
import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { EvaluationReport } from '../src/server/alerting.js';
import { BUILTIN_SLOS } from '../src/monitor/slo.js';
import { agentKillBurst, burstPipeline, stopGroups } from '../test/support/agent-burst.js';
import { HttpSink } from '../test/support/http-sink.js';
import { prometheusAvailable, startPrometheus, type PrometheusServer } from '../test/support/prometheus.js';
import { TestTandem } from '../test/support/tandem.js';
import { fmt, median, sleep, tempDir, timed, type BenchResult } from './common.js';
import { fillCounts } from './metrics.js';

const DECLARED = 20;
const EVALUATIONS = 10;
const OUTAGES = 5;
const BURSTS = 3;

/** Services' request counters as Prometheus scrapes them: 100 more requests per scrape each, all failed for those in `failing`. */
class Services {
  readonly failing = new Set<string>();
  private readonly counts = new Map<string, { ok: number; failed: number }>();
  private readonly server: Server;
  address = '';

  constructor(readonly names: string[]) {
    for (const n of names) this.counts.set(n, { ok: 0, failed: 0 });
    this.server = createServer((_req, res) => {
      const lines = ['# TYPE http_requests_total counter'];
      for (const [name, c] of this.counts) {
        if (this.failing.has(name)) c.failed += 100;
        else c.ok += 100;
        lines.push(
          `http_requests_total{service="${name}",code="200"} ${c.ok}`,
          `http_requests_total{service="${name}",code="500"} ${c.failed}`,
        );
      }
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(lines.join('\n') + '\n');
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.address = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const slo = (name: string, service: string, objective: number) => ({
  name,
  repo: service,
  objective,
  sli: {
    errors: `sum(rate(http_requests_total{service="${service}",code=~"5.."}[{{.window}}])) or vector(0)`,
    total: `sum(rate(http_requests_total{service="${service}"}[{{.window}}]))`,
  },
});

interface Message {
  status: string;
  alert: { name: string; severity: string; labels: Record<string, string> };
}

const firingFor = (sink: HttpSink<Message>, sloName: string) =>
  sink.requests.find((r) => r.body.status === 'firing' && r.body.alert.severity === 'page' && r.body.alert.labels.slo === sloName);

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`alerts bench: no ${what} within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** The leader's evaluation, timed per part, with 30 days of counts and DECLARED SLOs through Prometheus. */
async function evaluationTimes(prometheus: PrometheusServer, services: Services, dir: string, log: (line: string) => void) {
  const dbPath = path.join(dir, 'evaluation.db');
  const rows = await fillCounts(dbPath, Math.floor(Date.now() / 60_000) * 60_000);
  const declared = services.names.filter((n) => n.startsWith('eval-')).map((n) => slo(n, n, 99.9));
  // The duty's own loop is out of the way: each evaluation is asked for and timed.
  const tandem = await TestTandem.start({
    agents: 0,
    settings: { databaseUrl: dbPath, prometheusUrl: prometheus.url, slos: declared, alerting: { evaluationIntervalSeconds: 3600 } },
  });
  try {
    const reports: EvaluationReport[] = [];
    const walls: number[] = [];
    for (let i = 0; i < EVALUATIONS; i++) {
      const t = await timed(() => tandem.server.alerting.evaluate());
      if (Object.keys(t.value.failures).length > 0) throw new Error(`alerts bench: ${JSON.stringify(t.value.failures)}`);
      reports.push(t.value);
      walls.push(t.ms);
    }
    log(
      `alerts: ${EVALUATIONS} evaluations of ${BUILTIN_SLOS.length} built-in and ${declared.length} declared SLOs, median ${fmt(median(walls))} ms`,
    );
    return {
      rows,
      declared: declared.length,
      wall: median(walls),
      builtinPerSlo: median(reports.map((r) => r.timings.builtin)) / BUILTIN_SLOS.length,
      declaredLatency: median(reports.flatMap((r) => declared.map((d) => r.timings[d.name]))),
      self: median(reports.map((r) => r.timings.self)),
    };
  } finally {
    await tandem.close();
  }
}

/** A service goes from healthy to failing every request: its start to the webhook's page, at the workbook's windows and the default interval. */
async function outageDelays(prometheus: PrometheusServer, services: Services, log: (line: string) => void): Promise<number[]> {
  const sink = await new HttpSink<Message>().start();
  const names = services.names.filter((n) => n.startsWith('outage-'));
  const tandem = await TestTandem.start({
    agents: 0,
    settings: {
      prometheusUrl: prometheus.url,
      slos: names.map((n) => slo(n, n, 99.9)),
      alerting: { notifiers: [{ type: 'webhook', url: `${sink.url}/page` }] },
    },
  });
  try {
    const delays: number[] = [];
    for (const name of names) {
      // Starts at a random phase of the evaluation interval, as outages do.
      await sleep(Math.random() * 15_000);
      const start = Date.now();
      services.failing.add(name);
      const message = await waitFor(`page for ${name}`, () => firingFor(sink, name), 60_000);
      delays.push(message.at - start);
      log(`alerts: outage of ${name} paged after ${message.at - start} ms`);
    }
    return delays;
  } finally {
    await tandem.close();
    await sink.stop();
  }
}

/** Three jobs' agent SIGKILLed (a fresh server each time, defaults but one system attempt): the kill to the webhook's page. */
async function burstDelays(dir: string, log: (line: string) => void): Promise<number[]> {
  const delays: number[] = [];
  for (let i = 0; i < BURSTS; i++) {
    const sink = await new HttpSink<Message>().start();
    const tandem = await TestTandem.start({
      agents: 0,
      settings: { maxSystemAttempts: 1, alerting: { notifiers: [{ type: 'webhook', url: `${sink.url}/page` }] } },
    });
    const groups: number[] = [];
    try {
      const pidDir = path.join(dir, `pids-${i}`);
      await mkdir(pidDir, { recursive: true });
      const { name } = await tandem.repo({ '.gitlab-ci.yml': burstPipeline(pidDir) });
      const burst = await agentKillBurst(tandem, name, pidDir, 3, `doomed-${i}`);
      groups.push(...burst.jobGroups);
      const message = await waitFor('page for pipeline-system-errors', () => firingFor(sink, 'pipeline-system-errors'), 90_000);
      delays.push(message.at - burst.killedAt);
      log(`alerts: burst ${i + 1} paged after ${message.at - burst.killedAt} ms`);
    } finally {
      stopGroups(groups);
      await tandem.close();
      await sink.stop();
    }
  }
  return delays;
}

export async function alerts(log: (line: string) => void): Promise<BenchResult> {
  if (!prometheusAvailable()) throw new Error('alerts bench: Prometheus is not installed (scripts/services.sh install)');
  const tmp = await tempDir('alerts');
  const names = [...Array.from({ length: DECLARED }, (_, i) => `eval-${i}`), ...Array.from({ length: OUTAGES }, (_, i) => `outage-${i}`)];
  const services = await new Services(names).start();
  const prometheus = await startPrometheus({ targets: [services.address] });
  try {
    // An hour of healthy history is more than a bench can wait for; a minute of it is what the
    // outages start from (see the notes for what a longer history changes).
    await sleep(60_000);
    const e = await evaluationTimes(prometheus, services, tmp.dir, log);
    const outages = await outageDelays(prometheus, services, log);
    const bursts = await burstDelays(tmp.dir, log);
    const range = (v: number[]) => `${fmt(median(v) / 1000, 1)} (${fmt(Math.min(...v) / 1000, 1)}–${fmt(Math.max(...v) / 1000, 1)})`;
    return {
      id: 'alerts',
      title: 'Alerting: evaluation time per SLO, detection delay',
      header: ['what', 'measure', 'value'],
      rows: [
        [
          `built-in SLO from ${e.rows.toLocaleString('en')} minute rows (30 days × ${BUILTIN_SLOS.length} SLIs)`,
          `ms per SLO, median of ${EVALUATIONS}`,
          fmt(e.builtinPerSlo),
        ],
        [
          `declared SLO through Prometheus (16 instant queries), ${e.declared} at once`,
          `ms per SLO (latency), median of ${EVALUATIONS}`,
          fmt(e.declaredLatency),
        ],
        ["Tandem's own signals (heartbeats, leader, database, artifact store, backups)", `ms, median of ${EVALUATIONS}`, fmt(e.self)],
        [
          `whole evaluation: ${BUILTIN_SLOS.length} built-in, ${e.declared} declared, own signals, states written`,
          `ms, median of ${EVALUATIONS}`,
          fmt(e.wall),
        ],
        [
          `detection: a service's outage (100% errors) to the page, through Prometheus`,
          `s, median (min–max) of ${OUTAGES}`,
          range(outages),
        ],
        ["detection: 3 jobs' agent SIGKILLed to the page (pipeline-system-errors)", `s, median (min–max) of ${BURSTS}`, range(bursts)],
      ],
      notes: [
        "Production settings throughout: the workbook's windows (`sloWindowScale` 1), `alerting.evaluationIntervalSeconds` 15, SLI counts flushed every 15 s, an agent's disconnect grace of 3 s, Prometheus scraping every second. Declared SLOs are evaluated concurrently, so their latency overlaps; the whole evaluation is what the leader spends per interval.",
        'An outage is seen when Prometheus has two failing scrapes in the 5m window and the next evaluation runs (up to 15 s later); then the message is sent at once. The services had a minute of healthy history, so the 1h window crossed 14.4 × the budget (1.44 % for 99.9 %) within a second; after a full healthy hour a total outage needs 1.44 % of an hour, 52 s, before the page, by design of the burn-rate table.',
        "A burst of killed agents is seen when the agents' jobs are failed (the 3 s grace), the failed pipelines are in the recorded counts (every replica flushes every 15 s; the leader flushes its own before it evaluates, and the pipelines fail on the leader here) and the next evaluation runs. Each burst ran on a fresh server at about the same time after its start, so at about the same phase of the 15 s interval: hence the narrow range; the delay is the grace plus up to one interval.",
      ],
    };
  } finally {
    await prometheus.stop();
    await services.stop();
    await tmp.remove();
  }
}
