// The public HTTP API as a client sees it: authentication, error statuses with messages that name
// the field, the OpenAPI document against the routes the server really serves, health and metrics,
// live log streaming, and pipeline file errors reported with file:line:column.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { buildApp } from '../../src/server/app.js';
import { jobNamed, TestTandem } from '../support/tandem.js';
import { logText, readSse } from './helpers.js';

let tandem: TestTandem;
before(async () => {
  tandem = await TestTandem.start({ agents: 1 });
});
after(() => tandem.close());

interface ErrorBody {
  error: string;
  message: string;
}

test('authentication: no token and a wrong token are 401; an agent token on a user route and a user token on an agent route are 403', async () => {
  const noToken = await fetch(`${tandem.url}/api/v1/repos`);
  assert.equal(noToken.status, 401);
  assert.match(((await noToken.json()) as ErrorBody).message, /bearer token/i);
  assert.equal((await tandem.api('GET', '/api/v1/repos', undefined, { authorization: 'Bearer tdk_not-a-real-token' })).status, 401);
  assert.equal((await tandem.api('GET', '/api/v1/repos', undefined, { authorization: 'Basic dXNlcjpwYXNz' })).status, 401);

  const agent = await tandem.api<{ token: string }>('POST', '/api/v1/agents', { name: 'auth-probe' });
  assert.equal(agent.status, 201, agent.text);
  const asAgent = { authorization: `Bearer ${agent.body.token}` };
  assert.equal((await tandem.api('GET', '/api/v1/repos', undefined, asAgent)).status, 403, 'an agent token is not a user token');
  assert.equal((await tandem.api('POST', '/api/v1/agent/jobs/request', { waitMs: 0 })).status, 403, 'a user token is not an agent token');
  assert.equal((await tandem.api('POST', '/api/v1/agent/jobs/request', { waitMs: 0 }, asAgent)).status, 204);
  assert.equal((await tandem.api('GET', '/api/v1/repos')).status, 200);
});

test('404 for unknown things, 422 naming the field for bad bodies, 409 for a duplicate repository', async () => {
  for (const url of ['/api/v1/pipelines/999999', '/api/v1/jobs/999999', '/api/v1/repos/no-such-repo', '/api/v1/no-such-route']) {
    const res = await tandem.api<ErrorBody>('GET', url);
    assert.equal(res.status, 404, url);
    assert.ok(res.body.message.length > 0, url);
  }
  assert.equal((await tandem.api('GET', '/api/v1/pipelines/abc')).status, 400);

  const { name, remote } = await tandem.repo({ '.gitlab-ci.yml': 'job:\n  script: [echo ok]\n' });
  const unknownKey = await tandem.api<ErrorBody>('POST', '/api/v1/repos', { name: 'fresh', url: remote.bare, colour: 'blue' });
  assert.equal(unknownKey.status, 422);
  assert.match(unknownKey.body.message, /colour/);
  const badName = await tandem.api<ErrorBody>('POST', '/api/v1/repos', { name: '../escape', url: remote.bare });
  assert.equal(badName.status, 422);
  assert.match(badName.body.message, /^invalid request body: name: /);
  const wrongType = await tandem.api<ErrorBody>('POST', '/api/v1/repos', { name: 'typed', url: remote.bare, pollInterval: 'often' });
  assert.equal(wrongType.status, 422);
  assert.match(wrongType.body.message, /pollInterval/);
  const badVariable = await tandem.api<ErrorBody>('POST', `/api/v1/repos/${name}/variables`, { key: '1BAD', value: 'x' });
  assert.equal(badVariable.status, 422);
  assert.match(badVariable.body.message, /key/);
  const notJson = await tandem.api<ErrorBody>('POST', '/api/v1/repos', '{"name": ', { 'content-type': 'application/json' });
  assert.equal(notJson.status, 400);

  const duplicate = await tandem.api<ErrorBody>('POST', '/api/v1/repos', { name, url: remote.bare });
  assert.equal(duplicate.status, 409);
  assert.match(duplicate.body.message, new RegExp(name));

  const unreachable = await tandem.api<ErrorBody>('POST', '/api/v1/repos', {
    name: 'nowhere',
    url: `${tandem.dataDir}/does-not-exist.git`,
  });
  assert.equal(unreachable.status, 422, unreachable.text);
  assert.match(unreachable.body.message, /^url: /);
  assert.equal((await tandem.api('GET', '/api/v1/repos/nowhere')).status, 404, 'nothing is registered');

  const unknownRef = await tandem.api<ErrorBody>('POST', `/api/v1/repos/${name}/pipelines`, { ref: 'no-such-branch' });
  assert.equal(unknownRef.status, 422);
  assert.match(unknownRef.body.message, /no-such-branch/);
});

