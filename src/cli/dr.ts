// `tandem backup create|list|verify`, `tandem restore` and `tandem dr drill`: run on a machine with
// the server's configuration (data dir, database URL, artifact store). docs/disaster-recovery.md.
import { resolve } from 'node:path';
import { openBlobStore } from '../artifacts/index.js';
import { configuredMasterKey, readMasterKeyFile } from '../auth/index.js';
import { artifactsDirOf, databaseUrlOf, loadConfig, type TandemConfig } from '../config/index.js';
import {
  backupAndRecord,
  destinationName,
  findBackup,
  listBackups,
  openDestination,
  readBackupKeyFile,
  restoreBackup,
  summarize,
  recordDrill,
  verifyBackup,
  writeRecord,
  type BackupKey,
} from '../dr/index.js';
import { CliError } from './api-client.js';
import { formatBytes, printJson, printTable } from './output.js';
import { progressDisplay } from './progress.js';

type Flags = Record<string, unknown> & { json?: boolean; quiet?: boolean };

const iso = (ms: number) => new Date(ms).toISOString();
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function backupKeyOf(flags: Flags, config: TandemConfig): Promise<BackupKey | null> {
  const file = (flags.backupKeyFile as string | undefined) ?? config.backupKeyFile;
  return file ? readBackupKeyFile(resolve(file)) : null;
}

function destinationOf(flags: Flags, config: TandemConfig, flag: '--to' | '--from'): string {
  const where = (flag === '--to' ? flags.to : flags.from) as string | undefined;
  const dest = where ?? config.backupTo;
  if (!dest) throw new CliError(`${flag} DIR|s3://bucket/prefix is required (or set backupTo in tandem.yml / TANDEM_BACKUP_TO)`);
  return dest;
}

function positive(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new CliError(`${flag}: expected a positive whole number, got "${String(value)}"`);
  return n;
}

export async function backupCreate(flags: Flags & { to?: string; keep?: string; backupKeyFile?: string }): Promise<void> {
  const config = loadConfig(flags);
  const to = destinationOf(flags, config, '--to');
  const keep = positive(flags.keep, '--keep');
  const backupKey = await backupKeyOf(flags, config);
  if (!backupKey && !flags.json) {
    console.error(
      'tandem: no --backup-key-file: the master key, admin token and settings stay out of this backup; keep the master key safe apart from it (docs/disaster-recovery.md)',
    );
  }
  const artifacts = openBlobStore(artifactsDirOf(config));
  const display = progressDisplay(!flags.quiet && !flags.json);
  let run;
  try {
    run = await backupAndRecord({
      config,
      databaseUrl: databaseUrlOf(config),
      artifacts,
      to,
      backupKey,
      masterKey: backupKey ? await configuredMasterKey(config) : null,
      madeBy: 'cli',
      keep,
      onProgress: display.update,
    });
  } finally {
    display.stop();
    artifacts.close?.();
  }
  const { manifest: m, pruned, notRecorded } = run;
  if (flags.json) {
    printJson({
      ...summarize(m),
      destination: destinationName(to),
      copiedBlobs: m.copied.blobs,
      missingBlobs: m.missingBlobs,
      pruned,
      recorded: notRecorded === null,
    });
    return;
  }
  console.log(
    `Backup ${m.id} at ${to}: ${m.dialect} database ${formatBytes(m.database.size)}, ${m.blobs.length} blob(s) (${m.copied.blobs} new, ${formatBytes(m.copied.bytes)} copied)` +
      `${m.keys ? `, keys encrypted with ${m.keys.backupKeyId}` : ', no keys'}, in ${seconds(m.finishedAt - m.startedAt)}`,
  );
  for (const missing of m.missingBlobs) console.log(`  not in the backup: sha256:${missing.digest} (${missing.ref})`);
  if (pruned && pruned.deleted.length > 0)
    console.log(
      `Pruned ${pruned.deleted.length} older backup(s) (keeping ${keep}); ${pruned.blobsDeleted} blob(s) no backup uses were deleted`,
    );
  if (notRecorded) console.log(`Not recorded in the database (${notRecorded}): tandem_backup_age_seconds will not count it`);
}

export async function backupList(flags: Flags & { from?: string }): Promise<void> {
  const config = loadConfig(flags);
  const dest = openDestination(destinationOf(flags, config, '--from'));
  try {
    const backups = (await listBackups(dest)).map(summarize);
    if (flags.json) return printJson(backups);
    printTable(
      backups.map((b) => ({ ...b, snapshotAt: iso(b.snapshotAt), bytes: formatBytes(b.bytes), copiedBytes: formatBytes(b.copiedBytes) })),
      ['id', 'snapshotAt', 'dialect', 'bytes', 'blobs', 'copiedBytes', 'encryptedKeys', 'tandemVersion'],
    );
  } finally {
    dest.close();
  }
}

