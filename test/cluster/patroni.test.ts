// The real HA cluster of ops/cluster/cluster.sh: etcd x3, PostgreSQL x3 under Patroni, HAProxy, two
// `tandem server` replicas and one `tandem agent`, all real processes on loopback. It runs a pipeline
// through HAProxy, kills the primary's postmaster and measures how long Tandem's writes fail, then
// SIGKILLs a Tandem replica and checks that HAProxy routes around it.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PipelineJson } from '../../src/api/index.js';
import { until } from '../e2e/helpers.js';
import { clusterSkipReason, LocalCluster } from '../support/cluster.js';
import { makeRemote } from '../support/git.js';

const FINAL = ['success', 'failed', 'canceled', 'skipped'];

describe('the Patroni cluster of ops/cluster', { skip: clusterSkipReason('the Patroni cluster test') }, () => {
  let cluster: LocalCluster;
  let scratch = '';
  let token = '';
  let tandemUrl = '';

  async function api<T>(method: string, urlPath: string, body?: unknown, timeoutMs = 20_000): Promise<{ status: number; body: T }> {
    const res = await fetch(tandemUrl + urlPath, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  }

  async function finished(id: number, timeoutMs: number): Promise<PipelineJson> {
    return until(
      `pipeline ${id} to finish`,
      async () => {
        const p = await api<PipelineJson>('GET', `/api/v1/pipelines/${id}`).catch(() => null);
        return p?.status === 200 && FINAL.includes(p.body.status) ? p.body : undefined;
      },
      timeoutMs,
      200,
    );
  }

  before(async () => {
    scratch = await mkdtemp(path.join(tmpdir(), 'tandem-cluster-repo-'));
    cluster = await LocalCluster.up({ servers: 2, agents: 1 });
    tandemUrl = cluster.ports.TANDEM_URL;
    token = (await readFile(cluster.ports.ADMIN_TOKEN_FILE, 'utf8')).trim();
  });

  after(async () => {
    try {
      await cluster?.down();
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });

  it('is up: status reports every part healthy, and up refuses to start it twice', { timeout: 30_000 }, async () => {
    const status = await cluster.run(['status'], 20_000);
    assert.match(status, /^patroni\d +\d+ +primary/m);
    assert.equal(status.match(/^patroni\d +\d+ +replica/gm)?.length, 2, status);
    assert.equal(status.match(/^server\d +\d+ +ready$/gm)?.length, 2, status);
    await assert.rejects(cluster.run(['up'], 20_000), /already up/);
  });

  it('runs a pipeline through HAProxy', { timeout: 60_000 }, async () => {
    const remote = await makeRemote(scratch);
    // NAP lets one pipeline run long enough to span the database failover below.
    await remote.commit(
      { '.gitlab-ci.yml': 'build:\n  script:\n    - sleep "${NAP:-0}"\n    - echo "built $CI_PIPELINE_ID"\n' },
      'initial',
    );
    await remote.push('main');
    assert.equal((await api('POST', '/api/v1/repos', { name: 'shop', url: remote.bare })).status, 201);
    const created = await api<{ id: number }>('POST', '/api/v1/repos/shop/pipelines', {});
    assert.equal(created.status, 201);
    assert.equal((await finished(created.body.id, 45_000)).status, 'success');
  });

  it(
    'fails PostgreSQL over when the primary dies: writes resume within 5 s of the promotion',
    { timeout: 90_000 },
    async (t: TestContext) => {
      const spanning = await api<{ id: number }>('POST', '/api/v1/repos/shop/pipelines', { variables: { NAP: '6' } });
      assert.equal(spanning.status, 201);
      await until(
        'the spanning job to run',
        async () =>
          (await api<PipelineJson>('GET', `/api/v1/pipelines/${spanning.body.id}`)).body.jobs[0]?.status === 'running' ? true : undefined,
        30_000,
        100,
      );

      const { leader, killedAt, promoted } = await cluster.killPrimaryPostgres();
      // Tandem's writes: create pipelines through HAProxy until one is created.
      const failures: string[] = [];
      let created: { id: number } | undefined;
      while (!created) {
        assert.ok(Date.now() - killedAt < 40_000, `no pipeline could be created within 40 s of the kill: ${failures.join('; ')}`);
        const res = await api<{ id: number; error?: string }>('POST', '/api/v1/repos/shop/pipelines', {}).catch((err: Error) => err);
        if (!(res instanceof Error) && res.status === 201) created = res.body;
        else {
          failures.push(`${Date.now() - killedAt} ms: ${res instanceof Error ? res.message : `${res.status} ${res.body.error ?? ''}`}`);
          await sleep(100);
        }
      }
      const writtenAt = Date.now();
      const promotedAt = await promoted;
      t.diagnostic(
        `failover: standby promoted ${promotedAt - killedAt} ms after the kill; Tandem wrote again ${writtenAt - killedAt} ms after the kill, ` +
          `${writtenAt - promotedAt} ms after the promotion; failed attempts: ${failures.join('; ') || 'none'}`,
      );
      assert.ok(writtenAt - promotedAt <= 5000, `writes resumed ${writtenAt - promotedAt} ms after the promotion (target 5000)`);

      assert.equal((await finished(created.id, 45_000)).status, 'success', 'a pipeline started after the failover succeeds');
      const across = await finished(spanning.body.id, 60_000);
      t.diagnostic(`the pipeline running across the failover ended ${across.status}`);
      assert.ok(FINAL.includes(across.status));

      // use_pg_rewind: the old primary comes back as a standby of the new one.
      await until(
        'the old primary to rejoin as a standby',
        async () => {
          const members = await cluster.members().catch(() => []);
          const old = members.find((m) => m.name === leader);
          return members.filter((m) => m.state === 'running' || m.state === 'streaming').length === 3 && old && old.role !== 'leader'
            ? true
            : undefined;
        },
        30_000,
        250,
      );
      t.diagnostic(`the old primary ${leader} rejoined as a standby ${Date.now() - killedAt} ms after the kill`);
    },
  );

  it('routes around a SIGKILLed Tandem replica within 2 s', { timeout: 30_000 }, async (t: TestContext) => {
    const pid = Number((await readFile(path.join(cluster.stateDir, 'run', 'server1.pid'), 'utf8')).trim());
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    const outcomes: { at: number; ok: boolean; what: string }[] = [];
    while (Date.now() - killedAt < 3000) {
      const res = await api('GET', '/api/v1/repos/shop/pipelines?limit=1', undefined, 2000).catch((err: Error) => err);
      const what = res instanceof Error ? res.message : String(res.status);
      outcomes.push({ at: Date.now() - killedAt, ok: what === '200', what });
      await sleep(50);
    }
    const failed = outcomes.filter((o) => !o.ok);
    t.diagnostic(
      `after the replica's SIGKILL: ${outcomes.length - failed.length} of ${outcomes.length} requests succeeded; ` +
        `failed: ${failed.map((o) => `${o.at} ms: ${o.what}`).join('; ') || 'none'}`,
    );
    assert.deepEqual(
      failed.filter((o) => o.at > 2000),
      [],
      'every request from 2 s after the kill succeeds',
    );
    assert.ok(
      outcomes.some((o) => o.ok && o.at <= 2000),
      'a request succeeded within 2 s',
    );
    await until(
      'HAProxy to mark server1 down',
      async () => ((await cluster.haproxyStatus('tandem', 'server1'))?.startsWith('DOWN') ? true : undefined),
      3000,
    );
  });
});
