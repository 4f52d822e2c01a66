// How many requests an agent makes to end a job: log chunks wait half a second for more (or for the
// result), and the last ones ride with the result and the artifact manifest in one completion request. Counted by the
// server's own request metrics, on a real server with a real agent (and, for the timing rules, the
// agent's outbox driven by hand against the same server).
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ServerClient } from '../../src/agent/client.js';
import { serverOutboxTarget } from '../../src/agent/http-backend.js';
import { JobOutbox } from '../../src/agent/outbox.js';
import { registerAgent } from '../security/agent-protocol.js';
import { jobNamed, TestTandem } from '../support/tandem.js';

let tandem: TestTandem;
let scratch: string;

before(async () => {
  tandem = await TestTandem.start({ agents: 1, concurrency: 1 });
  scratch = await mkdtemp(path.join(tmpdir(), 'tandem-round-trips-'));
});

after(async () => {
  await tandem.close();
  await rm(scratch, { recursive: true, force: true });
});

/** Agent requests the server answered so far, by route. */
async function agentRequests(): Promise<Map<string, number>> {
  const text = (await tandem.api('GET', '/metrics')).text;
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^tandem_http_requests_total\{(.*)\} (\d+)/.exec(line);
    const route = m && /route="(\/api\/v1\/agent\/[^"]*)"/.exec(m[1]);
    if (route) counts.set(route[1], (counts.get(route[1]) ?? 0) + Number(m[2]));
  }
  return counts;
}

async function requestsDuring(fn: () => Promise<void>): Promise<(route: string) => number> {
  const before = await agentRequests();
  await fn();
  const after = await agentRequests();
  return (route) => (after.get(`/api/v1/agent/jobs/:id/${route}`) ?? 0) - (before.get(`/api/v1/agent/jobs/:id/${route}`) ?? 0);
}

test('a job with artifacts ends in one request: no separate manifest, and the next stage gets the files', async () => {
  const { name } = await tandem.repo({
    '.gitlab-ci.yml': `
stages: [build, test]
make:
  stage: build
  script: [mkdir -p out, echo built > out/a.txt]
  artifacts: { paths: [out/a.txt] }
use:
  stage: test
  script: [cat out/a.txt]
`,
  });
  let pipelineId = 0;
  const count = await requestsDuring(async () => {
    pipelineId = await tandem.trigger(name);
    await tandem.waitForPipeline(pipelineId);
  });
  const p = await tandem.pipeline(pipelineId);
  assert.equal(p.status, 'success', JSON.stringify(p.jobs.map((j) => [j.name, j.status])));
  assert.equal(count('artifacts'), 0, 'the manifest went with the completion');
  assert.equal(count('complete'), 2);
  const files = await tandem.api<{ files: { path: string }[] }>('GET', `/api/v1/jobs/${jobNamed(p, 'make').id}/artifact-files`);
  assert.deepEqual(
    files.body.files.map((f) => f.path),
    ['out/a.txt'],
  );
  assert.match(await tandem.log(jobNamed(p, 'use').id), /built/);
  assert.match(await tandem.log(jobNamed(p, 'make').id), /Job succeeded/);
});

test('a job that prints for a while sends its log in batches of lines, complete and in order', async () => {
  const { name } = await tandem.repo({
    '.gitlab-ci.yml': 'talk:\n  script:\n    - for i in $(seq 1 40); do echo "line $i"; sleep 0.05; done\n',
  });
  let pipelineId = 0;
  const count = await requestsDuring(async () => {
    pipelineId = await tandem.trigger(name);
    await tandem.waitForPipeline(pipelineId);
  });
  const job = jobNamed(await tandem.pipeline(pipelineId), 'talk');
  assert.equal(job.status, 'success');
  const lines = (await tandem.log(job.id)).split('\n').filter((l) => /^line \d+$/.test(l));
  assert.deepEqual(
    lines,
    Array.from({ length: 40 }, (_, i) => `line ${i + 1}`),
  );
  // 40 lines in 2 s (longer on a loaded machine): a request every half second at most, never one a line.
  const ms = Date.parse(job.finishedAt as string) - Date.parse(job.startedAt as string);
  assert.ok(count('log') >= 1, 'a job printing for seconds streams its log before it ends');
  assert.ok(count('log') <= Math.ceil(ms / 500) + 1, `log requests: ${count('log')} in ${ms} ms`);
  assert.equal(count('complete'), 1);
});

