// Backups over time, in-process: a later backup copies only the blobs new since the last one and
// pruning keeps what the remaining backups need; a backup of the previous schema version restores
// and is migrated forward; a backup of a newer Tandem is refused before anything is written.
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { decodeLogBlob, FsBlobStore } from '../../src/artifacts/index.js';
import { readMasterKeyFile } from '../../src/auth/secrets/index.js';
import { loadConfig } from '../../src/config/index.js';
import {
  backupAndRecord,
  listBackups,
  openDestination,
  pruneBackups,
  readBackupKeyFile,
  restoreBackup,
  RestoreError,
  verifyBackup,
  findBackup,
  type BackupKey,
} from '../../src/dr/index.js';
import { MIGRATION_NAMES, openStore } from '../../src/store/index.js';
import { TestTandem } from '../support/tandem.js';
import { assertServesOldData, drRepo, logsMoved, writeBackupKey } from './helpers.js';

let scratch: string;
let source: TestTandem;
let repo: string;
let key: BackupKey;
const started: TestTandem[] = [];

before(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'tandem-dr-history-'));
  key = await readBackupKeyFile(await writeBackupKey(scratch));
  source = await TestTandem.start({ agents: 1 });
  repo = await drRepo(source);
  assert.equal((await source.waitForPipeline(await source.trigger(repo), undefined, 30_000)).status, 'success');
  await logsMoved(source.dataDir);
});
after(async () => {
  for (const t of started) await t.close();
  await source.close();
  await rm(scratch, { recursive: true, force: true });
});

/** A backup of the instance whose data dir is `dataDir`, as `tandem backup create` makes it. */
async function backup(dataDir: string, to: string) {
  return backupAndRecord({
    config: loadConfig({ dataDir }, {}),
    databaseUrl: path.join(dataDir, 'tandem.db'),
    artifacts: new FsBlobStore(path.join(dataDir, 'artifacts')),
    to,
    backupKey: key,
    masterKey: await readMasterKeyFile(path.join(dataDir, 'master.key')),
    madeBy: 'test',
  });
}

test('a later backup copies only new blobs; pruning keeps every blob the remaining backups use', async () => {
  const to = path.join(scratch, 'incremental');
  const first = await backup(source.dataDir, to);
  assert.equal(first.notRecorded, null);
  assert.equal(first.manifest.copied.blobs, first.manifest.blobs.length);
  // Same data: nothing to copy.
  assert.equal((await backup(source.dataDir, to)).manifest.copied.blobs, 0);

  // A pipeline adds two artifact files (VERSION and a random blob.bin; the release reuses them) and
  // its jobs' logs, each a blob once the job ended (one the same as an earlier job's is stored once).
  assert.equal((await source.waitForPipeline(await source.trigger(repo), undefined, 30_000)).status, 'success');
  await logsMoved(source.dataDir);
  const third = await backup(source.dataDir, to);
  const added = third.manifest.blobs.length - first.manifest.blobs.length;
  assert.ok(added >= 3 && added <= 4, `new blobs: ${added}`);
  assert.equal(third.manifest.copied.blobs, added);
  assert.equal(
    third.manifest.copied.bytes,
    third.manifest.blobs.filter((b) => !first.manifest.blobs.some((f) => f.digest === b.digest)).reduce((n, b) => n + b.size, 0),
  );

  const dest = openDestination(to);
  try {
    const pruned = await pruneBackups(dest, 1);
    assert.equal(pruned.deleted.length, 2);
    assert.ok(pruned.collected);
    const report = await verifyBackup(dest, await findBackup(dest));
    assert.ok(report.ok, JSON.stringify(report.problems));
    // Only the remaining backup's parts are left: its blobs, its database dump and its key bundle.
    const left = (await readdir(path.join(to, 'blobs', 'sha256'), { recursive: true })).filter((f) =>
      /^[0-9a-f]{64}$/.test(path.basename(f)),
    );
    assert.equal(left.length, third.manifest.blobs.length + 2);
  } finally {
    dest.close();
  }
});

