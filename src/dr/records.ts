// Backups and drills are recorded in the database they protect, so every replica exports their
// age and results. Tools run from the command line (`tandem backup create`, `tandem dr drill`)
// record too when they can reach the database; they never migrate it to do so.
import type { Kysely } from 'kysely';
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { isPostgresUrl, jsonColumn, NewerSchemaError, openStore, sqlitePath, type Database, type Store } from '../store/index.js';
import type { Backup, DrDrill } from '../store/index.js';
import type { BackupManifest } from './manifest.js';

export interface BackupRecord {
  id: string;
  destination: string;
  startedAt: number;
  manifest: BackupManifest | null;
  madeBy: string;
  error: string | null;
  finishedAt: number;
}

export async function recordBackup(db: Kysely<Database>, r: BackupRecord): Promise<void> {
  const m = r.manifest;
  await db
    .insertInto('backups')
    .values({
      id: r.id,
      destination: r.destination,
      status: m ? 'success' : 'failed',
      started_at: r.startedAt,
      finished_at: r.finishedAt,
      snapshot_at: m?.snapshotAt ?? null,
      bytes: m ? m.database.size + (m.keys?.size ?? 0) + m.blobs.reduce((n, b) => n + b.size, 0) : 0,
      bytes_copied: m?.copied.bytes ?? 0,
      blobs: m?.blobs.length ?? 0,
      blobs_copied: m?.copied.blobs ?? 0,
      made_by: r.madeBy,
      error: r.error,
    })
    .execute();
}

export interface DrillRecord {
  backupId: string | null;
  destination: string;
  startedAt: number;
  finishedAt: number;
  ok: boolean;
  rtoMs: number | null;
  rpoMs: number | null;
  error: string | null;
  report: unknown;
}

const drillReport = z.looseObject({
  steps: z.array(z.looseObject({ name: z.string(), ok: z.boolean(), ms: z.number(), detail: z.string() })).default([]),
});
const drillReportColumn = jsonColumn('dr_drills', 'report', drillReport);

/** The report `tandem dr drill` recorded (its DrillReport); views show its steps. */
export const readDrillReport = (d: Pick<DrDrill, 'id' | 'report'>): z.output<typeof drillReport> => drillReportColumn(d.report, d.id);

export async function recordDrill(db: Kysely<Database>, r: DrillRecord): Promise<void> {
  await db
    .insertInto('dr_drills')
    .values({
      backup_id: r.backupId,
      destination: r.destination,
      started_at: r.startedAt,
      finished_at: r.finishedAt,
      ok: r.ok ? 1 : 0,
      rto_ms: r.rtoMs,
      rpo_ms: r.rpoMs,
      error: r.error,
      report: JSON.stringify(r.report),
    })
    .execute();
}

/**
 * Runs `write` on the database at `url` as it is (no migrations), when its schema has the DR
 * tables; returns why it did not otherwise (an older schema, a newer one, unreachable).
 */
export async function writeRecord(url: string, write: (db: Kysely<Database>) => Promise<void>): Promise<string | null> {
  if (!isPostgresUrl(url) && !existsSync(sqlitePath(url))) return `there is no database at ${sqlitePath(url)}`;
  let store: Store;
  try {
    store = await openStore(url, { migrateTo: 'none', retryForMs: 2000 });
  } catch (err) {
    return err instanceof NewerSchemaError
      ? 'the database was migrated by a newer Tandem'
      : `the database is unreachable: ${(err as Error).message}`;
  }
  try {
    const tables = await store.db.introspection.getTables();
    if (!tables.some((t) => t.name === 'backups')) return 'the database has no backups table yet (a server of this version migrates it)';
    await write(store.db);
    return null;
  } finally {
    await store.close();
  }
}

/** The backups recorded, newest first. */
export async function listBackupRecords(db: Kysely<Database>, limit: number): Promise<Backup[]> {
  return db.selectFrom('backups').selectAll().orderBy('started_at', 'desc').limit(limit).execute();
}

/** The drills recorded, newest first. */
export async function listDrillRecords(db: Kysely<Database>, limit: number): Promise<DrDrill[]> {
  return db.selectFrom('dr_drills').selectAll().orderBy('id', 'desc').limit(limit).execute();
}
