// `tandem dr drill`: the newest backup restored into a scratch instance that serves the old data
// and runs a pipeline; RPO and RTO reported and exported by the live instance's metrics; the copy
// never runs the restored deploy jobs; a drill of a damaged backup fails and says so in the metrics.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { tandem as cli } from '../cli/helpers.js';
import { until } from '../e2e/helpers.js';
import { TestTandem } from '../support/tandem.js';
import { drRepo, writeBackupKey } from './helpers.js';

interface DrillJson {
  ok: boolean;
  backupId: string;
  rpoMs: number;
  rtoMs: number;
  startedAt: number;
  steps: { name: string; ok: boolean; detail: string }[];
  recorded: boolean;
  error: string | null;
}

let scratch: string;
let live: TestTandem;
let key: string;
let dest: string;

before(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'tandem-drill-test-'));
  key = await writeBackupKey(scratch);
  dest = path.join(scratch, 'backups');
  live = await TestTandem.start({ agents: 1 });
});
after(async () => {
  await live.close();
  await rm(scratch, { recursive: true, force: true });
});

const metric = (text: string, name: string) => {
  const m = new RegExp(`^${name}\\{destination="${dest.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"\\} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
};

async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).sort();
}

test('a drill restores the newest backup, serves it, runs a pipeline on it, and reports RPO and RTO as metrics', async () => {
  const repo = await drRepo(live);
  assert.equal((await live.waitForPipeline(await live.trigger(repo), undefined, 30_000)).status, 'success');
  // The backup catches a deploy pipeline unfinished: the drill's copy must not run it again.
  const busy = await live.trigger(repo);
  await until(
    'a job running',
    async () => ((await live.pipeline(busy)).jobs.some((j) => j.status === 'running') ? true : undefined),
    15_000,
  );
  const made = await cli(['backup', 'create', '--data-dir', live.dataDir, '--to', dest, '--backup-key-file', key], { timeoutMs: 30_000 });
  assert.equal(made.code, 0, made.stderr);
  await live.waitForPipeline(busy, undefined, 30_000);
  const deployed = await tree(path.join(live.dataDir, 'deployed'));

  const drill = await cli(['dr', 'drill', '--data-dir', live.dataDir, '--from', dest, '--backup-key-file', key, '--json'], {
    timeoutMs: 60_000,
  });
  assert.equal(drill.code, 0, drill.stdout + drill.stderr);
  const report = JSON.parse(drill.stdout) as DrillJson;
  assert.ok(report.ok && report.recorded, drill.stdout);
  assert.deepEqual(
    report.steps.map((s) => [s.name, s.ok]),
    ['restore', 'counts', 'isolate', 'ready', 'artifact', 'pipeline'].map((n) => [n, true]),
  );
  assert.match(
    report.steps.find((s) => s.name === 'isolate')!.detail,
    /^1 unfinished pipeline\(s\) and [1-9]\d* job\(s\) of the copy canceled/,
  );
  // RPO: from the backup's snapshot to the drill's start (the pipeline's wait lies between them).
  const manifest = JSON.parse(await readFile(path.join(dest, 'backups', `${report.backupId}.json`), 'utf8')) as { snapshotAt: number };
  assert.equal(report.rpoMs, report.startedAt - manifest.snapshotAt);
  assert.ok(report.rpoMs > 0 && report.rpoMs < 60_000, String(report.rpoMs));
  assert.ok(report.rtoMs > 0 && report.rtoMs < 30_000, String(report.rtoMs));
  assert.deepEqual(await tree(path.join(live.dataDir, 'deployed')), deployed, 'the drill deployed nothing');

  const metrics = (await live.api('GET', '/metrics')).text;
  assert.equal(metric(metrics, 'tandem_dr_drill_rto_seconds'), report.rtoMs / 1000);
  assert.equal(metric(metrics, 'tandem_dr_drill_rpo_seconds'), report.rpoMs / 1000);
  assert.equal(metric(metrics, 'tandem_dr_drill_failed'), 0);
  const lastSuccess = metric(metrics, 'tandem_dr_drill_last_success_timestamp_seconds')!;
  assert.ok(Math.abs(lastSuccess * 1000 - Date.now()) < 60_000, String(lastSuccess));
  assert.ok(metric(metrics, 'tandem_backup_age_seconds')! >= 0);

  const drills = await live.api<{ ok: boolean; backupId: string; rtoSeconds: number; steps: { name: string }[] }[]>(
    'GET',
    '/api/v1/dr/drills',
  );
  assert.equal(drills.status, 200, drills.text);
  assert.deepEqual(
    [drills.body[0].ok, drills.body[0].backupId, drills.body[0].rtoSeconds, drills.body[0].steps.length],
    [true, report.backupId, report.rtoMs / 1000, 6],
  );
  const backups = await live.api<{ id: string; status: string; madeBy: string }[]>('GET', '/api/v1/backups?limit=1');
  assert.deepEqual(
    backups.body.map((b) => [b.id, b.status, b.madeBy]),
    [[report.backupId, 'success', 'cli']],
  );
  assert.equal((await live.api('GET', '/api/v1/backups?limit=0')).status, 422);
});

test('a drill of a damaged backup fails, keeps the last success, and raises tandem_dr_drill_failed', async () => {
  const before = metric((await live.api('GET', '/metrics')).text, 'tandem_dr_drill_last_success_timestamp_seconds');
  const latest = (await readdir(path.join(dest, 'backups'))).sort().at(-1)!;
  const { database } = JSON.parse(await readFile(path.join(dest, 'backups', latest), 'utf8')) as { database: { digest: string } };
  const dump = path.join(dest, 'blobs', 'sha256', database.digest.slice(0, 2), database.digest);
  const bytes = await readFile(dump);
  bytes[bytes.length >> 1] ^= 0xff;
  await writeFile(dump, bytes);

  const drill = await cli(['dr', 'drill', '--data-dir', live.dataDir, '--from', dest, '--backup-key-file', key], { timeoutMs: 60_000 });
  assert.equal(drill.code, 1, drill.stdout + drill.stderr);
  assert.match(drill.stdout, /^FAIL restore .*corrupt/m, drill.stderr);
  assert.match(drill.stdout, /: FAILED; RPO \d+\.\d s .*RTO - /);
  const metrics = (await live.api('GET', '/metrics')).text;
  assert.equal(metric(metrics, 'tandem_dr_drill_failed'), 1);
  assert.equal(metric(metrics, 'tandem_dr_drill_last_success_timestamp_seconds'), before);
});
