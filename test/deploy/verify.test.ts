import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { DeployConfigError } from '../../src/deploy/config-error.js';
import { parseBake, parseChecks, parseDurationMs, verifyRelease, type VerifyResult } from '../../src/deploy/verify/index.js';
import { freePort } from '../support/ports.js';

let workDir = '';
before(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'tandem-verify-'));
});
after(async () => {
  await rm(workDir, { recursive: true, force: true });
});

interface Run {
  result: VerifyResult;
  lines: string[];
}

/** Verifies the checks as a user writes them under `deploy.verify`. */
async function verify(checks: unknown[], bakeMs = 0, signal = new AbortController().signal): Promise<Run> {
  const lines: string[] = [];
  const result = await verifyRelease(parseChecks(checks, 'deploy.verify'), {
    bakeMs,
    signal,
    log: (line) => lines.push(line),
    env: { PATH: process.env.PATH ?? '', MARK: 'from-env' },
    cwd: workDir,
  });
  return { result, lines };
}

/** A real HTTP server whose answers the test changes as it goes. */
async function httpServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; close(): Promise<void> }> {
  const server = createHttpServer(handler);
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function answer(status: number, body: string, delayMs = 0): (req: IncomingMessage, res: ServerResponse) => void {
  return (_req, res) => {
    setTimeout(() => {
      res.writeHead(status);
      res.end(body);
    }, delayMs);
  };
}

/** The process has ended: no longer listed, or a zombie (PID 1 reaps orphans slowly here). */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 20; i++) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
    if (stat === null || stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

function assertFailed(result: VerifyResult, check: string, reason: RegExp): void {
  assert.equal(result.status, 'failed', JSON.stringify(result));
  assert.ok(result.status === 'failed');
  assert.equal(result.check, check);
  assert.match(result.reason, reason);
}

describe('parseChecks', () => {
  it('reads the documented example with its defaults', () => {
    const doc = parseYaml(`
deploy:
  verify:
    - http: http://127.0.0.1:18080/health
      expect_status: 200
      body: 'ok|healthy'
      max_latency: 500ms
      interval: 1s
      failures: 3
      timeout: 2s
    - tcp: 127.0.0.1:5432
    - command: ./smoke-test.sh
    - prometheus: { url: http://127.0.0.1:9090, query: 'sum(rate(app_errors_total[1m]))', pass: '< 0.05', no_data: fail }
      interval: 5s
  bake: 10s
`) as { deploy: { verify: unknown; bake: unknown } };
    const checks = parseChecks(doc.deploy.verify, 'deploy.verify');
    assert.deepEqual(checks, [
      {
        kind: 'http',
        name: 'http http://127.0.0.1:18080/health',
        intervalMs: 1000,
        timeoutMs: 2000,
        failures: 3,
        url: 'http://127.0.0.1:18080/health',
        expectStatus: [200],
        body: 'ok|healthy',
        maxLatencyMs: 500,
      },
      { kind: 'tcp', name: 'tcp 127.0.0.1:5432', intervalMs: 5000, timeoutMs: 5000, failures: 3, host: '127.0.0.1', port: 5432 },
      { kind: 'command', name: 'command ./smoke-test.sh', intervalMs: 5000, timeoutMs: 5000, failures: 3, command: './smoke-test.sh' },
      {
        kind: 'prometheus',
        name: 'prometheus sum(rate(app_errors_total[1m])) < 0.05',
        intervalMs: 5000,
        timeoutMs: 5000,
        failures: 3,
        url: 'http://127.0.0.1:9090',
        query: 'sum(rate(app_errors_total[1m]))',
        condition: { op: '<', value: 0.05 },
        noData: 'fail',
      },
    ]);
    assert.equal(parseBake(doc.deploy.bake, 'deploy.bake'), 10_000);
    assert.equal(parseBake(undefined, 'deploy.bake'), 0);
    assert.deepEqual(parseChecks(undefined, 'deploy.verify'), []);
  });

  it('takes durations in ms, s, m, h, combined, and plain seconds', () => {
    const cases: [unknown, number | null][] = [
      ['500ms', 500],
      ['1s', 1000],
      ['2m', 120_000],
      ['1m30s', 90_000],
      ['1h', 3_600_000],
      [2, 2000],
      ['1.5', 1500],
      [0.25, 250],
      ['soon', null],
      ['1x', null],
      ['-1s', null],
      [true, null],
    ];
    for (const [input, ms] of cases) assert.equal(parseDurationMs(input), ms, String(input));
    // A long interval caps the default timeout at 10s.
    assert.equal(parseChecks([{ tcp: 'db:5432', interval: '1m' }], 'v')[0].timeoutMs, 10_000);
    assert.deepEqual(parseChecks([{ http: 'https://x/', expect_status: [200, '204'] }], 'v')[0], {
      kind: 'http',
      name: 'http https://x/',
      intervalMs: 5000,
      timeoutMs: 5000,
      failures: 3,
      url: 'https://x/',
      expectStatus: [200, 204],
      body: null,
      maxLatencyMs: null,
    });
  });

  it('names the field in every error', () => {
    const prom = { url: 'http://127.0.0.1:9090', query: 'up', pass: '> 0' };
    const cases: [unknown, string][] = [
      [{ tcp: 'a:1' }, 'deploy.verify: expected a list of checks, got a map'],
      [
        [{ tcp: 'a:1' }, { prometheus: { ...prom, pass: 'small' } }],
        "deploy.verify[1].prometheus.pass: expected a comparison like '< 0.05'",
      ],
      [[{ tcp: 'a:1', intervall: '1s' }], 'deploy.verify[0].intervall: unknown key `intervall` (did you mean `interval`?)'],
      [[{ htp: 'http://x/' }], 'deploy.verify[0].htp: unknown key `htp` (did you mean `http`?)'],
      [[{ interval: '1s' }], 'deploy.verify[0]: a check needs one of http, tcp, command, prometheus'],
      [
        [{ http: 'http://x/', tcp: 'x:1' }],
        'deploy.verify[0]: a check has exactly one of http, tcp, command, prometheus; found http and tcp',
      ],
      [[{ tcp: 'x:1', expect_status: 200 }], 'deploy.verify[0].expect_status: `expect_status` applies to http checks only'],
      [[{ tcp: 'localhost' }], 'deploy.verify[0].tcp: expected host:port'],
      [[{ tcp: 'localhost:70000' }], 'deploy.verify[0].tcp: expected host:port'],
      [[{ http: 'ftp://x/' }], 'deploy.verify[0].http: expected an http:// or https:// URL, got "ftp://x/"'],
      [
        [{ http: 'http://x/', expect_status: [200, 'ok'] }],
        'deploy.verify[0].expect_status[1]: expected an HTTP status (100-599), got "ok"',
      ],
      [[{ http: 'http://x/', body: '(' }], 'deploy.verify[0].body: expected a regular expression'],
      [[{ http: 'http://x/', max_latency: 'fast' }], 'deploy.verify[0].max_latency: expected a positive duration'],
      [
        [{ command: 'true', failures: 0 }],
        'deploy.verify[0].failures: expected a whole number of consecutive failures, at least 1, got number 0',
      ],
      [
        [{ command: 'true', interval: 'soon' }],
        'deploy.verify[0].interval: expected a positive duration like "500ms", "1s", "2m" or "1m30s", got "soon"',
      ],
      [[{ command: 'true', timeout: 0 }], 'deploy.verify[0].timeout: expected a positive duration'],
      [[{ command: '' }], 'deploy.verify[0].command: expected a shell command'],
      [[{ prometheus: 'up' }], 'deploy.verify[0].prometheus: expected a map with url, query and pass'],
      [[{ prometheus: { ...prom, urll: 'x' } }], 'deploy.verify[0].prometheus.urll: unknown key `urll` (did you mean `url`?)'],
      [
        [{ prometheus: { ...prom, no_data: 'paused' } }],
        'deploy.verify[0].prometheus.no_data: expected fail, pass or pause, got "paused" (did you mean `pause`?)',
      ],
      [[{ prometheus: { ...prom, query: undefined } }], 'deploy.verify[0].prometheus.query: expected a PromQL query, got nothing'],
      [[{ command: 'true' }, { command: 'true' }], 'deploy.verify[1]: another check is already named "command true"'],
    ];
    for (const [input, message] of cases) {
      assert.throws(
        () => parseChecks(input, 'deploy.verify'),
        (err: unknown) => err instanceof DeployConfigError && err.message.startsWith(message) && message.startsWith(err.path),
        `${JSON.stringify(input)} → ${message}`,
      );
    }
    assert.throws(
      () => parseBake('forever', 'deploy.bake'),
      /^DeployConfigError: deploy\.bake: expected a duration like "10s", "2m" or "1m30s", got "forever"$/,
    );
  });
});

describe('http checks', () => {
  it('pass on the expected status, body and latency, and fail on each of them', async () => {
    const server = await httpServer(answer(200, 'all healthy here', 150));
    try {
      const health = `${server.url}/health`;
      const ok = await verify([{ http: health, body: 'ok|healthy', max_latency: '1s', expect_status: [200, 204] }]);
      assert.equal(ok.result.status, 'passed');
      assert.match(
        ok.lines.join('\n'),
        /verify: ok http .*: status 200 in \d+ms\nverify: PASSED in \d+ms: 1 check passing, bake 0ms elapsed/,
      );

      const status = await verify([{ http: health, expect_status: 204, failures: 1 }]);
      assertFailed(status.result, `http ${health}`, /^1 consecutive failure, last: expected status 204, got 200$/);

      const body = await verify([{ http: health, body: '^ok$', failures: 1 }]);
      assertFailed(body.result, `http ${health}`, /expected the body to match \/\^ok\$\/, got "all healthy here"/);

      const slow = await verify([{ http: health, max_latency: '50ms', failures: 1 }]);
      assertFailed(slow.result, `http ${health}`, /expected an answer within 50ms, took \d+ms/);

      const timeout = await verify([{ http: health, timeout: '50ms', failures: 1 }]);
      assertFailed(timeout.result, `http ${health}`, /expected an answer within 50ms \(timeout\), got none/);
    } finally {
      await server.close();
    }
  });

  it('fails only after `failures` consecutive failures, and a pass resets the streak', async () => {
    // Fails twice, then answers 200 forever.
    let requests = 0;
    const server = await httpServer((req, res) => answer(++requests <= 2 ? 503 : 200, 'x')(req, res));
    try {
      const tolerant = await verify([{ http: server.url, interval: '100ms', failures: 3 }]);
      assert.equal(tolerant.result.status, 'passed');
      assert.equal(tolerant.lines.filter((l) => l.startsWith('verify: FAIL')).length, 2);
      assert.match(
        tolerant.lines.join('\n'),
        /FAIL http .* \(2\/3\): expected status 2xx, got 503\nverify: ok http .*\(after 2 failures\)/,
      );

      requests = 0;
      const strict = await verify([{ http: server.url, interval: '100ms', failures: 2 }]);
      assertFailed(strict.result, `http ${server.url}`, /^2 consecutive failures, last: expected status 2xx, got 503$/);
      assert.deepEqual(
        strict.lines.map((l) => l.replace(/ in \d+ms/, '')),
        [
          `verify: FAIL http ${server.url} (1/2): expected status 2xx, got 503`,
          `verify: FAIL http ${server.url} (2/2): expected status 2xx, got 503`,
          `verify: FAILED: http ${server.url}: 2 consecutive failures, last: expected status 2xx, got 503`,
        ],
      );
    } finally {
      await server.close();
    }
  });

  it('detects a service turning bad within failures × interval', async () => {
    let healthy = true;
    const server = await httpServer((req, res) => answer(healthy ? 200 : 500, healthy ? 'ok' : 'down')(req, res));
    try {
      const interval = 200;
      const failures = 3;
      const broke = setTimeout(() => (healthy = false), 500);
      const { result } = await verify([{ http: server.url, interval: `${interval}ms`, failures }], 10_000);
      clearTimeout(broke);
      assertFailed(result, `http ${server.url}`, /got 500/);
      const detection = result.durationMs - 500;
      // The first failing run comes within one interval of the break, the last `failures - 1` intervals later.
      assert.ok(detection >= (failures - 1) * interval - 50, `detected after ${detection}ms`);
      assert.ok(detection <= failures * interval + 800, `detected after ${detection}ms`);
    } finally {
      await server.close();
    }
  });
});

describe('tcp checks', () => {
  it('pass on a listening port and fail on a closed one', async () => {
    const listener = createTcpServer((socket) => socket.end());
    const port = await freePort();
    await new Promise<void>((resolve) => listener.listen(port, '127.0.0.1', resolve));
    try {
      const open = await verify([{ tcp: `127.0.0.1:${port}` }]);
      assert.equal(open.result.status, 'passed');
    } finally {
      await new Promise((resolve) => listener.close(resolve));
    }
    const closed = await verify([{ tcp: `127.0.0.1:${port}`, interval: '50ms', failures: 2 }]);
    assertFailed(closed.result, `tcp 127.0.0.1:${port}`, /expected the port to accept connections, got connect ECONNREFUSED/);
  });
});

describe('command checks', () => {
  it('run with sh -c in cwd with the env, and log their output', async () => {
    await writeFile(path.join(workDir, 'marker'), '');
    const ok = await verify([{ command: 'test -f marker && echo "mark is $MARK"', name: 'smoke' }]);
    assert.equal(ok.result.status, 'passed');
    assert.deepEqual(ok.lines.slice(0, 2), ['  smoke | mark is from-env', 'verify: ok smoke: exit status 0']);

    const bad = await verify([{ command: 'echo checking; echo "db unreachable" >&2; exit 3', failures: 1, name: 'smoke' }]);
    assertFailed(bad.result, 'smoke', /expected exit status 0, got exit status 3: "db unreachable"/);
    assert.deepEqual(bad.lines.slice(0, 3), [
      '  smoke | checking',
      '  smoke | db unreachable',
      'verify: FAIL smoke (1/1): expected exit status 0, got exit status 3: "db unreachable"',
    ]);
  });

  it('kill the whole command on timeout', async () => {
    const pidFile = path.join(workDir, 'sleeper.pid');
    const started = Date.now();
    const { result } = await verify([{ command: `sleep 30 & echo $! > ${pidFile}; wait`, timeout: '300ms', failures: 1, name: 'slow' }]);
    assertFailed(result, 'slow', /expected an answer within 300ms \(timeout\), got none/);
    assert.ok(Date.now() - started < 2000);
    assert.ok(await gone(Number(await readFile(pidFile, 'utf8'))), 'the background sleep was killed with its group');
  });
});

describe('verification', () => {
  it('honours the bake time, without waiting for another interval after it', async () => {
    const baked = await verify([{ command: 'true', interval: '100ms' }], 600);
    assert.equal(baked.result.status, 'passed');
    assert.ok(baked.result.durationMs >= 600 && baked.result.durationMs < 1200, `${baked.result.durationMs}ms`);

    // The check's next run would be 2s away: the verdict comes when the bake ends.
    const slowInterval = await verify([{ command: 'true', interval: '2s' }], 300);
    assert.equal(slowInterval.result.status, 'passed');
    assert.ok(slowInterval.result.durationMs >= 300 && slowInterval.result.durationMs < 1500, `${slowInterval.result.durationMs}ms`);

    // Bake 0: the verdict comes as soon as the slowest check has passed once.
    const once = await verify([{ command: 'true' }, { command: 'sleep 0.4', interval: '10s' }]);
    assert.equal(once.result.status, 'passed');
    assert.ok(once.result.durationMs >= 400 && once.result.durationMs < 1500, `${once.result.durationMs}ms`);
  });

  it('runs checks concurrently and names the one that failed', async () => {
    const port = await freePort();
    const { result, lines } = await verify(
      [
        { command: 'true', interval: '100ms' },
        { tcp: `127.0.0.1:${port}`, interval: '100ms', failures: 3 },
      ],
      5000,
    );
    assertFailed(result, `tcp 127.0.0.1:${port}`, /^3 consecutive failures/);
    assert.ok(result.durationMs < 1500, `${result.durationMs}ms`);
    assert.equal(lines.filter((l) => l.startsWith('verify: ok command true')).length, 1, 'a steady pass is logged once');
  });

  it('ends quickly when aborted, killing the commands in flight', async () => {
    const pidFile = path.join(workDir, 'aborted.pid');
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('deploy cancelled')), 300);
    const started = Date.now();
    await assert.rejects(verify([{ command: `echo $$ > ${pidFile}; exec sleep 30` }], 60_000, controller.signal), /deploy cancelled/);
    assert.ok(Date.now() - started < 1500, `${Date.now() - started}ms`);
    assert.ok(await gone(Number(await readFile(pidFile, 'utf8'))));
  });

  it('fails a metric check when Prometheus cannot be reached', async () => {
    const port = await freePort();
    const { result } = await verify([
      { prometheus: { url: `http://127.0.0.1:${port}`, query: 'up', pass: '== 1' }, interval: '50ms', failures: 2 },
    ]);
    assertFailed(
      result,
      'prometheus up == 1',
      new RegExp(`expected Prometheus at http://127.0.0.1:${port} to answer, got connect ECONNREFUSED`),
    );
  });
});
