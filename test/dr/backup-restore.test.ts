// Backup and restore of an embedded (SQLite) instance with the `tandem` CLI: a backup taken while
// pipelines run restores to a consistent state that a new server serves and finishes; a damaged
// blob fails `verify`, which names it; restores refuse what they must; the leader's scheduled
// backups to S3 are pruned, exported as a metric, and restore too.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { RESTORE_FENCING_GAP } from '../../src/dr/restore.js';
import { openStore } from '../../src/store/index.js';
import { tandem as cli } from '../cli/helpers.js';
import { until } from '../e2e/helpers.js';
import { s3ForFile, s3SkipReason, S3_ENV } from '../support/s3.js';
import { TestTandem } from '../support/tandem.js';
import { assertBlobsPresent, assertServesOldData, drRepo, pipelinesOf, writeBackupKey } from './helpers.js';

const s3 = s3ForFile(after);
const FAST_LEASES = { leaseSeconds: 2, agentDisconnectGraceSeconds: 1 };

let scratch: string;
let source: TestTandem;
let repo: string;
let backupKey: string;
let dest: string;
let firstPipeline: number;
const started: TestTandem[] = [];

before(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'tandem-dr-'));
  backupKey = await writeBackupKey(scratch);
  dest = path.join(scratch, 'backups');
  source = await TestTandem.start({ agents: 2, concurrency: 2, settings: FAST_LEASES });
  repo = await drRepo(source);
  firstPipeline = await source.trigger(repo);
  assert.equal((await source.waitForPipeline(firstPipeline, undefined, 30_000)).status, 'success');
});

after(async () => {
  for (const t of started) await t.close();
  await source.close();
  await rm(scratch, { recursive: true, force: true });
});

/** Backups the instance recorded as made. */
async function successfulBackups(t: TestTandem): Promise<number> {
  const store = await openStore(path.join(t.dataDir, 'tandem.db'), { migrateTo: 'none' });
  try {
    return (await store.db.selectFrom('backups').select('id').where('status', '=', 'success').execute()).length;
  } finally {
    await store.close();
  }
}

/** The blob digests the restored SQLite database refers to, and its integrity. */
function inspectRestored(dbFile: string): {
  digests: string[];
  running: number;
  integrity: string;
  foreignKeyProblems: unknown[];
  logGaps: unknown[];
  logBlobs: string[];
  fencing: number;
} {
  const db = new BetterSqlite3(dbFile, { readonly: true });
  try {
    const digests = (db.prepare('select digest from artifact_files').all() as { digest: string }[]).map((r) => r.digest);
    for (const r of db.prepare('select files from releases').all() as { files: string }[])
      for (const f of JSON.parse(r.files) as { digest: string }[]) digests.push(f.digest);
    // Finished jobs' logs are blobs in the artifact store, no longer rows.
    const logBlobs = (db.prepare('select log_blob from jobs where log_blob is not null').all() as { log_blob: string }[]).map(
      (r) => r.log_blob,
    );
    digests.push(...logBlobs);
    return {
      digests,
      logBlobs,
      running: (db.prepare("select count(*) as n from jobs where status = 'running'").get() as { n: number }).n,
      fencing: (db.prepare("select value from counters where name = 'fencing'").get() as { value: number }).value,
      integrity: (db.prepare('pragma integrity_check').get() as { integrity_check: string }).integrity_check,
      foreignKeyProblems: db.prepare('pragma foreign_key_check').all(),
      // Log chunks are numbered from 0 without gaps: a torn snapshot would show a hole.
      logGaps: db.prepare('select job_id from job_logs group by job_id having max(seq) + 1 != count(*)').all(),
    };
  } finally {
    db.close();
  }
}

