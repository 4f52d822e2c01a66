// `tandem restore`: a backup into an empty data directory (and an empty database): the database
// snapshot, migrations that bring an older backup forward, the artifact blobs, and the keys and
// configuration from the encrypted bundle. Everything is checked before anything is written:
// the target is empty (or --force), the backup is not from a newer Tandem, the keys fit.
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { DomainError } from '../errors.js';
import { sql } from 'kysely';
import { openBlobStore, type BlobStore } from '../artifacts/index.js';
import { masterKeyId, type MasterKey } from '../auth/index.js';
import { MIGRATION_NAMES, openStore, type Store } from '../store/index.js';
import { redactUrl } from '../store/index.js';
import { copyConcurrency, eachLimited, openDestination, type BackupDestination } from './destination.js';
import { prepareTarget, restoreDatabase, RestoreTargetError } from './database.js';
import { openBundle, type BackupKey, type KeyBundle } from './keys.js';
import { findBackup, type BackupManifest } from './manifest.js';

export type RestorePhase = 'database' | 'migrations' | 'artifacts';

export interface RestoreProgress {
  phase: RestorePhase;
  bytes: number;
  totalBytes: number | null;
  items?: { done: number; total: number };
}

export interface RestoreOptions {
  from: string;
  /** The backup to restore; default the newest. */
  backupId?: string;
  dataDir: string;
  /** Default `<dataDir>/tandem.db`; a PostgreSQL database must exist and be empty. */
  databaseUrl?: string;
  /** Default `<dataDir>/artifacts`. */
  artifactsUrl?: string;
  /** Opens the backup's key bundle (master key, admin token, configuration). */
  backupKey?: BackupKey | null;
  /** The master key, when the operator brings it instead of taking it from the bundle. */
  masterKey?: MasterKey | null;
  force?: boolean;
  onProgress?: (p: RestoreProgress) => void;
}

export interface RestoreReport {
  backupId: string;
  snapshotAt: number;
  dataDir: string;
  /** Redacted. */
  database: string;
  artifacts: string;
  /** The newest migration of the backup, and of the restored database. */
  migratedFrom: string | null;
  migratedTo: string;
  counts: Record<string, number>;
  blobs: { restored: number; present: number; bytes: number };
  /** Files written into the data dir. */
  wrote: string[];
  ms: number;
}

export class RestoreError extends DomainError {
  override name = 'RestoreError';
  constructor(message: string) {
    super('invalid', message);
  }
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

/** Refuses a backup whose schema this Tandem does not know (made by a newer version). */
export function assertKnownSchema(manifest: BackupManifest): void {
  const unknown = manifest.migrations.filter((m) => !MIGRATION_NAMES.includes(m));
  if (unknown.length > 0) {
    throw new RestoreError(
      `backup ${manifest.id} was made by Tandem ${manifest.tandemVersion} with migration ${unknown.join(', ')}, unknown to this version (which knows up to ${MIGRATION_NAMES[MIGRATION_NAMES.length - 1]}): restore it with that version or newer`,
    );
  }
}

/**
 * The database part of a restore (also used by `verify` and drills): the snapshot into the
 * prepared target, migrations to this version, the leases of the backed-up servers dropped (their
 * holders are not coming back; a new server must not wait for them to expire), its agents
 * marked disconnected, and its fencing tokens skipped ahead (RESTORE_FENCING_GAP).
 */
export async function restoreDatabaseOf(
  dest: BackupDestination,
  manifest: BackupManifest,
  url: string,
  opts: { force?: boolean; onProgress?: (p: RestoreProgress) => void } = {},
): Promise<{ counts: Record<string, number>; migratedTo: string }> {
  assertKnownSchema(manifest);
  await prepareTarget(url, opts.force ?? false);
  await restoreDatabase(
    url,
    manifest.database.format,
    await dest.blobs.get(manifest.database.digest),
    manifest.database.size,
    (bytes, totalBytes) => opts.onProgress?.({ phase: 'database', bytes, totalBytes }),
  );
  opts.onProgress?.({ phase: 'migrations', bytes: 0, totalBytes: null });
  const store = await openStore(url);
  try {
    const counts = await countRows(store, Object.keys(manifest.counts));
    await store.db.deleteFrom('leases').execute();
    // No agent is connected to the restored instance: the jobs they held are freed after the
    // disconnect grace instead of a lease, and their names are free for agents registering anew.
    await store.db.updateTable('agents').set({ disconnected_at: Date.now() }).where('disconnected_at', 'is', null).execute();
    await skipFencingTokens(store);
    return { counts, migratedTo: MIGRATION_NAMES[MIGRATION_NAMES.length - 1] };
  } finally {
    await store.close();
  }
}

/**
 * Tokens a restored instance skips. The servers that were backed up may have gone on claiming jobs
 * after the snapshot, and deploy targets remember the highest token they saw: without the gap, the
 * restored instance's deploys would carry tokens those targets already saw and be refused as stale.
 * No instance claims a billion jobs between a backup and its restore.
 */
export const RESTORE_FENCING_GAP = 1_000_000_000;

async function skipFencingTokens(store: Store): Promise<void> {
  if (store.dialect === 'postgres') {
    await sql`select setval('fencing_tokens', nextval('fencing_tokens') + ${RESTORE_FENCING_GAP})`.execute(store.db);
    return;
  }
  await store.db
    .updateTable('counters')
    .set((eb) => ({ value: eb('value', '+', RESTORE_FENCING_GAP) }))
    .where('name', '=', 'fencing')
    .execute();
}

/** Rows of each named table, as restored (before the leases are dropped). */
export async function countRows(store: Store, tables: readonly string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of tables) {
    const { rows } = await sql<{ n: number | string }>`select count(*) as n from ${sql.table(table)}`.execute(store.db);
    out[table] = Number(rows[0].n);
  }
  return out;
}

