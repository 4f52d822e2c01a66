// restoreDatabase with a dump that fails: a stored blob found corrupt can fail before or while the
// target is prepared, and the restore must reject with that error, not end the process over an
// error event nobody listened for, nor wait forever for the rest of the dump.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { restoreDatabase } from '../../src/dr/database.js';
import { postgresForFile } from '../support/postgres.js';
import { pgToolsSkip } from './helpers.js';

const CORRUPT = 'stored blob sha256:00ff is corrupt';

/** A dump that fails on its first read: before the SQLite directory or the PostgreSQL probe is done. */
function failingDump(): Readable {
  return new Readable({
    read() {
      this.destroy(new Error(CORRUPT));
    },
  });
}

/** A dump that has failed already, before restoreDatabase is called. */
async function failedDump(): Promise<Readable> {
  const dump = failingDump();
  await new Promise<void>((resolve) => dump.once('error', () => resolve()).resume());
  return dump;
}

let scratch: string;
before(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'tandem-restore-db-'));
});
after(() => rm(scratch, { recursive: true, force: true }));

test('a SQLite restore rejects with the error of a dump that fails at once or failed before, and leaves no file', async () => {
  const dir = path.join(scratch, 'sqlite', 'not-yet-made');
  await assert.rejects(restoreDatabase(path.join(dir, 'tandem.db'), 'sqlite.gz', failingDump(), 10), { message: CORRUPT });
  assert.deepEqual(await readdir(dir), []);
  await assert.rejects(restoreDatabase(path.join(dir, 'again.db'), 'sqlite.gz', await failedDump(), 10), { message: CORRUPT });
  assert.equal(existsSync(path.join(dir, 'again.db.restoring')), false);
});

const postgres = postgresForFile(after);
describe('restoreDatabase into PostgreSQL', { skip: pgToolsSkip('the PostgreSQL restore tests')() }, () => {
  test('rejects with the error of a dump that fails at once or failed before', async () => {
    const pg = await postgres();
    await assert.rejects(restoreDatabase(await pg.createDatabase(), 'pg_dump.custom', failingDump(), 10), { message: CORRUPT });
    await assert.rejects(restoreDatabase(await pg.createDatabase(), 'pg_dump.custom', await failedDump(), 10), {
      message: CORRUPT,
    });
  });
});
