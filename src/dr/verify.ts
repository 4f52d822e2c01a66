// `tandem backup verify`: every part of a backup read back and checked against its sha256 (a
// damaged part is named: the database dump, the key bundle, or the blob and who uses it), then a
// test restore into a scratch database, migrated to this version, whose row counts must be the
// snapshot's.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { isPostgresUrl } from '../store/index.js';
import { createScratchDatabase } from './database.js';
import type { BackupDestination } from './destination.js';
import type { BackupManifest } from './manifest.js';
import { restoreDatabaseOf } from './restore.js';

export interface VerifyProblem {
  /** `database`, `keys`, `blob`, `counts` or `restore`. */
  part: string;
  digest?: string;
  message: string;
}

export interface VerifyReport {
  backupId: string;
  ok: boolean;
  checked: { parts: number; bytes: number };
  problems: VerifyProblem[];
  /** Null when the test restore was skipped. */
  restore: { ok: boolean; ms: number; database: 'sqlite' | 'postgres'; counts: Record<string, number> } | null;
}

export interface VerifyOptions {
  /** Skip the test restore (checksums only). */
  checksumsOnly?: boolean;
  /** A PostgreSQL server where a scratch database may be created; needed to test-restore a PostgreSQL backup. */
  scratchDatabaseUrl?: string;
  onProgress?: (p: { bytes: number; totalBytes: number; items: { done: number; total: number } }) => void;
}

async function drain(stream: Readable): Promise<number> {
  let n = 0;
  for await (const c of stream as AsyncIterable<Buffer>) n += c.length;
  return n;
}

export async function verifyBackup(dest: BackupDestination, manifest: BackupManifest, options: VerifyOptions = {}): Promise<VerifyReport> {
  const parts = [
    {
      part: 'database',
      digest: manifest.database.digest,
      size: manifest.database.size,
      label: `database dump (${manifest.database.format})`,
    },
    ...(manifest.keys ? [{ part: 'keys', digest: manifest.keys.digest, size: manifest.keys.size, label: 'encrypted key bundle' }] : []),
    ...manifest.blobs.map((b) => ({ part: 'blob', digest: b.digest, size: b.size, label: `blob sha256:${b.digest} (${b.ref})` })),
  ];
  const totalBytes = parts.reduce((n, p) => n + p.size, 0);
  const problems: VerifyProblem[] = [];
  let bytes = 0;
  let done = 0;
  for (const p of parts) {
    try {
      const size = await drain(await dest.blobs.get(p.digest));
      if (size !== p.size) throw new Error(`has ${size} bytes, the manifest says ${p.size}`);
    } catch (err) {
      problems.push({ part: p.part, digest: p.digest, message: `${p.label}: ${(err as Error).message}` });
    }
    bytes += p.size;
    options.onProgress?.({ bytes, totalBytes, items: { done: ++done, total: parts.length } });
  }

  let restore: VerifyReport['restore'] = null;
  const databaseIntact = !problems.some((p) => p.part === 'database');
  if (!options.checksumsOnly && databaseIntact) restore = await testRestore(dest, manifest, options, problems);
  return { backupId: manifest.id, ok: problems.length === 0, checked: { parts: parts.length, bytes }, problems, restore };
}

async function testRestore(
  dest: BackupDestination,
  manifest: BackupManifest,
  options: VerifyOptions,
  problems: VerifyProblem[],
): Promise<VerifyReport['restore']> {
  const started = Date.now();
  let url: string;
  let cleanup: () => Promise<void>;
  if (manifest.dialect === 'postgres') {
    if (!options.scratchDatabaseUrl || !isPostgresUrl(options.scratchDatabaseUrl)) {
      problems.push({
        part: 'restore',
        message:
          'a PostgreSQL backup is test-restored into a scratch database: pass --scratch-database-url postgresql://… (a user with CREATEDB), or --checksums-only',
      });
      return null;
    }
    const scratch = await createScratchDatabase(options.scratchDatabaseUrl);
    url = scratch.url;
    cleanup = scratch.drop;
  } else {
    const dir = await mkdtemp(join(tmpdir(), 'tandem-verify-'));
    url = join(dir, 'tandem.db');
    cleanup = () => rm(dir, { recursive: true, force: true });
  }
  try {
    const { counts } = await restoreDatabaseOf(dest, manifest, url);
    const differing = Object.entries(manifest.counts).filter(([table, n]) => counts[table] !== n);
    for (const [table, n] of differing)
      problems.push({ part: 'counts', message: `table ${table}: ${counts[table]} rows restored, the snapshot had ${n}` });
    return { ok: differing.length === 0, ms: Date.now() - started, database: manifest.dialect, counts };
  } catch (err) {
    problems.push({ part: 'restore', message: `test restore failed: ${(err as Error).message}` });
    return { ok: false, ms: Date.now() - started, database: manifest.dialect, counts: {} };
  } finally {
    await cleanup();
  }
}