test('a backup taken while pipelines run restores to a consistent state that a new server serves and finishes', async () => {
  const busy = await Promise.all([1, 2, 3].map(() => source.trigger(repo)));
  await until(
    'a job running',
    async () => ((await source.pipeline(busy[0])).jobs.some((j) => j.status === 'running') ? true : undefined),
    15_000,
  );

  const made = await cli(['backup', 'create', '--data-dir', source.dataDir, '--to', dest, '--backup-key-file', backupKey, '--json'], {
    timeoutMs: 30_000,
  });
  assert.equal(made.code, 0, made.stderr);
  const summary = JSON.parse(made.stdout) as { id: string; blobs: number; copiedBlobs: number; encryptedKeys: boolean; recorded: boolean };
  assert.ok(summary.blobs >= 2 && summary.encryptedKeys && summary.recorded, made.stdout);
  for (const id of busy) await source.waitForPipeline(id, undefined, 30_000);

  const restoredDir = path.join(scratch, 'restored');
  const restored = await cli(['restore', '--from', dest, '--data-dir', restoredDir, '--backup-key-file', backupKey], { timeoutMs: 30_000 });
  assert.equal(restored.code, 0, restored.stderr);
  assert.match(restored.stdout, new RegExp(`Restored backup ${summary.id}`));
  assert.match(restored.stdout, /wrote master\.key, admin\.token/);

  const state = inspectRestored(path.join(restoredDir, 'tandem.db'));
  assert.equal(state.integrity, 'ok');
  assert.deepEqual(state.foreignKeyProblems, []);
  assert.deepEqual(state.logGaps, []);
  assert.ok(state.running >= 1, 'the snapshot caught jobs running');
  // The source went on deploying after the snapshot: the restored instance's tokens start past its.
  assert.ok(state.fencing > RESTORE_FENCING_GAP, `fencing counter ${state.fencing}`);
  assert.ok(state.logBlobs.length >= 2, `the finished jobs' log blobs are in the backup: ${state.logBlobs.length}`);
  assert.ok((await assertBlobsPresent(state.digests, path.join(restoredDir, 'artifacts'))) >= 2);

  // The restored server starts at once (no lease of the old one in the way), takes the jobs the
  // snapshot caught running back from their lost agents, and runs every pipeline to its end.
  const again = await TestTandem.start({ agents: 1, dataDir: restoredDir, settings: FAST_LEASES });
  started.push(again);
  // The three pipelines deploy to one environment: a deploy still waiting for it when a newer one
  // starts waiting is canceled as superseded (GitLab's outdated-deployment rule), which is a
  // correct end, as long as the newest pipeline's deploy is not superseded.
  const pipelines = await pipelinesOf(again, repo);
  const newest = Math.max(...pipelines.map((p) => p.id));
  for (const p of pipelines) {
    const done = await again.waitForPipeline(p.id, undefined, 30_000);
    const unexpected = done.jobs.filter(
      (j) => !j.retried && j.status !== 'success' && !(p.id !== newest && j.status === 'canceled' && j.failureReason === 'superseded'),
    );
    if (unexpected.length > 0) {
      // The logs of what did not succeed say why (a refused deploy, a lost agent).
      const failed = unexpected;
      const logs = await Promise.all(failed.map(async (j) => `${j.name} (${j.status}, ${j.failureReason}):\n${await again.log(j.id)}`));
      assert.fail(`pipeline ${p.id}: ${JSON.stringify(done.jobs.map((j) => [j.name, j.status]))}\n${logs.join('\n')}`);
    }
  }
  await assertServesOldData(again, repo, firstPipeline, `version ${firstPipeline}`);
});

test('a flipped byte in a blob fails verify, which names the blob and who uses it', async () => {
  const ok = await cli(['backup', 'verify', '--from', dest, '--json'], { timeoutMs: 30_000 });
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  const report = JSON.parse(ok.stdout) as { ok: boolean; restore: { ok: boolean; counts: Record<string, number> } };
  assert.ok(report.ok && report.restore.ok && report.restore.counts.pipelines >= 4, ok.stdout);

  const listed = JSON.parse((await cli(['backup', 'list', '--from', dest, '--json'])).stdout) as { id: string }[];
  const manifestFile = path.join(dest, 'backups', `${listed.at(-1)!.id}.json`);
  const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as { blobs: { digest: string; ref: string }[] };
  const victim = manifest.blobs.find((b) => b.ref.includes('app/blob.bin'))!;
  const file = path.join(dest, 'blobs', 'sha256', victim.digest.slice(0, 2), victim.digest);
  const original = await readFile(file);
  const flipped = Buffer.from(original);
  flipped[1000] ^= 0x01;
  await writeFile(file, flipped);
  try {
    const bad = await cli(['backup', 'verify', '--from', dest], { timeoutMs: 30_000 });
    assert.equal(bad.code, 1, bad.stdout);
    assert.match(
      bad.stdout,
      new RegExp(`blob: blob sha256:${victim.digest} \\(${victim.ref.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\).*corrupt`),
    );
    assert.match(bad.stdout, /FAILED: 1 problem/);
  } finally {
    await writeFile(file, original);
  }
});

