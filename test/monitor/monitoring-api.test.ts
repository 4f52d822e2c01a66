// The monitoring API and commands on a real server: GET /api/v1/slos and `tandem slo status` with
// the built-in SLOs evaluated from the server's own counts and a declared one listed; DORA metrics
// after real deploys to a local target (one goes live, one fails its check and is rolled back by
// its agent) through GET /api/v1/repos/:name/dora and `tandem dora`.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DoraMetrics, SloStatus } from '../../src/api/index.js';
import { tandem as runCli } from '../cli/helpers.js';
import { TestTandem } from '../support/tandem.js';

const DECLARED = {
  name: 'shop-availability',
  repo: 'shop',
  environment: 'production',
  objective: 99.5,
  sli: { errors: 'sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))', total: 'sum(rate(http_requests_total[{{.window}}]))' },
};

describe('monitoring API', () => {
  let tandem: TestTandem;
  before(async () => {
    tandem = await TestTandem.start({ agents: 1, settings: { slos: [DECLARED] } });
  });
  after(() => tandem.close());
  const cli = (args: string[]) => runCli([...args, '--server', tandem.url, '--token', tandem.token]);

  it("lists the SLOs: Tandem's evaluated from its own counts, declared ones as declared", async () => {
    const { name } = await tandem.repo({ '.gitlab-ci.yml': 'job:\n  script: [echo ok]\n' });
    assert.equal((await tandem.waitForPipeline(await tandem.trigger(name))).status, 'success');
    assert.equal((await tandem.api('GET', '/api/v1/pipelines/999999')).status, 404);

    const res = await tandem.api<{ evaluatedAt: string; slos: SloStatus[] }>('GET', '/api/v1/slos');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(
      res.body.slos.map((s) => [s.name, s.builtin, s.evaluation === null]),
      [
        ['api-availability', true, false],
        ['job-pickup', true, false],
        ['pipeline-system-errors', true, false],
        ['webhook-latency', true, false],
        ['shop-availability', false, true],
      ],
    );
    const [availability, pickup, systemErrors] = res.body.slos.map((s) => s.evaluation!);
    assert.ok(availability.windows['5m'].total >= 5, 'the requests so far are counted');
    assert.equal(availability.windows['5m'].errors, 0, 'a 404 is not a server error');
    assert.deepEqual([pickup.budget.errors, pickup.budget.total], [0, 1], 'the job was picked up at once');
    assert.deepEqual([systemErrors.budget.errors, systemErrors.budget.total], [0, 1]);
    assert.equal(availability.firing, null);
    assert.equal(availability.budget.remaining, 1);
    assert.deepEqual(res.body.slos[4], {
      name: 'shop-availability',
      description: 'shop/production: 99.5% over 30d',
      objective: 99.5,
      period: '30d',
      repo: 'shop',
      environment: 'production',
      builtin: false,
      evaluation: null,
    });

    const table = await cli(['slo', 'status']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^NAME\s+SCOPE\s+OBJECTIVE\s+BUDGET LEFT/);
    assert.match(table.stdout, /\njob-pickup\s+tandem\s+99% \/ 30d\s+100\.0%\s+0\/1\s/);
    assert.match(table.stdout, /\nshop-availability\s+shop\/production\s+99\.5% \/ 30d\s+\(Prometheus\)/);
    const json = await cli(['slo', 'status', '--json']);
    assert.equal((JSON.parse(json.stdout) as { slos: SloStatus[] }).slos.length, 5);
  });

  it('DORA metrics after a deploy that went live and one rolled back by its agent', { timeout: 60_000 }, async () => {
    const dir = path.join(tandem.dataDir, 'deploy-production');
    await mkdir(dir, { recursive: true });
    const file = `deploy:
  script: [echo deploying]
  environment: { name: production }
  deploy:
    source: app
    target: { local: { dir: "${dir}", keep: 5 } }
    verify:
      - command: test ! -f "$TANDEM_DEPLOY_DIR/current/BAD"
        interval: 50ms
        failures: 1
`;
    const { name, remote } = await tandem.repo({ '.gitlab-ci.yml': file, 'app/VERSION': 'v1\n' }, { name: 'shop' });
    assert.equal((await tandem.waitForPipeline(await tandem.trigger(name), undefined, 30_000)).status, 'success');
    await remote.commit({ 'app/BAD': 'yes\n' }, 'v2');
    await remote.push('main');
    const p2 = await tandem.waitForPipeline(await tandem.trigger(name), undefined, 30_000);
    assert.equal(p2.status, 'failed');

    const res = await tandem.api<{ repo: string; days: number; environments: DoraMetrics[] }>(
      'GET',
      `/api/v1/repos/${name}/dora?environment=production&days=7`,
    );
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.days, 7);
    const [production] = res.body.environments;
    assert.deepEqual(production.deployments, { total: 2, live: 1, failed: 1 });
    assert.equal(production.changeFailureRate, 0.5);
    assert.equal(production.deploymentFrequency, 1 / 7);
    assert.equal(production.leadTime.samples, 1);
    assert.ok(production.leadTime.p50Seconds! > 0 && production.leadTime.p50Seconds! < 60, `lead time ${production.leadTime.p50Seconds} s`);
    assert.deepEqual(production.timeToRestore, { p50Seconds: 0, samples: 1, unrestored: 0 }, 'the automatic rollback restored at once');

    const table = await cli(['dora', name, '--days', '7']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^shop, last 7 days/);
    assert.match(table.stdout, /\nproduction\s+1\/2\s+0\.14\s+\d+s\s+50\.0%\s+0s\s+0\n/);
    const json = await cli(['dora', name, '--json']);
    assert.equal((JSON.parse(json.stdout) as { days: number }).days, 30);

    const zero = await tandem.api<{ message: string }>('GET', `/api/v1/repos/${name}/dora?days=0`);
    assert.deepEqual([zero.status, zero.body.message], [422, 'query parameter days: expected a whole number from 1 to 365, got "0"']);
    assert.equal((await tandem.api('GET', `/api/v1/repos/${name}/dora?environment=nowhere`)).status, 404);
    assert.equal((await tandem.api('GET', '/api/v1/repos/no-such-repo/dora')).status, 404);
    const refused = await cli(['dora', name, '--days', '400']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /tandem: query parameter days: expected a whole number from 1 to 365/);
  });
});
