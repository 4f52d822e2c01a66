// Tandem's alerts about itself on a real cluster: two server replicas on PostgreSQL (one a child
// process), a streaming standby, and a real Alertmanager as the notifier. SIGKILLing the leading
// replica raises TandemLeaderChanged on the other and, two leases later, TandemReplicaDown; a
// broken artifact directory raises TandemArtifactStoreErrors; promoting the standby after the
// primary dies raises TandemDatabaseFailover. Each reaches Alertmanager with its runbook link into
// docs/disaster-recovery.md. `tandem alerts rules` passes promtool with synthetic series.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { stringify } from 'yaml';
import { loadConfig } from '../../src/config/index.js';
import { alertingSchema } from '../../src/monitor/alerting/config.js';
import type { AlertView } from '../../src/api/index.js';
import { SELF_ALERTS, selfRuleFile } from '../../src/monitor/alerting/self-alerts.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { CLI, cleanEnv, tandem as runCli } from '../cli/helpers.js';
import { until } from '../e2e/helpers.js';
import { alertmanagerSkipReason, startAlertmanager, type AlertmanagerServer } from '../support/alertmanager.js';
import { postgresSkipReason, startPostgres, type PostgresServer } from '../support/postgres.js';
import { promtool, promtoolSkipReason } from './promtool.js';

const silent = pino({ level: process.env.TANDEM_TEST_LOG ?? 'silent' });
const skip = postgresSkipReason() || alertmanagerSkipReason();

