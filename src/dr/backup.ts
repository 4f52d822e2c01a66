// `tandem backup create` and the leader's scheduled backups: a consistent database snapshot, the
// artifact blobs it refers to (only those the destination does not hold yet), and the encrypted
// keys and configuration, described by a manifest of checksums written last.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { stringify } from 'yaml';
import { BlobIntegrityError, BlobNotFoundError, type BlobStore } from '../artifacts/index.js';
import type { MasterKey } from '../auth/index.js';
import { configSchema, type TandemConfig } from '../config/index.js';
import { packageVersion } from '../version.js';
import { copyConcurrency, eachLimited, openDestination, type BackupDestination } from './destination.js';
import { snapshotDatabase } from './database.js';
import { sealBundle, type BackupKey, type KeyBundle } from './keys.js';
import {
  BACKUP_FORMAT,
  BackupNotFoundError,
  deleteManifest,
  listBackupIds,
  newBackupId,
  readManifest,
  writeManifest,
  type BackupBlob,
  type BackupManifest,
} from './manifest.js';

export type BackupPhase = 'database' | 'artifacts' | 'keys';

export interface BackupProgress {
  phase: BackupPhase;
  /** Bytes of this phase so far, and the total when known. */
  bytes: number;
  totalBytes: number | null;
  items?: { done: number; total: number };
}

export interface BackupOptions {
  /** The database to back up: a SQLite path or a postgresql:// URL. */
  databaseUrl: string;
  /** The artifact store the database's blobs are in. */
  artifacts: BlobStore;
  /** Holds admin.token. */
  dataDir: string;
  to: string;
  /** Without one, the master key, admin token and configuration stay out of the backup. */
  backupKey: BackupKey | null;
  masterKey: MasterKey | null;
  /** The server's settings, kept (encrypted) for the restore. */
  config: TandemConfig | null;
  onProgress?: (p: BackupProgress) => void;
  /** Default: a new one from the start time. */
  id?: string;
  now?: () => number;
}

/** Settings that belong to one installation (where its data and keys are), not to what it does. */
const LOCAL_SETTINGS = new Set<string>(['dataDir', 'databaseUrl', 'artifactsUrl', 'masterKey', 'masterKeyFile', 'backupKeyFile']);

/** The settings that differ from the defaults, as tandem.yml, without per-installation paths and keys; null when none do. */
export function configForBackup(config: TandemConfig): string | null {
  const defaults = configSchema.parse({}) as Record<string, unknown>;
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (LOCAL_SETTINGS.has(key) || value === undefined || JSON.stringify(value) === JSON.stringify(defaults[key])) continue;
    kept[key] = value;
  }
  return Object.keys(kept).length > 0 ? stringify(kept) : null;
}

async function digestsAt(dest: BackupDestination): Promise<Set<string>> {
  const have = new Set<string>();
  if (dest.blobs.list) for await (const d of dest.blobs.list()) have.add(d);
  return have;
}

async function readIfExists(path: string): Promise<string | null> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Copies the blobs the destination lacks; blobs gone from the artifact store (expired since the snapshot) are reported, not fatal. */
async function copyBlobs(
  blobs: readonly BackupBlob[],
  from: BlobStore,
  dest: BackupDestination,
  concurrency: number,
  onProgress?: (p: BackupProgress) => void,
): Promise<{ copied: { blobs: number; bytes: number }; missing: BackupBlob[] }> {
  const have = await digestsAt(dest);
  const wanted = blobs.filter((b) => !have.has(b.digest));
  const totalBytes = wanted.reduce((n, b) => n + b.size, 0);
  const missing: BackupBlob[] = [];
  let bytes = 0;
  let done = 0;
  onProgress?.({ phase: 'artifacts', bytes, totalBytes, items: { done, total: wanted.length } });
  await eachLimited(wanted, concurrency, async (blob) => {
    try {
      await dest.blobs.put(await from.get(blob.digest), { digest: blob.digest, size: blob.size });
      bytes += blob.size;
    } catch (err) {
      if (!(err instanceof BlobNotFoundError || err instanceof BlobIntegrityError)) throw err;
      missing.push({ ...blob, ref: `${blob.ref}: ${err instanceof BlobNotFoundError ? 'no longer in the artifact store' : err.message}` });
    }
    done++;
    onProgress?.({ phase: 'artifacts', bytes, totalBytes, items: { done, total: wanted.length } });
  });
  return { copied: { blobs: wanted.length - missing.length, bytes }, missing };
}

const runningKey = (id: string) => `running/${id}.json`;

