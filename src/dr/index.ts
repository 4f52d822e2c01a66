// Disaster recovery: backups (database snapshot, artifact blobs, encrypted keys) to a directory or
// S3, their verification and restore, and the records of backups and drills (the drill itself, which
// starts a server on a restored copy, is src/ops/drill.ts).
import type { Kysely } from 'kysely';
import type { BlobStore } from '../artifacts/index.js';
import type { MasterKey } from '../auth/index.js';
import type { TandemConfig } from '../config/index.js';
import type { Database } from '../store/index.js';
import { createBackup, pruneBackups, type BackupProgress } from './backup.js';
import { destinationName, openDestination } from './destination.js';
import type { BackupKey } from './keys.js';
import { newBackupId, type BackupManifest } from './manifest.js';
import { recordBackup, writeRecord } from './records.js';

export {
  configForBackup,
  createBackup,
  listBackups,
  pruneBackups,
  summarize,
  type BackupOptions,
  type BackupProgress,
  type BackupSummary,
} from './backup.js';
export { destinationName, openDestination, type BackupDestination } from './destination.js';
export { BackupKeyError, readBackupKeyFile, type BackupKey } from './keys.js';
export { BackupNotFoundError, findBackup, listBackupIds, readManifest, type BackupManifest } from './manifest.js';
export { readDrillReport, recordBackup, recordDrill, writeRecord } from './records.js';
export { restoreBackup, RestoreError, type RestoreOptions, type RestoreProgress, type RestoreReport } from './restore.js';
export { createScratchDatabase, RestoreTargetError } from './database.js';
export { verifyBackup, type VerifyOptions, type VerifyReport } from './verify.js';

export interface BackupRun {
  manifest: BackupManifest;
  pruned: { deleted: string[]; blobsDeleted: number; collected: boolean } | null;
  /** Why the backup could not be recorded in the database (it still exists), or null. */
  notRecorded: string | null;
}

/**
 * A backup as the leader's schedule and `tandem backup create` make it: created, recorded in the
 * database (the server's handle, or the database at `databaseUrl` when it has the tables), and
 * older backups pruned down to `keep`. A failure is recorded too, then thrown.
 */
export async function backupAndRecord(options: {
  config: TandemConfig;
  databaseUrl: string;
  artifacts: BlobStore;
  to: string;
  backupKey: BackupKey | null;
  masterKey: MasterKey | null;
  madeBy: string;
  /** The server's database handle; without it the record is written through `databaseUrl`. */
  db?: Kysely<Database>;
  keep?: number;
  onProgress?: (p: BackupProgress) => void;
  now?: () => number;
}): Promise<BackupRun> {
  const now = options.now ?? Date.now;
  const startedAt = now();
  const id = newBackupId(startedAt);
  const destination = destinationName(options.to);
  const record = async (manifest: BackupManifest | null, error: string | null): Promise<string | null> => {
    const write = (db: Kysely<Database>) =>
      recordBackup(db, { id, destination, startedAt, finishedAt: now(), manifest, madeBy: options.madeBy, error });
    if (options.db) {
      await write(options.db);
      return null;
    }
    return writeRecord(options.databaseUrl, write);
  };
  let manifest: BackupManifest;
  try {
    manifest = await createBackup({ ...options, id, dataDir: options.config.dataDir, now });
  } catch (err) {
    await record(null, (err as Error).message).catch(() => undefined);
    throw err;
  }
  const notRecorded = await record(manifest, null);
  let pruned: BackupRun['pruned'] = null;
  if (options.keep !== undefined) {
    const dest = openDestination(options.to);
    try {
      pruned = await pruneBackups(dest, options.keep, now());
    } finally {
      dest.close();
    }
  }
  return { manifest, pruned, notRecorded };
}

export { DrMetrics, readDrStatus } from './metrics.js';
export { listBackupRecords, listDrillRecords } from './records.js';
