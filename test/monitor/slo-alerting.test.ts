// SLOs of a deployed service, evaluated by Tandem's leader through a real Prometheus that scrapes
// the service and the Tandem server: when the service starts failing after a deploy, the burn-rate
// alert of its environment rolls the environment back to the release before (the same rollback
// an Alertmanager alert asks for), and its spent error budget freezes further deploys, which wait
// as for a protected environment until a maintainer plays one (an override that is recorded).
// Windows are the workbook's divided by sloWindowScale (60: 5m lasts 5 s, 30d lasts 12 h).
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AlertView, FreezeView, ReleaseJson, SloStatus } from '../../src/api/index.js';
import { tandem as runCli } from '../cli/helpers.js';
import { until } from '../e2e/helpers.js';
import { prometheusSkipReason, startPrometheus, type PrometheusServer } from '../support/prometheus.js';
import { TestTandem } from '../support/tandem.js';

/** The service's own metrics: each scrape counts 50 more requests, `errorRatio` of them failed. */
class ShopService {
  errorRatio = 0;
  private ok = 0;
  private failed = 0;
  private readonly server: Server = createServer((_req, res) => {
    const failed = Math.round(50 * this.errorRatio);
    this.failed += failed;
    this.ok += 50 - failed;
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(
      `# TYPE http_requests_total counter\nhttp_requests_total{code="200"} ${this.ok}\nhttp_requests_total{code="500"} ${this.failed}\n`,
    );
  });
  address = '';
  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.address = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const SLO = {
  name: 'shop-availability',
  repo: 'shop',
  environment: 'production',
  objective: 99,
  freezeDeploys: true,
  sli: {
    errors: 'sum(rate(http_requests_total{job="app",code=~"5.."}[{{.window}}])) or vector(0)',
    total: 'sum(rate(http_requests_total{job="app"}[{{.window}}]))',
  },
};

describe('SLO alerts of a deployed service', { skip: prometheusSkipReason() }, () => {
  const shop = new ShopService();
  let prometheus: PrometheusServer;
  let tandem: TestTandem;

  before(async () => {
    await shop.start();
    prometheus = await startPrometheus({ targets: [shop.address] });
    tandem = await TestTandem.start({
      agents: 1,
      settings: { prometheusUrl: prometheus.url, sloWindowScale: 60, slos: [SLO], alerting: { evaluationIntervalSeconds: 0.5 } },
    });
    await prometheus.setTargets([shop.address, new URL(tandem.url).host]);
  });
  after(async () => {
    await tandem?.close();
    await prometheus?.stop();
    await shop.stop();
  });

  const cli = (args: string[]) => runCli([...args, '--server', tandem.url, '--token', tandem.token]);
  const releases = async () => (await tandem.api<ReleaseJson[]>('GET', '/api/v1/repos/shop/environments/production/releases')).body;

  it(
    'a burn after a deploy rolls the environment back; the spent budget freezes deploys until a maintainer overrides',
    { timeout: 60_000 },
    async () => {
      const dir = path.join(tandem.dataDir, 'shop-production');
      await mkdir(dir, { recursive: true });
      const file = `deploy:\n  script: [echo deploying]\n  environment: { name: production }\n  deploy:\n    source: app\n    target: { local: { dir: "${dir}", keep: 5 } }\n`;
      const { remote } = await tandem.repo({ '.gitlab-ci.yml': file, 'app/VERSION': 'v1\n' }, { name: 'shop' });
      assert.equal((await tandem.waitForPipeline(await tandem.trigger('shop'), undefined, 30_000)).status, 'success');
      await remote.commit({ 'app/VERSION': 'v2\n' }, 'v2');
      await remote.push('main');
      assert.equal((await tandem.waitForPipeline(await tandem.trigger('shop'), undefined, 30_000)).status, 'success');
      const [v2, v1] = await releases();
      assert.deepEqual([v2.status, v1.status], ['live', 'superseded']);

      // Measured through Prometheus and healthy so far.
      const healthy = await until('the SLO measured', async () =>
        (await tandem.api<{ slos: SloStatus[] }>('GET', '/api/v1/slos')).body.slos.find(
          (s) => s.name === SLO.name && s.evaluation && s.evaluation.budget.total > 0,
        ),
      );
      assert.equal(healthy.evaluation!.firing, null);

      shop.errorRatio = 1;
      const burning = await until(
        'the page alert',
        async () =>
          (await tandem.api<AlertView[]>('GET', '/api/v1/alerts')).body.find(
            (a) => a.name === 'TandemErrorBudgetBurn' && a.severity === 'page',
          ),
        20_000,
      );
      assert.deepEqual(burning.labels, {
        alertname: 'TandemErrorBudgetBurn',
        severity: 'page',
        slo: SLO.name,
        repo: 'shop',
        environment: 'production',
      });

      const rollback = await until(
        'the rollback live',
        async () => (await releases()).find((r) => r.kind === 'rollback' && r.status === 'live'),
        30_000,
      );
      assert.equal(rollback.rollbackOf, v1.id);
      assert.match(rollback.createdBy, /^alert: TandemErrorBudgetBurn \(shop-availability\)$/);
      const detail = await tandem.api<{ notifications: { notifier: string; status: string; result: string }[] }>(
        'GET',
        `/api/v1/alerts/${burning.id}`,
      );
      assert.deepEqual(
        detail.body.notifications.map((n) => [n.notifier, n.status]),
        [['(rollback)', 'sent']],
      );
      assert.match(detail.body.notifications[0].result, new RegExp(`^rollback: release ${rollback.id}, pipeline \\d+$`));

      // The budget of 12 h (30 d at this scale) is spent: the environment is frozen.
      const [freeze] = await until(
        'the freeze',
        async () => {
          const list = (await tandem.api<FreezeView[]>('GET', '/api/v1/freezes')).body;
          return list.length > 0 ? list : undefined;
        },
        20_000,
      );
      assert.deepEqual([freeze.repo, freeze.environment, freeze.slo, freeze.liftedAt], ['shop', 'production', SLO.name, null]);

      await remote.commit({ 'app/VERSION': 'v3\n' }, 'v3');
      await remote.push('main');
      const waiting = await tandem.waitForPipeline(await tandem.trigger('shop'), (p) => p.jobs[0].status === 'manual', 15_000);
      assert.equal(waiting.status, 'manual');
      const listed = await cli(['freeze', 'list']);
      assert.match(listed.stdout, /\nshop\/production\s+shop-availability\s+(?:just now|\d+ \w+ ago)\s+-\s+-\n/);

      const played = await tandem.api('POST', `/api/v1/jobs/${waiting.jobs[0].id}/play`);
      assert.equal(played.status, 200, played.text);
      assert.equal((await tandem.waitForPipeline(waiting.id, undefined, 30_000)).status, 'success');
      const [overridden] = (await tandem.api<FreezeView[]>('GET', '/api/v1/freezes')).body;
      assert.deepEqual(
        overridden.overrides.map((o) => [o.jobId, o.actor]),
        [[waiting.jobs[0].id, 'admin']],
      );

      // Prometheus scrapes the Tandem server too: it saw the rollback.
      await until(
        'tandem_rollbacks_total in Prometheus',
        async () => ((await prometheus.query('sum(tandem_rollbacks_total{environment="production"})'))[0]?.value === 1 ? true : undefined),
        10_000,
      );
    },
  );
});