/**
 * "METHOD /path/:param" for every route Fastify serves, read from its radix tree (HEAD is implied by
 * GET). A node's path is its parent's plus its own label; nodes without methods are shared prefixes.
 * (The tree printed without the common prefixes drops the routes under a catch-all `/*`.)
 */
function servedRoutes(tree: string): Set<string> {
  const routes = new Set<string>();
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[└├]── (\S+)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1].length / 4;
    const full = (depth === 0 ? '' : stack[depth - 1]) + m[2];
    stack[depth] = full;
    for (const method of m[3]?.split(', ') ?? []) if (method !== 'HEAD') routes.add(`${method} ${full}`);
  }
  return routes;
}

test('the OpenAPI document lists every route the server serves, and nothing else', async () => {
  const res = await tandem.api<{ openapi: string; paths: Record<string, Record<string, { summary: string }>> }>(
    'GET',
    '/api/v1/openapi.json',
    undefined,
    { authorization: '' },
  );
  assert.equal(res.status, 200);
  assert.equal(res.body.openapi, '3.1.0');
  const documented = new Set<string>();
  for (const [path, ops] of Object.entries(res.body.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      assert.ok(op.summary, `${method} ${path} has a summary`);
      documented.add(`${method.toUpperCase()} ${path.replace(/\{path\}$/, '*').replace(/\{(\w+)\}/g, ':$1')}`);
    }
  }
  // A second app on the same context exposes Fastify's own route tree without listening.
  const { app } = buildApp(tandem.server.ctx);
  await app.ready();
  const served = servedRoutes(app.printRoutes());
  await app.close();
  assert.ok(served.size > 30, `route tree parsed: ${served.size} routes`);
  assert.deepEqual([...documented].sort(), [...served].sort());
});