describe("Tandem's own alerts on a cluster", { skip }, () => {
  let root = '';
  let primary: PostgresServer;
  let standby: PostgresServer;
  let am: AlertmanagerServer;
  let child: ChildProcess | null = null;
  let server: RunningServer;
  let databaseUrl = '';

  const settings = () => ({
    databaseUrl,
    masterKeyFile: path.join(root, 'master.key'),
    leaseSeconds: 1,
    // The signal window (5 min) and the event hold (10 min) shrink like the SLO windows.
    sloWindowScale: 60,
    alerting: {
      evaluationIntervalSeconds: 0.25,
      dbConnectionErrors: 1000,
      notifiers: [{ type: 'alertmanager', name: 'am', url: am.url, resendSeconds: 1 }],
    },
  });

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tandem-self-alerts-'));
    await writeFile(path.join(root, 'master.key'), randomBytes(32).toString('base64'), { mode: 0o600 });
    am = await startAlertmanager();
    primary = await startPostgres({ settings: { wal_level: 'replica' } });
    const dbUrl = new URL(await primary.createDatabase());
    standby = await startPostgres({ standbyOf: primary });
    databaseUrl = `postgresql://postgres@127.0.0.1:${primary.port},127.0.0.1:${standby.port}${dbUrl.pathname}`;

    // The replica to lose: a `tandem server` process, started first so that it leads.
    await mkdir(path.join(root, 'b'));
    await writeFile(
      path.join(root, 'b', 'tandem.yml'),
      stringify({ ...settings(), dataDir: path.join(root, 'b'), port: 0, logLevel: 'warn' }),
    );
    child = spawn(process.execPath, [CLI, 'server', '--config', path.join(root, 'b', 'tandem.yml')], {
      env: cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (output += b.toString()));
    await until('replica b listening', () => (/Tandem listening on/.test(output) ? true : undefined), 20_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${output}`);
    });
    server = await startServer(
      loadConfig({ ...settings(), dataDir: path.join(root, 'a'), port: 0, listen: '127.0.0.1', logLevel: 'silent' }, {}),
      silent,
    );
  });

  after(async () => {
    child?.kill('SIGKILL');
    await server?.close();
    await Promise.all([primary?.stop(), standby?.stop(), am?.stop()]);
    await rm(root, { recursive: true, force: true });
  });

  const db = () => server.ctx.store.db;
  const firing = async (name: string): Promise<AlertView | undefined> => {
    const rows = await db().selectFrom('alerts').selectAll().where('name', '=', name).where('state', '=', 'firing').execute();
    return (
      rows[0] && ({ ...rows[0], labels: JSON.parse(rows[0].labels), annotations: JSON.parse(rows[0].annotations) } as unknown as AlertView)
    );
  };
  const inAlertmanager = (name: string) =>
    until(`${name} in Alertmanager`, async () => (await am.alerts()).find((a) => a.labels.alertname === name), 10_000);

  it('losing the leading replica: the other takes over, says so, and reports the lost one down', { timeout: 30_000 }, async () => {
    // Replica b leads and has evaluated the alerts (it remembers itself as the leader).
    const lost = await until(
      'replica b leading',
      async () => {
        const lease = await db().selectFrom('leases').select('holder').where('name', '=', 'leader').executeTakeFirst();
        const remembered = await db().selectFrom('alerting_state').select('value').where('key', '=', 'leader').executeTakeFirst();
        return lease &&
          lease.holder !== server.ctx.replicaId &&
          remembered &&
          (JSON.parse(remembered.value) as { value: string }).value === lease.holder
          ? lease.holder
          : undefined;
      },
      10_000,
    );
    child!.kill('SIGKILL');

    const changed = await until('TandemLeaderChanged', () => firing('TandemLeaderChanged'), 10_000);
    assert.match(
      changed.annotations.description,
      new RegExp(`Replica ${server.ctx.replicaId} became the leader .* taking over from ${lost}\\.`),
    );
    const down = await until('TandemReplicaDown', () => firing('TandemReplicaDown'), 10_000);
    assert.ok(down.value! > 2, `silent for ${down.value} s: more than two leases of 1 s`);
    assert.equal(down.labels.replica, lost);
    assert.equal(down.severity, 'page');

    const received = await inAlertmanager('TandemReplicaDown');
    assert.equal(received.labels.replica, lost);
    assert.equal(received.annotations.runbook_url, 'docs/disaster-recovery.md#replica-down');
    assert.equal(received.status.state, 'active');
    assert.equal((await inAlertmanager('TandemLeaderChanged')).annotations.runbook_url, 'docs/disaster-recovery.md#leader-change');
  });

  it('a failing artifact store raises TandemArtifactStoreErrors', { timeout: 20_000 }, async () => {
    // Where uploads are staged is a file now: every write fails in the store itself.
    const artifacts = path.join(root, 'a', 'artifacts');
    await mkdir(artifacts, { recursive: true });
    await writeFile(path.join(artifacts, 'tmp'), 'not a directory');
    await assert.rejects(server.ctx.blobs.put(Readable.from([Buffer.from('bytes')])));
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /^tandem_artifact_store_errors_total\{store="primary",operation="put"\} 1$/m);
    const alert = await until('TandemArtifactStoreErrors', () => firing('TandemArtifactStoreErrors'), 10_000);
    assert.equal(alert.value, 1);
    assert.equal(
      (await inAlertmanager('TandemArtifactStoreErrors')).annotations.runbook_url,
      'docs/disaster-recovery.md#artifact-store-errors',
    );
  });

  it('a database failover raises TandemDatabaseFailover naming both hosts', { timeout: 30_000 }, async () => {
    await primary.halt();
    await standby.promote();
    const alert = await until('TandemDatabaseFailover', () => firing('TandemDatabaseFailover'), 20_000);
    assert.match(alert.annotations.description, new RegExp(`from 127\\.0\\.0\\.1:${primary.port} to 127\\.0\\.0\\.1:${standby.port}`));
    assert.match(await (await fetch(`${server.url}/metrics`)).text(), /^tandem_db_host_changes_total 1$/m);
    assert.equal((await inAlertmanager('TandemDatabaseFailover')).annotations.runbook_url, 'docs/disaster-recovery.md#database-failover');
  });
});

describe('`tandem alerts rules`', { skip: promtoolSkipReason() }, () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tandem-self-rules-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('prints the rules of Tandem’s own alerts; promtool fires each on synthetic series', async () => {
    await writeFile(
      path.join(dir, 'tandem.yml'),
      stringify({ alerting: { backupRpoSeconds: 3600, dbConnectionErrors: 3, drRunbookUrl: 'https://ops.example/dr.md' } }),
    );
    const printed = await runCli(['alerts', 'rules', '--config', path.join(dir, 'tandem.yml'), '--job', 'tandem-ci']);
    assert.equal(printed.code, 0, printed.stderr);
    assert.equal(
      printed.stdout,
      selfRuleFile(
        alertingSchema.parse({ backupRpoSeconds: 3600, dbConnectionErrors: 3, drRunbookUrl: 'https://ops.example/dr.md' }),
        'tandem-ci',
      ),
    );
    await writeFile(path.join(dir, 'self.rules.yml'), printed.stdout);
    const check = await promtool(['check', 'rules', 'self.rules.yml'], dir);
    assert.equal(check.code, 0, check.output);
    assert.match(check.output, new RegExp(`SUCCESS: ${Object.keys(SELF_ALERTS).length} rules found`));

    const expect = (alertname: string, labels: Record<string, string> = {}) => {
      const a = Object.values(SELF_ALERTS).find((x) => x.name === alertname)!;
      return {
        exp_labels: { severity: a.severity, ...labels },
        exp_annotations: { summary: a.summary, runbook_url: `https://ops.example/dr.md#${a.anchor}` },
      };
    };
    const tests = [
      {
        name: 'each alert fires on its signal and not without it',
        interval: '1m',
        input_series: [
          // Replica b stops answering at minute 5.
          { series: 'up{job="tandem-ci",instance="a:8080"}', values: '1x20' },
          { series: 'up{job="tandem-ci",instance="b:8080"}', values: '1x4 0x15' },
          // Leadership moves from b to a at minute 5.
          { series: 'tandem_leader{job="tandem-ci",instance="a:8080"}', values: '0x4 1x15' },
          { series: 'tandem_leader{job="tandem-ci",instance="b:8080"}', values: '1x4' },
          // A failover at minute 6; connection errors (2 before it, 3 during it).
          { series: 'tandem_db_host_changes_total{instance="a:8080"}', values: '0x5 1x14' },
          { series: 'tandem_db_errors_total{instance="a:8080",operation="select",kind="connection"}', values: '0 1 2 2 2 2 5x14' },
          // Artifact store errors at minute 8.
          { series: 'tandem_artifact_store_errors_total{instance="a:8080",operation="put"}', values: '0x7 1x12' },
          // The backup ages past the hour's RPO after minute 6; the drill fails at minute 12.
          { series: 'tandem_backup_age_seconds{instance="a:8080"}', values: '0+600x20' },
          { series: 'tandem_dr_drill_failed{instance="a:8080"}', values: '0x11 1x8' },
        ],
        alert_rule_test: [
          { eval_time: '4m', alertname: 'TandemReplicaDown', exp_alerts: [] },
          {
            eval_time: '7m',
            alertname: 'TandemReplicaDown',
            exp_alerts: [expect('TandemReplicaDown', { job: 'tandem-ci', instance: 'b:8080' })],
          },
          { eval_time: '3m', alertname: 'TandemLeaderChanged', exp_alerts: [] },
          { eval_time: '6m', alertname: 'TandemLeaderChanged', exp_alerts: [expect('TandemLeaderChanged')] },
          { eval_time: '5m', alertname: 'TandemDatabaseFailover', exp_alerts: [] },
          { eval_time: '7m', alertname: 'TandemDatabaseFailover', exp_alerts: [expect('TandemDatabaseFailover')] },
          { eval_time: '4m', alertname: 'TandemDatabaseConnectionErrors', exp_alerts: [] },
          { eval_time: '7m', alertname: 'TandemDatabaseConnectionErrors', exp_alerts: [expect('TandemDatabaseConnectionErrors')] },
          { eval_time: '7m', alertname: 'TandemArtifactStoreErrors', exp_alerts: [] },
          { eval_time: '9m', alertname: 'TandemArtifactStoreErrors', exp_alerts: [expect('TandemArtifactStoreErrors')] },
          { eval_time: '16m', alertname: 'TandemArtifactStoreErrors', exp_alerts: [] },
          { eval_time: '6m', alertname: 'TandemBackupTooOld', exp_alerts: [] },
          { eval_time: '7m', alertname: 'TandemBackupTooOld', exp_alerts: [expect('TandemBackupTooOld')] },
          { eval_time: '11m', alertname: 'TandemDrDrillFailed', exp_alerts: [] },
          { eval_time: '13m', alertname: 'TandemDrDrillFailed', exp_alerts: [expect('TandemDrDrillFailed')] },
        ],
      },
    ];
    await writeFile(
      path.join(dir, 'self.tests.yml'),
      stringify({ rule_files: ['self.rules.yml'], evaluation_interval: '1m', tests }, { lineWidth: 0 }),
    );
    const run = await promtool(['test', 'rules', 'self.tests.yml'], dir);
    assert.equal(run.code, 0, run.output);
  });
});