test('a backup of the previous schema version restores and is migrated forward', async () => {
  // An instance of a version before backups were recorded: its schema stops just before 010_dr;
  // its rows are a real server's.
  const previous = MIGRATION_NAMES[MIGRATION_NAMES.indexOf('010_dr') - 1];
  await source.stopServer();
  const oldDir = path.join(scratch, 'old');
  try {
    (await openStore(path.join(oldDir, 'tandem.db'), { migrateTo: previous })).close();
    const db = new BetterSqlite3(path.join(oldDir, 'tandem.db'));
    try {
      // Rows are copied table by table, in no particular order.
      db.pragma('foreign_keys = off');
      db.prepare('attach database ? as src').run(path.join(source.dataDir, 'tandem.db'));
      const tables = db
        .prepare("select name from main.sqlite_master where type = 'table' and name not like 'kysely_%' and name not like 'sqlite_%'")
        .all() as { name: string }[];
      for (const { name } of tables) {
        // The old schema's columns only: later migrations add columns to its tables.
        const columns = (db.prepare(`select name from pragma_table_info('${name}', 'main')`).all() as { name: string }[])
          .map((c) => `"${c.name}"`)
          .join(', ');
        db.exec(`insert or replace into main."${name}" (${columns}) select ${columns} from src."${name}"`);
      }
      // That version kept every log as rows: the finished jobs' logs come back from their blobs.
      const blobs = new FsBlobStore(path.join(source.dataDir, 'artifacts'));
      const insert = db.prepare('insert or replace into main.job_logs (job_id, seq, data, created_at) values (?, ?, ?, ?)');
      for (const job of db.prepare('select id, log_blob from src.jobs where log_blob is not null').all() as {
        id: number;
        log_blob: string;
      }[]) {
        for await (const page of decodeLogBlob(await blobs.get(job.log_blob))) {
          for (const chunk of page) insert.run(job.id, chunk.seq, chunk.data, Date.now());
        }
      }
      db.exec('detach database src');
    } finally {
      db.close();
    }
  } finally {
    await source.startServerAgain();
  }
  for (const f of ['master.key', 'admin.token', 'artifacts'])
    await cp(path.join(source.dataDir, f), path.join(oldDir, f), { recursive: true });

  const to = path.join(scratch, 'previous');
  const made = await backup(oldDir, to);
  assert.deepEqual(made.manifest.migrations, MIGRATION_NAMES.slice(0, MIGRATION_NAMES.indexOf(previous) + 1));
  assert.match(made.notRecorded ?? '', /no backups table yet/);

  const restoredDir = path.join(scratch, 'upgraded');
  const report = await restoreBackup({ from: to, dataDir: restoredDir, backupKey: key });
  assert.equal(report.migratedFrom, previous);
  assert.equal(report.migratedTo, MIGRATION_NAMES.at(-1));
  const again = await TestTandem.start({ agents: 1, dataDir: restoredDir });
  started.push(again);
  const [oldest] = (await again.api<{ id: number }[]>('GET', `/api/v1/repos/${repo}/pipelines`)).body.slice(-1);
  await assertServesOldData(again, repo, oldest.id, `version ${oldest.id}`);
});

test('a backup made by a newer Tandem is refused before anything is written', async () => {
  const to = path.join(scratch, 'newer');
  const { manifest } = await backup(source.dataDir, to);
  const file = path.join(to, 'backups', `${manifest.id}.json`);
  const edited = JSON.parse(await readFile(file, 'utf8')) as { migrations: string[]; tandemVersion: string };
  edited.migrations.push('099_from_the_future');
  edited.tandemVersion = '9.0.0';
  await writeFile(file, JSON.stringify(edited));
  const target = path.join(scratch, 'not-written');
  await assert.rejects(restoreBackup({ from: to, dataDir: target, backupKey: key }), (err: Error) => {
    assert.ok(err instanceof RestoreError);
    assert.match(
      err.message,
      /made by Tandem 9\.0\.0 with migration 099_from_the_future, unknown to this version \(which knows up to \d{3}_\w+\): restore it with that version or newer/,
    );
    return true;
  });
  await assert.rejects(readdir(target), { code: 'ENOENT' });
});

test('listing backups leaves out one pruned between the listing and its read, but not a damaged one', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tandem-list-race-'));
  try {
    const real = openDestination(dir);
    // The listing names a manifest that is gone by the time it is read (a prune in between).
    const racing = Object.create(real) as typeof real;
    racing.list = async (d) => [...(await real.list(d)), 'backups/20260101T000000Z-gone.json'];
    assert.deepEqual(await listBackups(racing), []);
    await real.put('backups/20260101T000000Z-bad.json', Buffer.from('{not json'));
    await assert.rejects(listBackups(racing), /not JSON/);
    real.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
