// GET /api/v1/cluster on SQLite and on PostgreSQL: the one replica alive and leading, agents online,
// the newest backup and drill (their ids for admins only), and on PostgreSQL the host in use with
// its standby's replication lag, which reads as unknown (null) for a database role without
// pg_monitor instead of failing. And the SLO budget history the UI charts, grouped by PostgreSQL.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ClusterJson } from '../../src/api/index.js';
import { until } from '../e2e/helpers.js';
import { postgresSkipReason, startPostgres, type PostgresServer } from '../support/postgres.js';
import { TestTandem } from '../support/tandem.js';

/** A replica that has written its heartbeat and holds the leader lease. */
async function leading(tandem: TestTandem, token?: string): Promise<ClusterJson> {
  return until(
    'the replica leading',
    async () => {
      const res = await tandem.api<ClusterJson>('GET', '/api/v1/cluster', undefined, token ? { authorization: `Bearer ${token}` } : {});
      assert.equal(res.status, 200, res.text);
      return res.body.replicas.some((r) => r.leader) ? res.body : undefined;
    },
    15_000,
    100,
  );
}

describe('cluster health on SQLite', () => {
  let tandem: TestTandem;
  before(async () => {
    tandem = await TestTandem.start({ agents: 1 });
  });
  after(() => tandem?.close());

  it('shows the replica leading, the agent online, and the newest backup and drill (ids for admins)', async () => {
    const db = tandem.server.ctx.store.db;
    const now = Date.now();
    await db
      .insertInto('backups')
      .values({
        id: 'b-old',
        destination: 'file:///backups',
        status: 'success',
        started_at: now - 7_200_000,
        finished_at: now - 7_100_000,
        snapshot_at: now - 7_200_000,
        bytes: 10,
        bytes_copied: 10,
        blobs: 1,
        blobs_copied: 1,
        made_by: 'test',
        error: null,
      })
      .execute();
    await db
      .insertInto('backups')
      .values({
        id: 'b-new',
        destination: 'file:///backups',
        status: 'failed',
        started_at: now - 60_000,
        finished_at: now - 50_000,
        snapshot_at: null,
        bytes: 0,
        bytes_copied: 0,
        blobs: 0,
        blobs_copied: 0,
        made_by: 'test',
        error: 'disk full',
      })
      .execute();
    await db
      .insertInto('dr_drills')
      .values({
        backup_id: 'b-old',
        destination: 'file:///backups',
        started_at: now - 3_600_000,
        finished_at: now - 3_500_000,
        ok: 1,
        rto_ms: 20_000,
        rpo_ms: 60_000,
        error: null,
        report: '{"steps":[]}',
      })
      .execute();

    const cluster = await until('the agent online', async () => {
      const view = await leading(tandem);
      return view.agents.online === 1 ? view : undefined;
    });
    assert.equal(cluster.replicas.length, 1);
    const [replica] = cluster.replicas;
    assert.deepEqual([replica.id, replica.alive, replica.leader], [tandem.server.ctx.replicaId, true, true]);
    assert.deepEqual(cluster.database, { engine: 'sqlite' });
    assert.deepEqual([cluster.agents.busy, cluster.agents.offline], [0, 0]);
    assert.equal(cluster.agents.list[0].name, 'agent-1');
    assert.deepEqual(cluster.backup, {
      id: 'b-new',
      status: 'failed',
      startedAt: new Date(now - 60_000).toISOString(),
      finishedAt: new Date(now - 50_000).toISOString(),
    });
    assert.equal(cluster.drill?.ok, true);
    assert.equal(cluster.drill?.backupId, 'b-old');

    const user = await tandem.api('POST', '/api/v1/users', { username: 'viewer', password: 'correct-horse-battery-staple-9' });
    assert.equal(user.status, 201, user.text);
    const token = await tandem.api<{ token: string }>('POST', '/api/v1/tokens', { name: 'look', scopes: ['read_api'], username: 'viewer' });
    assert.equal(token.status, 201, token.text);
    const seen = await leading(tandem, token.body.token);
    assert.deepEqual(
      seen.backup,
      { status: 'failed', startedAt: new Date(now - 60_000).toISOString(), finishedAt: new Date(now - 50_000).toISOString() },
      'no backup id for a non-admin',
    );
    assert.deepEqual(seen.drill, { ok: true, finishedAt: new Date(now - 3_500_000).toISOString() });
    assert.equal((await fetch(tandem.url + '/api/v1/cluster')).status, 401);
  });
});

describe('cluster health on PostgreSQL', { skip: postgresSkipReason() }, () => {
  let primary: PostgresServer;
  let standby: PostgresServer;
  const tandems: TestTandem[] = [];
  before(async () => {
    primary = await startPostgres({ settings: { wal_level: 'replica' } });
    standby = await startPostgres({ standbyOf: primary });
  });
  after(async () => {
    for (const t of tandems) await t.close();
    await Promise.all([standby?.stop(), primary?.stop()]);
  });

  const standbyStreaming = (tandem: TestTandem) =>
    until('the standby in pg_stat_replication', async () => {
      const view = await leading(tandem);
      return view.database.engine === 'postgresql' && view.database.replication.length === 1 ? view.database : undefined;
    });

  it('as a superuser: the host in use, a primary, and its standby streaming with its lag', { timeout: 60_000 }, async () => {
    const tandem = await TestTandem.start({ agents: 0, settings: { databaseUrl: await primary.createDatabase() } });
    tandems.push(tandem);
    const database = await standbyStreaming(tandem);
    assert.equal(database.host, `127.0.0.1:${primary.port}`);
    assert.equal(database.inRecovery, false);
    const [stream] = database.replication;
    assert.equal(stream.state, 'streaming');
    assert.equal(stream.syncState, 'async');
    assert.equal(typeof stream.replayLagBytes, 'number');
    assert.ok(stream.replayLagBytes! >= 0);
  });

  it("the SLOs' budget burn-down (?history=1) from the recorded counts, as PostgreSQL groups them", { timeout: 30_000 }, async () => {
    const tandem = tandems[0];
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    await tandem.server.ctx.store.db
      .insertInto('sli_counts')
      .values({ sli: 'pipeline-system-errors', bucket: minute - 5 * 86_400_000, errors: 1, total: 400 })
      .execute();
    const res = await tandem.api<{
      slos: { name: string; evaluation: { budget: { remaining: number } }; history: { errors: number; remaining: number }[] }[];
    }>('GET', '/api/v1/slos?history=1');
    assert.equal(res.status, 200, res.text);
    const slo = res.body.slos.find((s) => s.name === 'pipeline-system-errors')!;
    assert.equal(slo.history.length, 30);
    assert.equal(
      slo.history.reduce((n, p) => n + p.errors, 0),
      1,
    );
    assert.equal(slo.history[0].remaining, 1);
    assert.equal(slo.history[29].remaining, slo.evaluation.budget.remaining, 'the burn-down ends at the budget left');
    assert.equal(slo.evaluation.budget.remaining, 0.5);
  });

  it('as a role without pg_monitor: the lag is unknown (null), not an error', { timeout: 60_000 }, async () => {
    await primary.query('create role tandem_plain login');
    await primary.query('create database tandem_plain owner tandem_plain');
    const tandem = await TestTandem.start({
      agents: 0,
      settings: { databaseUrl: `postgresql://tandem_plain@127.0.0.1:${primary.port}/tandem_plain` },
    });
    tandems.push(tandem);
    const [stream] = (await standbyStreaming(tandem)).replication;
    assert.equal(stream.replayLagBytes, null);
    assert.equal(stream.replayLagSeconds, null);
  });
});
