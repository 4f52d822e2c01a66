// The manifest of a backup: what it holds, with the sha256 of every part, so `verify` can check
// each one and a restore knows what to bring back. Kept as JSON at `backups/<id>.json`.
import { randomBytes } from 'node:crypto';
import { DomainError } from '../errors.js';
import { z } from 'zod';
import { isValidDigest } from '../artifacts/index.js';
import type { BackupDestination } from './destination.js';

export const BACKUP_FORMAT = 'tandem-backup/1';

const digest = z.string().refine(isValidDigest, 'expected a sha256 hex digest');
const part = z.object({ digest, size: z.number().int().nonnegative() }).strict();

export const backupManifestSchema = z
  .object({
    format: z.literal(BACKUP_FORMAT),
    id: z.string(),
    tandemVersion: z.string(),
    /** Epoch milliseconds. */
    startedAt: z.number(),
    finishedAt: z.number(),
    /** When the database snapshot was taken: writes after it are not in the backup. */
    snapshotAt: z.number(),
    /** The newest record time found in the snapshot (pipelines, logs, events, releases). */
    newestRecordAt: z.number().nullable(),
    dialect: z.enum(['sqlite', 'postgres']),
    /** Migrations applied to the backed-up database. */
    migrations: z.array(z.string()),
    database: part.extend({ format: z.enum(['sqlite.gz', 'pg_dump.custom']) }).strict(),
    /** Rows per table in the snapshot: a test restore must find the same. */
    counts: z.record(z.string(), z.number().int().nonnegative()),
    /** Master keys the snapshot's data keys are wrapped with (a restore needs one of them). */
    masterKeyIds: z.array(z.string()),
    /** Artifact, cache and release blobs the snapshot refers to; `ref` names one user of each. */
    blobs: z.array(part.extend({ ref: z.string() }).strict()),
    /** Blobs the snapshot referred to that the artifact store no longer had (expired meanwhile). */
    missingBlobs: z.array(part.extend({ ref: z.string() }).strict()),
    /** The encrypted master key, admin token and configuration; null when made without a backup key. */
    keys: part
      .extend({ backupKeyId: z.string(), masterKeyId: z.string().nullable(), contents: z.array(z.string()) })
      .strict()
      .nullable(),
    /** Artifact blobs this backup added to the destination (the others were there from earlier backups). */
    copied: z.object({ blobs: z.number().int().nonnegative(), bytes: z.number().int().nonnegative() }).strict(),
  })
  .strict();

export type BackupManifest = z.infer<typeof backupManifestSchema>;
export type BackupBlob = BackupManifest['blobs'][number];

export class BackupNotFoundError extends DomainError {
  override name = 'BackupNotFoundError';
  constructor(message: string) {
    super('not_found', message);
  }
}

/** Sortable by time: `20250101T030000Z-1a2b`. */
export function newBackupId(now: number): string {
  return `${new Date(now)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '')}-${randomBytes(2).toString('hex')}`;
}

const manifestKey = (id: string) => `backups/${id}.json`;

export async function writeManifest(dest: BackupDestination, manifest: BackupManifest): Promise<void> {
  await dest.put(manifestKey(manifest.id), Buffer.from(JSON.stringify(manifest, null, 2) + '\n'));
}

/** Ids of the backups at the destination, oldest first. */
export async function listBackupIds(dest: BackupDestination): Promise<string[]> {
  return (await dest.list('backups')).filter((k) => k.endsWith('.json')).map((k) => k.slice('backups/'.length, -'.json'.length));
}

export async function readManifest(dest: BackupDestination, id: string): Promise<BackupManifest> {
  const data = await dest.get(manifestKey(id));
  if (!data) throw new BackupNotFoundError(`${dest.name}: no backup ${id} (tandem backup list --from ${dest.name})`);
  let json: unknown;
  try {
    json = JSON.parse(data.toString('utf8'));
  } catch (err) {
    throw new Error(`${dest.name}: manifest of backup ${id} is not JSON: ${(err as Error).message}`);
  }
  const parsed = backupManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${dest.name}: manifest of backup ${id}: ${issue.path.join('.') || '(top)'}: ${issue.message}`);
  }
  return parsed.data;
}

/** The newest backup, or the one named; throws when there is none. */
export async function findBackup(dest: BackupDestination, id?: string): Promise<BackupManifest> {
  if (id !== undefined) return readManifest(dest, id);
  const ids = await listBackupIds(dest);
  if (ids.length === 0) throw new BackupNotFoundError(`${dest.name}: no backups there yet`);
  return readManifest(dest, ids[ids.length - 1]);
}

export async function deleteManifest(dest: BackupDestination, id: string): Promise<void> {
  await dest.delete(manifestKey(id));
}