export async function createBackup(options: BackupOptions): Promise<BackupManifest> {
  const now = options.now ?? Date.now;
  const startedAt = now();
  const id = options.id ?? newBackupId(startedAt);
  const dest = openDestination(options.to);
  const workDir = await mkdtemp(join(tmpdir(), 'tandem-backup-'));
  try {
    // Tells a concurrent prune not to collect the blobs this backup copies before its manifest exists.
    await dest.put(runningKey(id), Buffer.from(JSON.stringify({ startedAt })));
    const { info, part, format } = await snapshotDatabase(options.databaseUrl, workDir, dest.blobs, (bytes, totalBytes) =>
      options.onProgress?.({ phase: 'database', bytes, totalBytes }),
    );
    const { copied, missing } = await copyBlobs(info.blobs, options.artifacts, dest, copyConcurrency(dest.blobs), options.onProgress);

    let keys: BackupManifest['keys'] = null;
    if (options.backupKey) {
      const bundle: KeyBundle = {
        masterKey: options.masterKey?.key.toString('base64') ?? null,
        adminToken: await readIfExists(join(options.dataDir, 'admin.token')),
        config: options.config ? configForBackup(options.config) : null,
      };
      const sealed = sealBundle(bundle, options.backupKey, id);
      const stored = await dest.blobs.put(Readable.from([sealed]));
      options.onProgress?.({ phase: 'keys', bytes: sealed.length, totalBytes: sealed.length });
      keys = {
        ...stored,
        backupKeyId: options.backupKey.id,
        masterKeyId: options.masterKey?.id ?? null,
        contents: Object.entries(bundle)
          .filter(([, v]) => v !== null)
          .map(([k]) => k),
      };
    }
    const missingDigests = new Set(missing.map((m) => m.digest));
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      id,
      tandemVersion: await packageVersion(),
      startedAt,
      finishedAt: now(),
      snapshotAt: info.snapshotAt,
      newestRecordAt: info.newestRecordAt,
      dialect: format === 'sqlite.gz' ? 'sqlite' : 'postgres',
      migrations: info.migrations,
      database: { ...part, format },
      counts: info.counts,
      masterKeyIds: info.masterKeyIds,
      blobs: info.blobs.filter((b) => !missingDigests.has(b.digest)),
      missingBlobs: missing,
      keys,
      copied,
    };
    await writeManifest(dest, manifest);
    return manifest;
  } finally {
    await dest.delete(runningKey(id)).catch(() => undefined);
    dest.close();
    await rm(workDir, { recursive: true, force: true });
  }
}

export interface BackupSummary {
  id: string;
  snapshotAt: number;
  dialect: BackupManifest['dialect'];
  /** Bytes of everything the backup needs (database, keys, blobs). */
  bytes: number;
  blobs: number;
  copiedBytes: number;
  encryptedKeys: boolean;
  tandemVersion: string;
}

export function summarize(m: BackupManifest): BackupSummary {
  return {
    id: m.id,
    snapshotAt: m.snapshotAt,
    dialect: m.dialect,
    bytes: m.database.size + (m.keys?.size ?? 0) + m.blobs.reduce((n, b) => n + b.size, 0),
    blobs: m.blobs.length,
    copiedBytes: m.copied.bytes,
    encryptedKeys: m.keys !== null,
    tandemVersion: m.tandemVersion,
  };
}

/** Every backup at the destination, oldest first (those pruned while it reads are left out). */
export async function listBackups(dest: BackupDestination): Promise<BackupManifest[]> {
  const out: BackupManifest[] = [];
  for (const id of await listBackupIds(dest)) {
    try {
      out.push(await readManifest(dest, id));
    } catch (err) {
      // Pruned (by the leader's schedule, another prune) between the listing and the read: gone, not broken.
      if (!(err instanceof BackupNotFoundError)) throw err;
    }
  }
  return out;
}

/** A backup that started this long ago and never finished crashed: its marker no longer holds off blob collection. */
const STALE_RUNNING_MS = 24 * 3600 * 1000;

/**
 * Keeps the newest `keep` backups, deletes the older manifests, then the blobs no remaining backup
 * uses. Blob collection waits while another backup is running at the destination.
 */
export async function pruneBackups(
  dest: BackupDestination,
  keep: number,
  now = Date.now(),
): Promise<{ deleted: string[]; blobsDeleted: number; collected: boolean }> {
  const ids = await listBackupIds(dest);
  const deleted = ids.slice(0, Math.max(0, ids.length - keep));
  for (const id of deleted) await deleteManifest(dest, id);
  const running: number[] = [];
  for (const key of await dest.list('running')) {
    const marker = await dest.get(key);
    const startedAt = marker ? Number((JSON.parse(marker.toString('utf8')) as { startedAt?: unknown }).startedAt) : NaN;
    if (Number.isFinite(startedAt) && now - startedAt < STALE_RUNNING_MS) running.push(startedAt);
  }
  if (running.length > 0 || !dest.blobs.list) return { deleted, blobsDeleted: 0, collected: false };
  const used = new Set<string>();
  for (const m of await listBackups(dest)) {
    used.add(m.database.digest);
    if (m.keys) used.add(m.keys.digest);
    for (const b of m.blobs) used.add(b.digest);
  }
  let blobsDeleted = 0;
  for await (const digest of dest.blobs.list()) {
    if (used.has(digest)) continue;
    await dest.blobs.delete(digest);
    blobsDeleted++;
  }
  return { deleted, blobsDeleted, collected: true };
}
