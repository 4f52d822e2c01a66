// The demo web service of examples/deploy, as releases deploy it: a directory with server.mjs and VERSION.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseChecks, verifyRelease } from '../../src/deploy/verify/index.js';
import { startDemoService, writeDemoRelease, type DemoService } from '../support/demo-service.js';

let root = '';
const started: DemoService[] = [];
before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'tandem-demo-'));
});
after(async () => {
  await Promise.all(started.map((s) => s.stop()));
  await rm(root, { recursive: true, force: true });
});

async function start(dir: string, env: Record<string, string> = {}): Promise<DemoService> {
  const service = await startDemoService(dir, env);
  started.push(service);
  return service;
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}

describe('demo service', () => {
  it('serves the version of the release it was started from, through a `current` symlink', async () => {
    const release = path.join(root, 'releases', '1.2.3');
    await writeDemoRelease(release, '1.2.3');
    await symlink(release, path.join(root, 'current'));
    const pidFile = path.join(root, 'service.pid');
    const service = await start(path.join(root, 'current'), { PIDFILE: pidFile });
    assert.equal(Number(await readFile(pidFile, 'utf8')), service.pid);
    assert.deepEqual(await get(`${service.url}/`), { status: 200, body: '1.2.3\n' });
    assert.deepEqual(await get(`${service.url}/version`), { status: 200, body: '1.2.3\n' });
    assert.deepEqual(await get(`${service.url}/health`), { status: 200, body: 'ok\n' });
    assert.match((await get(`${service.url}/metrics`)).body, /^app_requests_total\{version="1\.2\.3"\} 2$/m);
    assert.match((await get(`${service.url}/metrics`)).body, /^app_info\{version="1\.2\.3"\} 1$/m);
  });

  it('turns unhealthy with an UNHEALTHY file, and a health check fails the release', async () => {
    const release = path.join(root, 'releases', 'flaky');
    await writeDemoRelease(release, 'flaky');
    const service = await start(release);
    const checks = parseChecks([{ http: `${service.url}/health`, body: '^ok', interval: '100ms', failures: 2 }], 'deploy.verify');
    const options = { bakeMs: 0, signal: new AbortController().signal, log: () => {}, env: {}, cwd: release };
    assert.equal((await verifyRelease(checks, options)).status, 'passed');

    await writeFile(path.join(release, 'UNHEALTHY'), '');
    assert.deepEqual(await get(`${service.url}/health`), { status: 500, body: 'unhealthy\n' });
    const result = await verifyRelease(checks, options);
    assert.equal(result.status, 'failed');
    assert.match(
      result.status === 'failed' ? result.reason : '',
      /expected status 2xx, got 500; expected the body to match \/\^ok\/, got "unhealthy"/,
    );

    await unlink(path.join(release, 'UNHEALTHY'));
    assert.equal((await get(`${service.url}/health`)).status, 200);
  });

  it('answers the configured fraction of requests with errors and counts them', async () => {
    const release = path.join(root, 'releases', 'errors');
    await writeDemoRelease(release, 'errors');
    const service = await start(release, { ERROR_RATE: '0.5', HEALTHY: '0' });
    assert.equal((await get(`${service.url}/health`)).status, 500);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await get(`${service.url}/`)).status);
    assert.deepEqual(statuses.sort(), [200, 200, 500, 500]);

    // The file wins over the environment, and is read on every request.
    await writeFile(path.join(release, 'ERROR_RATE'), '1\n');
    assert.equal((await get(`${service.url}/`)).status, 500);
    const metrics = (await get(`${service.url}/metrics`)).body;
    assert.match(metrics, /^# TYPE app_errors_total counter$/m);
    assert.match(metrics, /^app_requests_total\{version="errors"\} 5$/m);
    assert.match(metrics, /^app_errors_total\{version="errors"\} 3$/m);
  });

  it('exits on SIGTERM', async () => {
    const release = path.join(root, 'releases', 'stop');
    await writeDemoRelease(release, 'stop');
    const service = await start(release);
    const stopping = Date.now();
    await service.stop();
    // Well within the 3s grace period after which stop() would have used SIGKILL.
    assert.ok(Date.now() - stopping < 1500, `stopped after ${Date.now() - stopping}ms`);
    assert.throws(() => process.kill(service.pid, 0), /ESRCH/);
    await assert.rejects(fetch(`${service.url}/`));
  });
});