test('restore refuses a non-empty target without --force, a wrong backup key, and a backup whose master key it lacks', async () => {
  const occupied = path.join(scratch, 'occupied');
  await rm(occupied, { recursive: true, force: true });
  await mkdir(occupied);
  await writeFile(path.join(occupied, 'notes.txt'), 'mine');
  const refused = await cli(['restore', '--from', dest, '--data-dir', occupied, '--backup-key-file', backupKey]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /data directory .*occupied is not empty \(notes\.txt\): restore into a new directory, or pass --force/);
  assert.equal(await readFile(path.join(occupied, 'notes.txt'), 'utf8'), 'mine');

  const otherKey = await writeBackupKey(scratch, 'other.key');
  const wrongKey = await cli(['restore', '--from', dest, '--data-dir', path.join(scratch, 'wrong-key'), '--backup-key-file', otherKey]);
  assert.equal(wrongKey.code, 1);
  assert.match(wrongKey.stderr, /was encrypted with backup key bk_[0-9a-f]{16}, but .*other\.key holds bk_[0-9a-f]{16}/);

  const noKey = await cli(['restore', '--from', dest, '--data-dir', path.join(scratch, 'no-key')]);
  assert.equal(noKey.code, 1);
  assert.match(noKey.stderr, /holds secrets encrypted under master key mk_[0-9a-f]{16}: pass --backup-key-file/);

  const forced = await cli(['restore', '--from', dest, '--data-dir', occupied, '--backup-key-file', backupKey, '--force', '--json'], {
    timeoutMs: 30_000,
  });
  assert.equal(forced.code, 0, forced.stderr);
  assert.ok((JSON.parse(forced.stdout) as { counts: { pipelines: number } }).counts.pipelines >= 4);
});

describe('scheduled backups', { skip: s3SkipReason() }, () => {
  test('the leader backs up to S3 on schedule, keeps backupKeep, exports tandem_backup_age_seconds, and the backup restores', async () => {
    const to = (await s3()).url();
    const scheduled = await TestTandem.start({
      agents: 0,
      settings: { backupSchedule: '* * * * * *', backupTo: to, backupKeep: 2, backupKeyFile: backupKey },
    });
    started.push(scheduled);
    await scheduled.repo({ 'README.md': 'kept' }, { name: 'kept' });
    const listing = async () => {
      const res = await cli(['backup', 'list', '--from', to, '--json'], { env: S3_ENV });
      assert.equal(res.code, 0, res.stderr);
      return JSON.parse(res.stdout) as { id: string }[];
    };
    const recorded = await until(
      'three scheduled backups recorded',
      async () => {
        const metrics = (await scheduled.api('GET', '/metrics')).text;
        const age = new RegExp(
          `tandem_backup_age_seconds\\{destination="${to.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"\\} ([0-9.e+-]+)`,
        ).exec(metrics);
        const recordedOk = await successfulBackups(scheduled);
        return recordedOk >= 3 && age ? { age: Number(age[1]) } : undefined;
      },
      20_000,
      250,
    );
    assert.ok(recorded.age >= 0 && recorded.age < 10, String(recorded.age));
    // A backup runs every second, and the newest is listed a moment before the oldest is pruned:
    // count once the schedule has stopped (closing waits for the backup under way, prune included).
    await scheduled.close();
    const kept = (await listing()).length;
    assert.ok(kept >= 1 && kept <= 2, `backupKeep 2, yet ${kept} backups are listed`);

    const restoredDir = path.join(scratch, 'from-s3');
    const restored = await cli(['restore', '--from', to, '--data-dir', restoredDir, '--backup-key-file', backupKey], {
      env: S3_ENV,
      timeoutMs: 30_000,
    });
    assert.equal(restored.code, 0, restored.stderr);
    const again = await TestTandem.start({ agents: 0, dataDir: restoredDir });
    started.push(again);
    const repos = await again.api<{ name: string }[]>('GET', '/api/v1/repos');
    assert.deepEqual(
      repos.body.map((r) => r.name),
      ['kept'],
    );
  });
});
