// Point-in-time recovery with pgBackRest through ops/pitr/pitr.sh: Tandem writes, the time is
// noted, Tandem writes more (and deletes by accident), and the database is restored to the noted
// time. One PostgreSQL with WAL archiving stands in for the Patroni cluster, to stay fast: the
// archive command and restore are the same on a cluster node (docs/disaster-recovery.md).
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { openStore } from '../../src/store/index.js';
import { repoRoot } from '../support/git.js';
import { postgresAvailable, startPostgres, type PostgresServer } from '../support/postgres.js';
import { serviceSkip } from '../support/skip.js';
import { until } from '../e2e/helpers.js';

const run = promisify(execFile);
const PITR = path.join(repoRoot(), 'ops', 'pitr', 'pitr.sh');

const skip = serviceSkip('the point-in-time recovery test', () => {
  if (!postgresAvailable()) return 'PostgreSQL 15 is not installed: run scripts/services.sh install';
  try {
    execFileSync('pgbackrest', ['version'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'pgbackrest is not installed (Debian: pgbackrest): run scripts/services.sh install';
  }
});

async function pitr(...args: string[]): Promise<string> {
  try {
    return (await run('bash', [PITR, ...args], { timeout: 60_000 })).stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string; stdout?: string };
    throw new Error(`pitr.sh ${args.join(' ')}: ${e.stderr || e.stdout || e.message}`, { cause: err });
  }
}

function postgresOwner(): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

describe('point-in-time recovery', { skip: skip() }, () => {
  let dir: string;
  let pg: PostgresServer | undefined;
  after(async () => {
    await pg?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('write, note the time, write and delete more, restore to the noted time', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tandem-pitr-'));
    if (process.getuid?.() === 0) {
      const owner = postgresOwner();
      await chown(dir, owner.uid, owner.gid);
    }
    const conf = path.join(dir, 'pgbackrest.conf');
    const archiveCommand = (await pitr('archive-command', conf)).trim();
    pg = await startPostgres({ settings: { archive_mode: 'on', wal_level: 'replica', archive_command: `'${archiveCommand}'` } });
    await pitr('configure', conf, pg.dataDir, String(pg.port), path.dirname(pg.dataDir), path.join(dir, 'repo'));
    await pitr('stanza', conf);

    const url = await pg.createDatabase();
    let store = await openStore(url);
    const repo = (name: string) =>
      store.db
        .insertInto('repos')
        .values({
          name,
          url: `/srv/git/${name}`,
          default_branch: 'main',
          poll_interval_seconds: 0,
          webhook_secret: null,
          branch_filter: null,
          tag_filter: null,
          known_refs: '{}',
          last_polled_at: null,
          created_at: Date.now(),
        })
        .execute();
    await repo('before-backup');
    await pitr('backup', conf, 'full');
    assert.match(await pitr('info', conf), /full backup: \d{8}-\d{6}F/);
    // pgBackRest keeps a backup's stop time in whole seconds, and a target must lie after it.
    await new Promise((r) => setTimeout(r, 1100));

    await repo('after-backup');
    const { rows } = await sql<{
      t: string;
    }>`select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' as t`.execute(store.db);
    const noted = rows[0].t;
    await new Promise((r) => setTimeout(r, 50));
    await repo('after-the-noted-time');
    await store.db.deleteFrom('repos').where('name', '=', 'before-backup').execute();
    // The WAL holding those writes goes to the archive now rather than when its segment fills.
    const [{ wal }] = await pg.query<{ wal: string }>('select pg_walfile_name(pg_switch_wal()) as wal');
    await until(
      'the WAL segment archived',
      async () => {
        const [{ last }] = await pg!.query<{ last: string | null }>('select last_archived_wal as last from pg_stat_archiver');
        return last !== null && last >= wal ? true : undefined;
      },
      20_000,
      100,
    );
    await store.close();

    await assert.rejects(pitr('restore', conf, noted), /PostgreSQL is running on .*: stop it first/);
    await pg.halt();
    assert.match(await pitr('restore', conf, noted), /restored .* to .*; start PostgreSQL/);
    await pg.start();
    await until(
      'recovery to the noted time done',
      async () => ((await pg!.query<{ r: boolean }>('select pg_is_in_recovery() as r'))[0].r ? undefined : true),
      30_000,
      100,
    );

    store = await openStore(url);
    try {
      const names = (await store.db.selectFrom('repos').select('name').orderBy('name').execute()).map((r) => r.name);
      assert.deepEqual(names, ['after-backup', 'before-backup']);
    } finally {
      await store.close();
    }
  });
});