/** A job claimed by hand, with an outbox delivering to the server for it. */
async function handOutbox(resultWaitMs: number, logHoldMs = 0, maxLogBytes?: number) {
  const agent = await registerAgent(tandem, `outbox-${resultWaitMs}-${logHoldMs}-${Date.now()}`, ['by-hand']);
  const { name } = await tandem.repo({ '.gitlab-ci.yml': 'job:\n  tags: [by-hand]\n  script: [echo hi]\n' });
  await tandem.trigger(name);
  const payload = await agent.claim();
  assert.ok(payload);
  const client = new ServerClient({ servers: [tandem.url], token: agent.token });
  const outbox = await JobOutbox.create(scratch, payload.jobId, payload.fencingToken, serverOutboxTarget(client), {
    resultWaitMs,
    logHoldMs,
    maxLogBytes,
  });
  return { outbox, jobId: payload.jobId, fencingToken: payload.fencingToken };
}

async function untilLog(jobId: number, done: (log: string) => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!done(await tandem.log(jobId))) {
    assert.ok(Date.now() < deadline, what);
    await sleep(50);
  }
}

const chunks = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `chunk ${from + i}\n`).join('');

test('a chunk written while the job runs goes out after logHoldMs; the last ones wait for the result and ride with it', async () => {
  const { outbox, jobId, fencingToken } = await handOutbox(60_000);
  const count = await requestsDuring(async () => {
    await outbox.appendLog({ seq: 0, data: 'chunk 0\n' });
    await untilLog(jobId, (log) => log === 'chunk 0\n', 'a chunk of a running job reaches live tails');
    for (let seq = 1; seq < 3; seq++) await outbox.appendLog({ seq, data: `chunk ${seq}\n` }, true);
    await sleep(300);
    assert.equal(await tandem.log(jobId), 'chunk 0\n', 'the last chunks wait for the result');
    await outbox.finish({ fencingToken, status: 'success', exitCode: 0, failureReason: null });
    assert.equal(await outbox.done(), 'delivered');
  });
  assert.equal(count('log'), 1);
  assert.equal(count('complete'), 1);
  assert.equal(await tandem.log(jobId), chunks(0, 3));
  assert.equal((await tandem.api<{ status: string }>('GET', `/api/v1/jobs/${jobId}`)).body.status, 'success');
});

test('chunks of a job that ends within logHoldMs all ride with its result: no log request', async () => {
  const { outbox, jobId, fencingToken } = await handOutbox(60_000, 60_000);
  const count = await requestsDuring(async () => {
    await outbox.appendLog({ seq: 0, data: 'chunk 0\n' });
    await sleep(300);
    assert.equal(await tandem.log(jobId), '', "the running job's chunk waits for more");
    await outbox.appendLog({ seq: 1, data: 'chunk 1\n' }, true);
    await outbox.finish({ fencingToken, status: 'success', exitCode: 0, failureReason: null });
    assert.equal(await outbox.done(), 'delivered');
  });
  assert.equal(count('log'), 0);
  assert.equal(count('complete'), 1);
  assert.equal(await tandem.log(jobId), chunks(0, 2));
});

test("a running job's chunks go out once logHoldMs passed, in one request, without waiting for the result", async () => {
  const { outbox, jobId, fencingToken } = await handOutbox(60_000, 400);
  const count = await requestsDuring(async () => {
    const started = Date.now();
    await outbox.appendLog({ seq: 0, data: 'chunk 0\n' });
    await outbox.appendLog({ seq: 1, data: 'chunk 1\n' });
    await untilLog(jobId, (log) => log === chunks(0, 2), 'the held chunks reach live tails');
    assert.ok(Date.now() - started >= 400, `sent after ${Date.now() - started} ms`);
    await outbox.finish({ fencingToken, status: 'success', exitCode: 0, failureReason: null });
    assert.equal(await outbox.done(), 'delivered');
  });
  assert.equal(count('log'), 1);
  assert.equal(count('complete'), 1);
});