/** Copies the backup's blobs the target store lacks. */
export async function restoreBlobs(
  dest: BackupDestination,
  manifest: BackupManifest,
  target: BlobStore,
  onProgress?: (p: RestoreProgress) => void,
): Promise<RestoreReport['blobs']> {
  const have = new Set<string>();
  if (target.list) for await (const d of target.list()) have.add(d);
  const wanted = manifest.blobs.filter((b) => !have.has(b.digest));
  const totalBytes = wanted.reduce((n, b) => n + b.size, 0);
  let bytes = 0;
  let done = 0;
  onProgress?.({ phase: 'artifacts', bytes, totalBytes, items: { done, total: wanted.length } });
  await eachLimited(wanted, copyConcurrency(target), async (blob) => {
    await target.put(await dest.blobs.get(blob.digest), { digest: blob.digest, size: blob.size });
    bytes += blob.size;
    onProgress?.({ phase: 'artifacts', bytes, totalBytes, items: { done: ++done, total: wanted.length } });
  });
  return { restored: wanted.length, present: manifest.blobs.length - wanted.length, bytes };
}

/** The bundle, when the backup has one and the backup key is given. */
export async function openKeyBundle(
  dest: BackupDestination,
  manifest: BackupManifest,
  backupKey: BackupKey | null | undefined,
): Promise<KeyBundle | null> {
  if (!manifest.keys || !backupKey) return null;
  return openBundle(await readAll(await dest.blobs.get(manifest.keys.digest)), backupKey, manifest.id);
}

/** The master key the restored instance will use, checked against the data keys in the backup. */
function chooseMasterKey(
  manifest: BackupManifest,
  bundle: KeyBundle | null,
  given: MasterKey | null | undefined,
): { key: Buffer; id: string; fromBundle: boolean } | null {
  let key: { key: Buffer; id: string; fromBundle: boolean } | null = null;
  if (given) key = { key: given.key, id: given.id, fromBundle: false };
  else if (bundle?.masterKey) {
    const bytes = Buffer.from(bundle.masterKey, 'base64');
    key = { key: bytes, id: masterKeyId(bytes), fromBundle: true };
  }
  if (manifest.masterKeyIds.length === 0) return key;
  if (!key) {
    const how = manifest.keys
      ? `pass --backup-key-file (the backup holds the master key, encrypted with backup key ${manifest.keys.backupKeyId}) or --master-key-file`
      : 'this backup was made without a backup key, so it holds no master key: pass --master-key-file';
    throw new RestoreError(`backup ${manifest.id} holds secrets encrypted under master key ${manifest.masterKeyIds.join(' or ')}: ${how}`);
  }
  if (!manifest.masterKeyIds.includes(key.id)) {
    throw new RestoreError(
      `backup ${manifest.id} holds secrets encrypted under master key ${manifest.masterKeyIds.join(' or ')}, not ${key.id}${given ? ` (from ${given.source})` : ''}`,
    );
  }
  return key;
}

async function assertEmptyDir(dir: string, force: boolean): Promise<void> {
  if (!existsSync(dir)) return;
  const entries = await readdir(dir);
  if (entries.length > 0 && !force) {
    throw new RestoreTargetError(
      `data directory ${dir} is not empty (${entries.slice(0, 5).join(', ')}${entries.length > 5 ? ', …' : ''}): restore into a new directory, or pass --force`,
    );
  }
}

export async function restoreBackup(options: RestoreOptions): Promise<RestoreReport> {
  const started = Date.now();
  const dataDir = resolve(options.dataDir);
  const force = options.force ?? false;
  const dest = openDestination(options.from);
  try {
    const manifest = await findBackup(dest, options.backupId);
    assertKnownSchema(manifest);
    if (manifest.keys && options.backupKey && manifest.keys.backupKeyId !== options.backupKey.id) {
      throw new RestoreError(
        `backup ${manifest.id} was encrypted with backup key ${manifest.keys.backupKeyId}, but ${options.backupKey.source} holds ${options.backupKey.id}`,
      );
    }
    await assertEmptyDir(dataDir, force);
    const bundle = await openKeyBundle(dest, manifest, options.backupKey);
    const master = chooseMasterKey(manifest, bundle, options.masterKey);

    const databaseUrl = options.databaseUrl ?? join(dataDir, 'tandem.db');
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const { counts, migratedTo } = await restoreDatabaseOf(dest, manifest, databaseUrl, { force, onProgress: options.onProgress });

    const artifactsUrl = options.artifactsUrl ?? join(dataDir, 'artifacts');
    const target = openBlobStore(artifactsUrl, '--artifacts-url');
    let blobs: RestoreReport['blobs'];
    try {
      blobs = await restoreBlobs(dest, manifest, target, options.onProgress);
    } finally {
      target.close?.();
    }

    const wrote: string[] = [];
    const write = async (name: string, content: string) => {
      await writeFile(join(dataDir, name), content, { mode: 0o600, flag: force ? 'w' : 'wx' });
      wrote.push(name);
    };
    if (master?.fromBundle) await write('master.key', master.key.toString('base64') + '\n');
    if (bundle?.adminToken) await write('admin.token', bundle.adminToken + '\n');
    if (bundle?.config) await write('tandem.yml', bundle.config);
    return {
      backupId: manifest.id,
      snapshotAt: manifest.snapshotAt,
      dataDir,
      database: redactUrl(databaseUrl),
      artifacts: artifactsUrl,
      migratedFrom: manifest.migrations.at(-1) ?? null,
      migratedTo,
      counts,
      blobs,
      wrote,
      ms: Date.now() - started,
    };
  } finally {
    dest.close();
  }
}
