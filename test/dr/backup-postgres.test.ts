// Backup and restore in PostgreSQL mode: `pg_dump` of an exported snapshot taken while a pipeline
// runs, restored with `pg_restore` into a fresh database that a new server serves; verify and a
// drill restore into scratch databases; a restore refuses a database that holds data.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tandem as cli } from '../cli/helpers.js';
import { until } from '../e2e/helpers.js';
import { postgresForFile, type PostgresServer } from '../support/postgres.js';
import { TestTandem } from '../support/tandem.js';
import { assertServesOldData, drRepo, pgToolsSkip, pipelinesOf, writeBackupKey } from './helpers.js';

const postgres = postgresForFile(after);
const pgDumpSkip = pgToolsSkip('the PostgreSQL backup tests');
const FAST_LEASES = { leaseSeconds: 2, agentDisconnectGraceSeconds: 1 };

describe('backups in PostgreSQL mode', { skip: pgDumpSkip() }, () => {
  let pg: PostgresServer;
  let scratch: string;
  let source: TestTandem;
  const started: TestTandem[] = [];

  before(async () => {
    pg = await postgres();
    scratch = await mkdtemp(path.join(tmpdir(), 'tandem-dr-pg-'));
    source = await TestTandem.start({ agents: 2, settings: { databaseUrl: await pg.createDatabase(), ...FAST_LEASES } });
  });
  after(async () => {
    for (const t of started) await t.close();
    await source?.close();
    await rm(scratch, { recursive: true, force: true });
  });

  test('a backup taken while a pipeline runs restores into a fresh database that a new server serves', async () => {
    const repo = await drRepo(source);
    const first = await source.trigger(repo);
    assert.equal((await source.waitForPipeline(first, undefined, 30_000)).status, 'success');
    const busy = await source.trigger(repo);
    await until(
      'a job running',
      async () => ((await source.pipeline(busy)).jobs.some((j) => j.status === 'running') ? true : undefined),
      15_000,
    );

    const key = await writeBackupKey(scratch);
    const dest = path.join(scratch, 'backups');
    const made = await cli(
      [
        'backup',
        'create',
        '--data-dir',
        source.dataDir,
        '--database-url',
        source.server.ctx.config.databaseUrl!,
        '--to',
        dest,
        '--backup-key-file',
        key,
        '--json',
      ],
      { timeoutMs: 30_000 },
    );
    assert.equal(made.code, 0, made.stderr);
    assert.equal((JSON.parse(made.stdout) as { dialect: string }).dialect, 'postgres');
    await source.waitForPipeline(busy, undefined, 30_000);

    const target = await pg.createDatabase();
    const restoredDir = path.join(scratch, 'restored');
    const restored = await cli(['restore', '--from', dest, '--data-dir', restoredDir, '--database-url', target, '--backup-key-file', key], {
      timeoutMs: 30_000,
    });
    assert.equal(restored.code, 0, restored.stderr);

    const again = await TestTandem.start({ agents: 1, dataDir: restoredDir, settings: { databaseUrl: target, ...FAST_LEASES } });
    started.push(again);
    for (const p of await pipelinesOf(again, repo)) {
      assert.equal((await again.waitForPipeline(p.id, undefined, 30_000)).status, 'success', `pipeline ${p.id}`);
    }
    await assertServesOldData(again, repo, first, `version ${first}`);

    const refused = await cli([
      'restore',
      '--from',
      dest,
      '--data-dir',
      path.join(scratch, 'other'),
      '--database-url',
      target,
      '--backup-key-file',
      key,
    ]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /database postgresql:\/\/postgres@127\.0\.0\.1:\d+\/\w+ is not empty \(\d+ tables and sequences in schema public\): restore into an empty database, or pass --force/,
    );

    const noScratch = await cli(['backup', 'verify', '--from', dest]);
    assert.equal(noScratch.code, 1);
    assert.match(noScratch.stdout, /pass --scratch-database-url postgresql:\/\/…/);
    const verified = await cli(['backup', 'verify', '--from', dest, '--scratch-database-url', pg.url, '--json'], { timeoutMs: 30_000 });
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    const report = JSON.parse(verified.stdout) as { restore: { ok: boolean; database: string; counts: Record<string, number> } };
    assert.equal(report.restore.database, 'postgres');
    assert.ok(report.restore.ok && report.restore.counts.pipelines === 2, verified.stdout);

    const drill = await cli(
      [
        'dr',
        'drill',
        '--from',
        dest,
        '--backup-key-file',
        key,
        '--scratch-database-url',
        pg.url,
        '--data-dir',
        source.dataDir,
        '--database-url',
        source.server.ctx.config.databaseUrl!,
        '--json',
      ],
      { timeoutMs: 60_000 },
    );
    assert.equal(drill.code, 0, drill.stdout + drill.stderr);
    const drilled = JSON.parse(drill.stdout) as { ok: boolean; recorded: boolean; rtoMs: number };
    assert.ok(drilled.ok && drilled.recorded && drilled.rtoMs > 0, drill.stdout);
    // The scratch databases of verify and the drill are gone again.
    const scratchDbs = await pg.query<{ datname: string }>("select datname from pg_database where datname like 'tandem_scratch_%'");
    assert.deepEqual(scratchDbs, []);
  });
});
