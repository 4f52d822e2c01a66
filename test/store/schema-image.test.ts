// `:memory:` stores with a schema image (tandem exec): the first one migrates and keeps the empty
// database, later ones start from it with the same schema and without migrating, and an image that
// does not match these migrations (damaged, or made by others) is never used.
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { openStore, type Store } from '../../src/store/index.js';
import { migrationsFingerprint } from '../../src/store/migrations/index.js';
import { tempDir } from '../support/git.js';

async function schema(store: Store): Promise<string[]> {
  const { rows } = await sql<{ sql: string | null }>`select sql from sqlite_master order by type, name`.execute(store.db);
  return rows.map((r) => r.sql ?? '');
}

/** Opens a store that counts its statements: migrating is many, starting from the image none. */
async function open(dir: string): Promise<{ store: Store; statements: number }> {
  let statements = 0;
  const store = await openStore(':memory:', {
    schemaImageDir: dir,
    observer: { log: () => void statements++, connectFailed: () => undefined },
  });
  return { store, statements };
}

test('the first store keeps its migrated schema and the next starts from it without migrating', async (t) => {
  const dir = tempDir(t, 'tandem-schema-image-');
  const first = await open(dir);
  const expected = await schema(first.store);
  const seeded = await first.store.db.selectFrom('counters').selectAll().execute();
  await first.store.db.insertInto('counters').values({ name: 'first', value: 1 }).execute();
  await first.store.close();
  assert.ok(first.statements > 30, 'the first store migrated');
  assert.deepEqual(await readdir(dir), [`${migrationsFingerprint()}.sqlite`]);

  const second = await open(dir);
  try {
    assert.equal(second.statements, 0, 'no migration ran');
    assert.deepEqual(await schema(second.store), expected);
    assert.deepEqual(
      await second.store.db.selectFrom('counters').selectAll().execute(),
      seeded,
      'as migrated: rows written after migrating are not in the image',
    );
    // Writable, and configured like any store (foreign keys enforced).
    await second.store.db.insertInto('counters').values({ name: 'x', value: 2 }).execute();
    const { rows } = await sql<{ foreign_keys: number }>`pragma foreign_keys`.execute(second.store.db);
    assert.equal(rows[0].foreign_keys, 1);
  } finally {
    await second.store.close();
  }
});

test('an image that is damaged or lacks a migration is not used, and is replaced', async (t) => {
  const dir = tempDir(t, 'tandem-schema-image-');
  const image = join(dir, `${migrationsFingerprint()}.sqlite`);
  await (await open(dir)).store.close();

  // Made by other migrations under this name: one migration row missing.
  const other = new BetterSqlite3(image);
  other.prepare('delete from kysely_migration where name = (select max(name) from kysely_migration)').run();
  other.close();
  const afterMissing = await open(dir);
  assert.ok(afterMissing.statements > 30, 'migrated instead');
  await afterMissing.store.close();

  await writeFile(image, 'not a database');
  const afterDamage = await open(dir);
  assert.ok(afterDamage.statements > 30, 'migrated instead');
  await afterDamage.store.close();

  const replaced = await open(dir);
  assert.equal(replaced.statements, 0, 'the replaced image is used');
  await replaced.store.close();
});