test('the outbox holds back at most maxLogBytes undelivered: a longer log delivered as it goes is kept whole', async () => {
  const max = 256 * 1024;
  const size = 64 * 1024;
  const { outbox, jobId, fencingToken } = await handOutbox(60_000, 0, max);
  const count = 32; // 2 MiB: eight times what the outbox may hold back
  for (let seq = 0; seq < count; seq++) {
    await outbox.appendLog({ seq, data: `${String(seq).padStart(4, '0')}${'x'.repeat(size - 5)}\n` });
    await untilLog(jobId, (log) => log.length >= (seq + 1) * size, `chunk ${seq} reaches the server`);
  }
  const onDisk = (await stat(path.join(outbox.dir, 'log.jsonl'))).size;
  assert.ok(onDisk <= 2 * max, `delivered chunks are compacted out of the outbox's file: ${onDisk} bytes left`);
  await outbox.finish({ fencingToken, status: 'success', exitCode: 0, failureReason: null });
  assert.equal(await outbox.done(), 'delivered');
  const log = await tandem.log(jobId);
  assert.equal(log.length, count * size);
  assert.doesNotMatch(log, /truncated/);
});

test('last chunks whose result is late go out on their own after resultWaitMs', async () => {
  const { outbox, jobId, fencingToken } = await handOutbox(100);
  await outbox.appendLog({ seq: 0, data: 'last\n' }, true);
  await untilLog(jobId, (log) => log === 'last\n', 'the chunk arrived before the result');
  await outbox.finish({ fencingToken, status: 'success', exitCode: 0, failureReason: null });
  assert.equal(await outbox.done(), 'delivered');
  assert.equal(await tandem.log(jobId), 'last\n');
});

test('against a contract server standing in for an older Tandem (its completion refuses the new fields), the agent falls back to the separate calls', async () => {
  const calls: { path: string; body: Record<string, unknown> }[] = [];
  const older = createServer((req, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      const body = JSON.parse(text) as Record<string, unknown>;
      calls.push({ path: req.url ?? '', body });
      const strictRefusal = req.url?.endsWith('/complete') && ('log' in body || 'artifacts' in body);
      res.writeHead(strictRefusal ? 422 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(strictRefusal ? { message: 'invalid request body: unrecognized keys' } : { ok: true }));
    });
  });
  await new Promise<void>((resolve) => older.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = older.address() as AddressInfo;
    const target = serverOutboxTarget(new ServerClient({ servers: [`http://127.0.0.1:${port}`], token: 'tda_test' }));
    const file = { path: 'a.txt', digest: 'a'.repeat(64), size: 1, mode: 0o644 };
    await target.complete(7, {
      fencingToken: 3,
      status: 'success',
      exitCode: 0,
      failureReason: null,
      log: [{ seq: 0, data: 'last\n' }],
      artifacts: { files: [file], expireInSeconds: null },
    });
    assert.deepEqual(
      calls.map((c) => c.path),
      ['/api/v1/agent/jobs/7/complete', '/api/v1/agent/jobs/7/log', '/api/v1/agent/jobs/7/artifacts', '/api/v1/agent/jobs/7/complete'],
    );
    assert.deepEqual(calls[1].body, { fencingToken: 3, chunks: [{ seq: 0, data: 'last\n' }] });
    assert.deepEqual(calls[2].body, { fencingToken: 3, files: [file], expireInSeconds: null });
    assert.deepEqual(calls[3].body, { fencingToken: 3, status: 'success', exitCode: 0, failureReason: null });
  } finally {
    await new Promise((resolve) => older.close(resolve));
  }
});
