// A `:memory:` store (`tandem exec`) starts empty and migrates: every migration's statements,
// compiled by Kysely, about a tenth of a second at each start. The migrated empty database is kept
// as a file instead (SQLite's serialized form, named by the migrations' fingerprint), and the next
// store starts as an in-memory copy of it without running a migration.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { MIGRATION_NAMES, migrationsFingerprint } from './migrations/index.js';

const EXTENSION = '.sqlite';
const imageName = (): string => `${migrationsFingerprint()}${EXTENSION}`;

/** The kept database for these migrations, in memory, or null when there is none (or it is unreadable). */
export function loadSchemaImage(dir: string): BetterSqlite3.Database | null {
  let bytes: Buffer;
  try {
    bytes = readFileSync(join(dir, imageName()));
  } catch {
    return null;
  }
  try {
    const db = new BetterSqlite3(bytes);
    // The name says which migrations made it; the rows must say the same, or it is not used.
    const names = db.prepare('select name from kysely_migration order by name').pluck().all();
    if (names.length === MIGRATION_NAMES.length && names.every((name, i) => name === MIGRATION_NAMES[i])) return db;
    db.close();
  } catch {
    // Damaged: the caller migrates, and keeps a new one.
  }
  return null;
}

/**
 * Keeps a freshly migrated empty database for the next start, in place of older ones. Best effort:
 * a read-only directory keeps none, and every start migrates as before.
 */
export function saveSchemaImage(dir: string, db: BetterSqlite3.Database): void {
  const name = imageName();
  try {
    mkdirSync(dir, { recursive: true });
    // Renamed into place: a start running beside this one reads the whole file or none.
    const partial = join(dir, `.${name}.${process.pid}`);
    writeFileSync(partial, db.serialize());
    renameSync(partial, join(dir, name));
    for (const other of readdirSync(dir)) {
      if (other !== name && other.endsWith(EXTENSION)) rmSync(join(dir, other), { force: true });
    }
  } catch {
    // Not kept: nothing depends on it.
  }
}
