// Active-active servers on one PostgreSQL database: any replica takes any request, live logs reach
// SSE clients of every replica, a webhook delivered to two replicas makes one pipeline, and when a
// replica dies its agents move to another and the next leader takes over the background duties.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { Agent } from '../../src/agent/agent.js';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import type { PipelineJson } from '../../src/api/index.js';
import { makeRemote } from '../support/git.js';
import { postgresForFile, postgresSkipReason } from '../support/postgres.js';
import { deliver, logText, pushDelivery, readSse, until } from './helpers.js';

const silent = pino({ level: process.env.TANDEM_TEST_LOG ?? 'silent' });

describe('active-active replicas on PostgreSQL', { skip: postgresSkipReason() }, () => {
  const postgres = postgresForFile(after);
  let root: string;
  let replicas: RunningServer[] = [];
  let agent: Agent;
  let token: string;

  async function replica(databaseUrl: string, name: string): Promise<RunningServer> {
    const config = loadConfig(
      // Replicas share the master key of secrets at rest, as they share the database.
      {
        dataDir: path.join(root, name),
        artifactsUrl: path.join(root, 'artifacts'),
        databaseUrl,
        masterKeyFile: path.join(root, 'master.key'),
        port: 0,
        listen: '127.0.0.1',
        leaseSeconds: 2,
        logLevel: 'silent',
      },
      {},
    );
    return startServer(config, silent);
  }

  async function api<T>(server: RunningServer, method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(server.url + urlPath, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as T };
  }

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tandem-replicas-'));
    await writeFile(path.join(root, 'master.key'), randomBytes(32).toString('base64'), { mode: 0o600 });
    const databaseUrl = await (await postgres()).createDatabase();
    replicas = [await replica(databaseUrl, 'a'), await replica(databaseUrl, 'b')];
    // One admin token for the cluster: the first replica created it, the second found it.
    token = replicas[0].newAdminToken ?? '';
    assert.ok(token.startsWith('tdm_'));
    assert.equal(replicas[1].newAdminToken, null);
    agent = new Agent({
      servers: replicas.map((r) => r.url),
      token,
      concurrency: 2,
      workDir: path.join(root, 'agent'),
      tags: [],
      executor: 'shell',
      name: 'agent',
      log: silent,
      version: 'test',
    });
    await agent.start();
  });

  after(async () => {
    await agent?.stop({ cancelRunning: true, deliveryGraceMs: 1000 });
    await Promise.all(replicas.map((r) => r.close()));
    await rm(root, { recursive: true, force: true });
  });

  it('every replica serves the same web UI build', async () => {
    const pages = await Promise.all(replicas.map(async (r) => (await fetch(r.url + '/pipelines/1')).text()));
    const scripts = pages.map((html) => /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1]);
    assert.ok(scripts[0], 'the app names its script');
    assert.equal(scripts[1], scripts[0]);
    for (const r of replicas) assert.equal((await fetch(r.url + scripts[0])).status, 200, r.url);
  });

  it('serves one cluster: logs followed on one replica while the agent reports to the other, one pipeline per webhook delivery, failover of agents and leadership', async () => {
    const [a, b] = replicas;
    const remote = await makeRemote(await mkdtemp(path.join(root, 'repo-')));
    // Ticks a second apart: the agent holds output up to half a second before sending it.
    const sha = await remote.commit(
      { '.gitlab-ci.yml': 'slow:\n  script:\n    - for i in 1 2 3 4 5; do echo "tick $i"; sleep 1; done\n' },
      'initial',
    );
    await remote.push('main');
    assert.equal((await api(a, 'POST', '/api/v1/repos', { name: 'shop', url: remote.bare, webhookSecret: 'replica-secret' })).status, 201);

    // Leadership: exactly one replica runs the singleton duties.
    await until('a leader', async () => (await leaders()).length === 1 || undefined);

    // Triggered through b; the agent reports to a (its first server); followed live on b.
    const created = await api<{ id: number }>(b, 'POST', '/api/v1/repos/shop/pipelines', {});
    assert.equal(created.status, 201);
    const job = await until('the job running', async () => {
      const p = (await api<PipelineJson>(b, 'GET', `/api/v1/pipelines/${created.body.id}`)).body;
      return p.jobs[0]?.status === 'running' ? p.jobs[0] : undefined;
    });
    const events = await readSse(`${b.url}/api/v1/jobs/${job.id}/log/stream`, token, { timeoutMs: 15_000 }).events;
    const ticks = logText(events).match(/^tick \d$/gm);
    assert.deepEqual(ticks, ['tick 1', 'tick 2', 'tick 3', 'tick 4', 'tick 5'], 'every line reached the other replica, once, in order');
    const lastTick = events.filter((e) => e.event === 'log' && (e.data as string).includes('tick 4'))[0];
    const end = events.find((e) => e.event === 'end');
    assert.ok(end && (end.data as { status: string }).status === 'success');
    assert.ok(lastTick && end && end.receivedAt - lastTick.receivedAt >= 200, 'lines arrived live, not as one backlog at the end');

    // The same delivery to both replicas (a forge retrying against the load balancer): one pipeline.
    const delivery = pushDelivery('gitlab', 'replica-secret', {
      ref: 'refs/heads/main',
      before: '0'.repeat(40),
      after: sha,
      deliveryId: 'dup-1',
    });
    const [r1, r2] = await Promise.all([deliver(a.url, 'gitlab', 'shop', delivery), deliver(b.url, 'gitlab', 'shop', delivery)]);
    const made = [r1, r2].filter((r) => r.status === 201);
    assert.equal(made.length, 1, `exactly one replica created the pipeline: ${r1.status} ${r2.status}`);

    // Replica a dies: the agent carries on with b, and b leads (a's lease expires or was handed back).
    await a.close();
    replicas = [b];
    await until('b leads', async () => (await b.ctx.metrics.leader.get()).values[0]?.value === 1 || undefined, 10_000);
    const again = await api<{ id: number }>(b, 'POST', '/api/v1/repos/shop/pipelines', {});
    const done = await until(
      'the pipeline after the failover',
      async () => {
        const p = (await api<PipelineJson>(b, 'GET', `/api/v1/pipelines/${again.body.id}`)).body;
        return ['success', 'failed'].includes(p.status) ? p : undefined;
      },
      20_000,
    );
    assert.equal(done.status, 'success');

    async function leaders() {
      const values = await Promise.all(replicas.map(async (r) => (await r.ctx.metrics.leader.get()).values[0]?.value ?? 0));
      return values.filter((v) => v === 1);
    }
  });
});
