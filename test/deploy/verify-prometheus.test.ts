// Metric checks against a real Prometheus scraping the demo service, with traffic driven from the test.
// One Prometheus for the whole file: its first scrape takes about 5 s.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseChecks, verifyRelease, type VerifyResult } from '../../src/deploy/verify/index.js';
import { startDemoService, writeDemoRelease, type DemoService } from '../support/demo-service.js';
import { prometheusSkipReason, startPrometheus, type PrometheusServer } from '../support/prometheus.js';

const skip = prometheusSkipReason();

describe('prometheus checks', { skip }, () => {
  let dir = '';
  let service: DemoService | null = null;
  let prometheus: PrometheusServer | null = null;
  let traffic: NodeJS.Timeout | undefined;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tandem-verify-prom-'));
    await writeDemoRelease(dir, '2.0.0');
    service = await startDemoService(dir);
    const target = service.url;
    // About 40 requests a second, for the whole file.
    traffic = setInterval(() => {
      fetch(`${target}/`).then(
        (res) => res.arrayBuffer(),
        () => undefined,
      );
    }, 25);
    prometheus = await startPrometheus({ targets: [service.address] });
    // rate() needs two scrapes that saw traffic.
    const deadline = Date.now() + 10_000;
    while (!(await prometheus.query('sum(rate(app_requests_total[10s]))')).some((s) => s.value > 0)) {
      if (Date.now() > deadline) throw new Error('Prometheus saw no traffic on the demo service');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  });

  after(async () => {
    clearInterval(traffic);
    await prometheus?.stop();
    await service?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function verify(
    prom: Record<string, string>,
    check: Record<string, unknown> = {},
    bakeMs = 0,
  ): Promise<{ result: VerifyResult; lines: string[] }> {
    const lines: string[] = [];
    const checks = parseChecks([{ prometheus: { url: prometheus!.url, ...prom }, interval: '300ms', ...check }], 'deploy.verify');
    const result = await verifyRelease(checks, {
      bakeMs,
      signal: new AbortController().signal,
      log: (l) => lines.push(l),
      env: {},
      cwd: dir,
    });
    return { result, lines };
  }

  const errorRate = 'sum(rate(app_errors_total{job="app"}[10s]))';

  it('passes while the service serves without errors', async () => {
    const { result, lines } = await verify({ query: errorRate, pass: '< 0.5' }, {}, 1000);
    assert.equal(result.status, 'passed', lines.join('\n'));
    assert.match(lines.join('\n'), /verify: ok prometheus .*: 0 < 0\.5/);
    const requests = await verify({ query: 'sum(rate(app_requests_total[10s]))', pass: '> 5' });
    assert.equal(requests.result.status, 'passed', requests.lines.join('\n'));
  });

  it('judges every series of a vector', async () => {
    const twoSeries = 'label_replace(vector(1), "s", "a", "", "") or label_replace(vector(3), "s", "b", "", "")';
    assert.equal((await verify({ query: twoSeries, pass: '< 5' })).result.status, 'passed');
    const { result } = await verify({ query: twoSeries, pass: '< 2' }, { failures: 1 });
    assert.equal(result.status, 'failed');
    assert.match(result.status === 'failed' ? result.reason : '', /expected < 2, got 3 \{s="b"\}$/);
  });

  it('handles no data as configured: fail, pass or pause', async () => {
    const nothing = 'sum(rate(no_such_metric_total[10s]))';
    const failed = await verify({ query: nothing, pass: '< 1', no_data: 'fail' }, { failures: 2 });
    assert.equal(failed.result.status, 'failed');
    assert.match(
      failed.result.status === 'failed' ? failed.result.reason : '',
      /^2 consecutive failures, last: no data: the query returned no series \(no_data: fail\)$/,
    );

    const passed = await verify({ query: nothing, pass: '< 1', no_data: 'pass' });
    assert.equal(passed.result.status, 'passed');

    const paused = await verify({ query: nothing, pass: '< 1', no_data: 'pause' }, {}, 10_000);
    assert.deepEqual(
      { ...paused.result, durationMs: 0 },
      {
        status: 'paused',
        check: `prometheus ${nothing} < 1`,
        reason: 'no data: the query returned no series (no_data: pause)',
        durationMs: 0,
      },
    );
    assert.ok(paused.result.durationMs < 1000);

    // A ratio without traffic is NaN: no data too.
    const nan = await verify({ query: 'vector(0) / 0', pass: '< 1', no_data: 'pause' });
    assert.equal(nan.result.status, 'paused');
    assert.match(nan.result.status === 'paused' ? nan.result.reason : '', /only NaN/);
  });

  it('fails on a query error with the error text', async () => {
    const bad = await verify({ query: 'rate(app_errors_total)', pass: '< 1' }, { failures: 1 });
    assert.equal(bad.result.status, 'failed');
    assert.match(bad.result.status === 'failed' ? bad.result.reason : '', /query error \(bad_data\): .*expected type range vector/);
    const range = await verify({ query: 'app_errors_total[10s]', pass: '< 1' }, { failures: 1 });
    assert.match(
      range.result.status === 'failed' ? range.result.reason : '',
      /expected the query to return an instant vector or a scalar, got a matrix/,
    );
  });

  it('fails after an error spike, within a few scrapes', async () => {
    await writeFile(path.join(dir, 'ERROR_RATE'), '0.5');
    const { result, lines } = await verify({ query: errorRate, pass: '< 0.5' }, { failures: 2 }, 30_000);
    assert.equal(result.status, 'failed', lines.join('\n'));
    assert.match(result.status === 'failed' ? result.reason : '', /^2 consecutive failures, last: expected < 0\.5, got \d+(\.\d+)?$/);
    // A 1s scrape, a 10s window and a 300ms interval: the spike shows within a few seconds.
    assert.ok(result.durationMs < 6000, `${result.durationMs}ms`);
    assert.match(
      lines.at(-1) ?? '',
      /^verify: FAILED in .*: prometheus sum\(rate\(app_errors_total\{job="app"\}\[10s\]\)\) < 0\.5: 2 consecutive failures/,
    );
  });
});