export async function backupVerify(
  flags: Flags & { from?: string; backup?: string; scratchDatabaseUrl?: string; checksumsOnly?: boolean },
): Promise<void> {
  const config = loadConfig(flags);
  const dest = openDestination(destinationOf(flags, config, '--from'));
  const display = progressDisplay(!flags.quiet && !flags.json);
  try {
    const manifest = await findBackup(dest, flags.backup);
    const report = await verifyBackup(dest, manifest, {
      checksumsOnly: flags.checksumsOnly,
      scratchDatabaseUrl: flags.scratchDatabaseUrl,
      onProgress: (p) => display.update({ phase: 'checksums', ...p }),
    });
    display.stop();
    if (!report.ok) process.exitCode = 1;
    if (flags.json) return printJson(report);
    console.log(`Backup ${report.backupId}: ${report.checked.parts} part(s), ${formatBytes(report.checked.bytes)} read back`);
    if (report.restore)
      console.log(
        `Test restore into a scratch ${report.restore.database} database: ${report.restore.ok ? 'counts match' : 'FAILED'} (${seconds(report.restore.ms)})`,
      );
    for (const p of report.problems) console.log(`  ${p.part}: ${p.message}`);
    console.log(report.ok ? 'OK' : `FAILED: ${report.problems.length} problem(s)`);
  } finally {
    display.stop();
    dest.close();
  }
}

export async function restore(flags: Flags & { from?: string; backup?: string; force?: boolean; backupKeyFile?: string }): Promise<void> {
  if (flags.dataDir === undefined) throw new CliError('restore: --data-dir NEW is required (an empty directory, or a new one)');
  const config = loadConfig(flags);
  const from = destinationOf(flags, config, '--from');
  const backupKey = await backupKeyOf(flags, config);
  const masterKeyFile = flags.masterKeyFile as string | undefined;
  const display = progressDisplay(!flags.quiet && !flags.json);
  let report;
  try {
    report = await restoreBackup({
      from,
      backupId: flags.backup,
      dataDir: config.dataDir,
      databaseUrl: config.databaseUrl,
      artifactsUrl: config.artifactsUrl,
      backupKey,
      masterKey: masterKeyFile ? await readMasterKeyFile(resolve(masterKeyFile)) : null,
      force: flags.force,
      onProgress: display.update,
    });
  } finally {
    display.stop();
  }
  if (flags.json) return printJson(report);
  const migrated =
    report.migratedFrom === report.migratedTo
      ? `schema ${report.migratedTo}`
      : `migrated from ${report.migratedFrom ?? 'nothing'} to ${report.migratedTo}`;
  console.log(`Restored backup ${report.backupId} (snapshot ${iso(report.snapshotAt)}) into ${report.dataDir} in ${seconds(report.ms)}`);
  console.log(`  database ${report.database}: ${report.counts.pipelines ?? 0} pipeline(s), ${report.counts.jobs ?? 0} job(s); ${migrated}`);
  console.log(
    `  artifacts ${report.artifacts}: ${report.blobs.restored} blob(s) restored (${formatBytes(report.blobs.bytes)}), ${report.blobs.present} already there`,
  );
  if (report.wrote.length > 0) console.log(`  wrote ${report.wrote.join(', ')}`);
  const start = ['tandem server', `--data-dir ${report.dataDir}`];
  if (config.databaseUrl) start.push('--database-url …');
  if (config.artifactsUrl) start.push(`--artifacts-url ${config.artifactsUrl}`);
  if (report.wrote.includes('tandem.yml')) start.push(`--config ${resolve(report.dataDir, 'tandem.yml')}`);
  console.log(`Start it with: ${start.join(' ')}`);
}

export async function drDrill(
  flags: Flags & { from?: string; backup?: string; backupKeyFile?: string; scratchDatabaseUrl?: string },
): Promise<void> {
  const config = loadConfig(flags);
  const from = destinationOf(flags, config, '--from');
  const backupKey = await backupKeyOf(flags, config);
  const { runDrill } = await import('../ops/index.js');
  const report = await runDrill({ from, backupId: flags.backup, backupKey, scratchDatabaseUrl: flags.scratchDatabaseUrl });
  // Recorded in the instance's own database, where every replica exports it as metrics.
  const notRecorded = await writeRecord(databaseUrlOf(config), (db) =>
    recordDrill(db, { ...report, destination: report.destination || from, report }),
  );
  if (!report.ok) process.exitCode = 1;
  if (flags.json) return printJson({ ...report, recorded: notRecorded === null, notRecorded });
  for (const s of report.steps) console.log(`${s.ok ? 'ok  ' : 'FAIL'} ${s.name.padEnd(9)} ${seconds(s.ms).padStart(7)}  ${s.detail}`);
  if (report.error && !report.steps.some((s) => !s.ok)) console.log(`FAIL ${report.error}`);
  const rpo = report.rpoMs === null ? '-' : seconds(report.rpoMs);
  const rto = report.rtoMs === null ? '-' : seconds(report.rtoMs);
  console.log(
    `Drill of backup ${report.backupId ?? '-'} at ${report.destination || from}: ${report.ok ? 'PASSED' : 'FAILED'}; RPO ${rpo} (writes after the snapshot), RTO ${rto} (until the restored server was ready)`,
  );
  if (notRecorded) console.log(`Not recorded in the database (${notRecorded}): the tandem_dr_drill_* metrics will not show it`);
}