test('health and readiness answer without a token; metrics count jobs and queue waits after a pipeline', async () => {
  const health = await fetch(`${tandem.url}/healthz`);
  assert.equal(health.status, 200);
  assert.equal(((await health.json()) as { status: string }).status, 'ok');
  const ready = await fetch(`${tandem.url}/readyz`);
  assert.equal(ready.status, 200);
  assert.equal(((await ready.json()) as { status: string }).status, 'ready');

  const { name } = await tandem.repo({ '.gitlab-ci.yml': 'one:\n  script: [echo ok]\ntwo:\n  script: [exit 1]\n  allow_failure: true\n' });
  assert.equal((await tandem.waitForPipeline(await tandem.trigger(name))).status, 'success');
  const metrics = await (await fetch(`${tandem.url}/metrics`)).text();
  const sample = (re: RegExp) => Number(re.exec(metrics)?.[1] ?? NaN);
  assert.ok(sample(/^tandem_jobs_total\{status="success"\} (\d+)$/m) >= 1, 'a success counted');
  assert.ok(sample(/^tandem_jobs_total\{status="failed"\} (\d+)$/m) >= 1, 'a failure counted');
  assert.ok(sample(/^tandem_job_queue_wait_seconds_count (\d+)$/m) >= 2, 'queue waits observed');
  assert.match(metrics, /^tandem_job_queue_wait_seconds_bucket\{le="[^"]+"\} \d+$/m);
});

test('the log stream delivers lines as the job prints them and ends with the job’s status', async () => {
  // A manual job prints nothing until played, so the stream is surely open before the first line.
  // The agent holds a running job's output up to 200 ms (chunking) + 500 ms (sharing a request), so
  // the lines are 2 s apart for their arrivals to be told apart from one batch at the end.
  const { name } = await tandem.repo({
    '.gitlab-ci.yml': `
talk:
  when: manual
  script:
    - echo first-line
    - sleep 2
    - echo second-line
    - printf 'progress 10%%\\rprogress 50%%\\rprogress done\\n'
`,
  });
  const id = await tandem.trigger(name);
  const job = jobNamed(await tandem.waitForPipeline(id, (p) => jobNamed(p, 'talk').status === 'manual'), 'talk');
  const stream = readSse(`${tandem.url}/api/v1/jobs/${job.id}/log/stream`, tandem.token);
  await stream.opened;
  assert.equal((await tandem.api('POST', `/api/v1/jobs/${job.id}/play`)).status, 200);
  const events = await stream.events;

  const arrival = (text: string) =>
    events.find((e) => e.event === 'log' && new RegExp(`^${text}$`, 'm').test(e.data as string))?.receivedAt;
  const first = arrival('first-line');
  const second = arrival('second-line');
  assert.ok(first !== undefined && second !== undefined, `both lines streamed: ${JSON.stringify(events.map((e) => e.data))}`);
  assert.ok(second - first >= 800, `lines arrive as printed, not at the end (${second - first} ms apart)`);
  const ids = events.filter((e) => e.event === 'log').map((e) => Number(e.id));
  assert.deepEqual(
    ids,
    [...ids].sort((a, b) => a - b),
    'sequence ids increase',
  );
  const end = events.at(-1)!;
  assert.equal(end.event, 'end');
  assert.deepEqual(end.data, { status: 'success' });

  // A finished job's stream replays the log and ends at once.
  const replay = await readSse(`${tandem.url}/api/v1/jobs/${job.id}/log/stream`, tandem.token, { timeoutMs: 5000 }).events;
  assert.equal(logText(replay), logText(events));
  // Progress lines keep their carriage returns through a standard SSE reader.
  assert.match(logText(events), /progress 10%\rprogress 50%\rprogress done\n/);
  assert.equal(replay.at(-1)!.event, 'end');
});

test('a pipeline file with errors gives a failed pipeline whose error names file:line:column', async () => {
  const { name } = await tandem.repo({
    '.gitlab-ci.yml': `stages: [build]
build:
  stage: build
  script: [make]
  artifact:
    paths: [out/]
`,
  });
  const res = await tandem.api<{ id: number; status: string }>('POST', `/api/v1/repos/${name}/pipelines`, {});
  assert.equal(res.status, 201, res.text);
  assert.equal(res.body.status, 'failed');
  const p = await tandem.pipeline(res.body.id);
  assert.equal(p.status, 'failed');
  assert.deepEqual(p.jobs, []);
  assert.match(p.error ?? '', /^\.gitlab-ci\.yml:5:3: error: .*artifact/m);

  const { name: broken } = await tandem.repo({ '.gitlab-ci.yml': 'job:\n  script: [true\n' });
  const syntax = await tandem.pipeline(await tandem.trigger(broken));
  assert.equal(syntax.status, 'failed');
  assert.match(syntax.error ?? '', /^\.gitlab-ci\.yml:\d+:\d+: /m);
});

test('an agent name in use by an online agent is refused (409 naming it); a name of an agent long gone is free', async () => {
  const first = await tandem.api<{ agentId: number; token: string }>('POST', '/api/v1/agents', { name: 'twin' });
  assert.equal(first.status, 201, first.text);
  const second = await tandem.api<ErrorBody>('POST', '/api/v1/agents', { name: 'twin' });
  assert.equal(second.status, 409);
  assert.match(second.body.message, new RegExp(`agent name "twin" is in use by agent ${first.body.agentId}, online`));
  // Renaming another agent to it is refused alike; the agent itself re-announcing it is fine.
  const other = await tandem.api<{ token: string }>('POST', '/api/v1/agents', { name: 'other' });
  const rename = await tandem.api<ErrorBody>(
    'PUT',
    '/api/v1/agent/self',
    { name: 'twin' },
    { authorization: `Bearer ${other.body.token}` },
  );
  assert.equal(rename.status, 409);
  assert.equal(
    (await tandem.api('PUT', '/api/v1/agent/self', { name: 'twin' }, { authorization: `Bearer ${first.body.token}` })).status,
    200,
  );
  // An agent whose presence stream broke (its process died) no longer holds the name.
  await tandem.server.ctx.store.db
    .updateTable('agents')
    .set({ disconnected_at: Date.now() })
    .where('id', '=', first.body.agentId)
    .execute();
  assert.equal((await tandem.api('POST', '/api/v1/agents', { name: 'twin' })).status, 201);
});
