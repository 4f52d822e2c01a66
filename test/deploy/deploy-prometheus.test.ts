// Metric-driven deployment decisions with a real Prometheus scraping the demo service: an error spike
// of the new version rolls it back; a query with no data pauses for a person's decision.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseDeploySpec, runDeployment, type DeploySpec, type ReleaseInput } from '../../src/deploy/index.js';
import { DEMO_SERVICE_COMMANDS, stopDeployedDemoServices, writeDeployableDemoRelease } from '../support/demo-service.js';
import { prometheusSkipReason, startPrometheus, type PrometheusServer } from '../support/prometheus.js';
import { freePort } from '../support/ports.js';
import { get, recorder, version } from './deploy-fixtures.js';
import { release, tempDir, type TempDir } from './targets-fixtures.js';

const skip = prometheusSkipReason();

describe('deployment verified by Prometheus', { skip }, () => {
  let tmp: TempDir;
  let prometheus: PrometheusServer;
  let dir: string;
  let url: string;
  let traffic: { stop(): Promise<void> } | undefined;

  before(async () => {
    tmp = await tempDir('tandem-deploy-prom-');
    dir = join(tmp.path, 'deploy');
    await mkdir(dir);
    const port = await freePort();
    await writeFile(join(dir, 'port'), `${port}\n`);
    url = `http://127.0.0.1:${port}`;
    const live = await runDeployment(recorder({ spec: spec([]), release: await demo(1), workDir: join(tmp.path, 'work') }).input);
    assert.equal(live.status, 'live');
    prometheus = await startPrometheus({ targets: [`127.0.0.1:${port}`] });
    traffic = load();
  });
  after(async () => {
    await traffic?.stop();
    await stopDeployedDemoServices(dir);
    await prometheus?.stop();
    await tmp?.remove();
  });

  /** Requests to `/` every 10 ms, as users would send them, errors included. */
  function load(): { stop(): Promise<void> } {
    let done = false;
    const loop = (async () => {
      while (!done) {
        await get(`${url}/`).catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    return {
      stop: async () => {
        done = true;
        await loop;
      },
    };
  }

  function spec(verify: unknown[], bake = '0s'): DeploySpec {
    return parseDeploySpec({ source: 'dist', target: { local: { dir } }, service: DEMO_SERVICE_COMMANDS, verify, bake }, 'deploy');
  }

  async function demo(id: number, errorRate = 0): Promise<ReleaseInput> {
    return release(id, await writeDeployableDemoRelease(join(tmp.path, `src-${id}`), `v${id}`, { errorRate }), id);
  }

  it('rolls back a release whose error count spikes', async () => {
    const errors = {
      // Only the new version's errors count: its own series, named through the release's variables.
      prometheus: { url: prometheus.url, query: 'sum(app_errors_total{version="$TANDEM_RELEASE_VERSION"})', pass: '< 3', no_data: 'pass' },
      interval: '500ms',
      failures: 2,
    };
    const rec = recorder({
      spec: spec([errors], '20s'),
      release: await demo(2, 0.5),
      previous: await demo(1),
      workDir: join(tmp.path, 'work'),
    });
    const result = await runDeployment(rec.input);
    assert.equal(result.status, 'rolled_back', rec.lines.join('\n'));
    if (result.status !== 'rolled_back') return;
    assert.match(
      result.reason,
      /prometheus sum\(app_errors_total\{version="\$TANDEM_RELEASE_VERSION"\}\) < 3: 2 consecutive failures, last: expected < 3, got \d+/,
    );
    assert.ok(
      rec.lines.includes(
        'deploy: batch 1/1 [local]: check "prometheus sum(app_errors_total{version="$TANDEM_RELEASE_VERSION"}) < 3" runs as sum(app_errors_total{version="v2"})',
      ),
      rec.lines.join('\n'),
    );
    assert.equal(await version(url), 'v1');
    const detection = result.detectedAtMs - result.switchedAtMs;
    console.log(
      `prometheus rollback: error spike detected ${detection} ms after v2 went live (scrape every 1 s, check every 500 ms), v1 serving ${result.restoredAtMs - result.detectedAtMs} ms later`,
    );
    assert.ok(detection < 10_000, `detected after ${detection} ms, well before the 20 s bake`);
  });

  it('pauses on a query without data until a person promotes or aborts', async () => {
    const missing = {
      prometheus: { url: prometheus.url, query: 'sum(app_errors_total{version="no-such-version"})', pass: '< 1', no_data: 'pause' },
      interval: '200ms',
    };
    const promote = recorder({
      spec: spec([missing]),
      release: await demo(3),
      previous: await demo(1),
      workDir: join(tmp.path, 'work'),
      decide: async () => 'promote',
    });
    assert.equal((await runDeployment(promote.input)).status, 'live', promote.lines.join('\n'));
    assert.equal(promote.questions.length, 1);
    assert.match(
      promote.questions[0].reason,
      /^batch 1\/1 \[local\]: prometheus .*: no data: the query returned no series \(no_data: pause\): promote or abort\?$/,
    );
    assert.equal(await version(url), 'v3');

    const abort = recorder({
      spec: spec([missing]),
      release: await demo(4),
      previous: await demo(3),
      workDir: join(tmp.path, 'work'),
      decide: async () => 'abort',
    });
    const result = await runDeployment(abort.input);
    assert.equal(result.status, 'rolled_back', abort.lines.join('\n'));
    assert.match(result.status === 'rolled_back' ? result.reason : '', /aborted by a person$/);
    assert.equal(await version(url), 'v3');
  });
});
