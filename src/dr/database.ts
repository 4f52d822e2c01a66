// Consistent snapshots of the database and their restore. SQLite: the online backup API copies
// every page in one step (one read transaction: writers go on, the copy is one moment's state).
// PostgreSQL: a REPEATABLE READ transaction exports its snapshot, `pg_dump --snapshot` dumps
// exactly that, and the same transaction reads the counts and blob references, so the dump and
// the list of blobs it needs agree even while servers write.
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { DomainError } from '../errors.js';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql, type PostgresPool, type PostgresPoolClient } from 'kysely';
import pg from 'pg';
import type { BlobInfo, BlobStore } from '../artifacts/index.js';
import { isPostgresUrl, readCacheManifest, readReleaseFiles, sqlitePath, type Database } from '../store/index.js';
import { parsePostgresUrl, probeWritable, redactUrl } from '../store/index.js';
import type { BackupBlob, BackupManifest } from './manifest.js';

export class RestoreTargetError extends DomainError {
  override name = 'RestoreTargetError';
  constructor(message: string) {
    super('conflict', message);
  }
}

/** What a snapshot holds, read from the snapshot itself. */
export interface SnapshotInfo {
  snapshotAt: number;
  migrations: string[];
  counts: Record<string, number>;
  newestRecordAt: number | null;
  masterKeyIds: string[];
  blobs: BackupBlob[];
}

export interface Progress {
  (bytes: number, total: number | null): void;
}

const INTERNAL_TABLES = new Set(['kysely_migration', 'kysely_migration_lock']);

/** Reads what a backup must record about the data; works on a snapshot of either dialect. */
async function inspect(db: Kysely<Database>): Promise<Omit<SnapshotInfo, 'snapshotAt'>> {
  const tables = (await db.introspection.getTables({ withInternalKyselyTables: true }))
    .filter((t) => t.schema === undefined || t.schema === 'public')
    .map((t) => t.name);
  const has = (name: string) => tables.includes(name);
  const counts: Record<string, number> = {};
  for (const name of tables.filter((t) => !INTERNAL_TABLES.has(t)).sort()) {
    const { rows } = await sql<{ n: number | string }>`select count(*) as n from ${sql.table(name)}`.execute(db);
    counts[name] = Number(rows[0].n);
  }
  const migrations = has('kysely_migration')
    ? (await sql<{ name: string }>`select name from kysely_migration order by name`.execute(db)).rows.map((r) => r.name)
    : [];

  const blobs = new Map<string, BackupBlob>();
  const add = (digest: string, size: number, ref: string) => {
    if (!blobs.has(digest)) blobs.set(digest, { digest, size: Number(size), ref });
  };
  for (const f of await db.selectFrom('artifact_files').select(['job_id', 'path', 'digest', 'size']).orderBy('id').execute())
    add(f.digest, f.size, `artifact ${f.path} of job ${f.job_id}`);
  for (const c of await db.selectFrom('cache_entries').select(['id', 'repo_id', 'key', 'manifest']).orderBy('id').execute()) {
    for (const e of readCacheManifest(c)) add(e.digest, e.size, `cache "${c.key}" of repository ${c.repo_id}: ${e.path}`);
  }
  if (has('test_report_files')) {
    for (const f of await db.selectFrom('test_report_files').select(['job_id', 'path', 'digest', 'size']).orderBy('id').execute())
      add(f.digest, f.size, `test report ${f.path} of job ${f.job_id}`);
  }
  // Finished jobs' logs, moved out of job_logs into the artifact store (src/scheduler/sql/move-log.ts).
  if (migrations.includes('032_job_log_blob')) {
    const logs = await db
      .selectFrom('jobs')
      .select(['id', 'log_blob', 'log_blob_size'])
      .where('log_blob', 'is not', null)
      .orderBy('id')
      .execute();
    for (const j of logs) if (j.log_blob !== null) add(j.log_blob, Number(j.log_blob_size ?? 0), `log of job ${j.id}`);
  }
  if (has('releases')) {
    for (const r of await db.selectFrom('releases').select(['id', 'files']).orderBy('id').execute()) {
      for (const e of readReleaseFiles(r)) add(e.digest, e.size, `release ${r.id}: ${e.path}`);
    }
  }

  const newest = [
    db.selectFrom('pipelines').select((eb) => eb.fn.max('created_at').as('at')),
    db.selectFrom('job_logs').select((eb) => eb.fn.max('created_at').as('at')),
    db.selectFrom('events').select((eb) => eb.fn.max('received_at').as('at')),
    ...(has('releases') ? [db.selectFrom('releases').select((eb) => eb.fn.max('created_at').as('at'))] : []),
  ];
  const times = (await Promise.all(newest.map((q) => q.executeTakeFirst())))
    .map((r) => (r?.at === null || r?.at === undefined ? null : Number(r.at)))
    .filter((t): t is number => t !== null);
  const masterKeyIds = has('data_keys')
    ? (await db.selectFrom('data_keys').select('master_key_id').distinct().execute()).map((r) => r.master_key_id).sort()
    : [];
  return { migrations, counts, newestRecordAt: times.length > 0 ? Math.max(...times) : null, masterKeyIds, blobs: [...blobs.values()] };
}

function counter(onProgress: Progress | undefined, total: number | null): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      seen += chunk.length;
      onProgress?.(seen, total);
      cb(null, chunk);
    },
  });
}

interface ToolRun {
  stdout: Readable;
  /** Resolves when the tool exited 0; rejects with its stderr otherwise. */
  done: Promise<void>;
}

const PG_TOOLS_HINT = "install the PostgreSQL client tools of your server's version (Debian: postgresql-client-15)";

/** What feeding a tool fails with when the tool stopped reading (it exited). */
const WRITE_ENDED = new Set(['EPIPE', 'ECONNRESET', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED']);

/**
 * Runs a PostgreSQL client tool with the password in PGPASSWORD, not on its command line; `stdin`
 * is a source and the transforms it flows through into the tool.
 */
function runPgTool(tool: string, args: string[], url: string, stdin?: [Readable, ...Transform[]]): ToolRun {
  const parsed = new URL(url);
  const password = decodeURIComponent(parsed.password);
  parsed.password = '';
  const child = spawn(tool, [...args, '--dbname', parsed.toString()], {
    env: { ...process.env, ...(password ? { PGPASSWORD: password } : {}) },
    stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const fed = stdin ? pipeline([...stdin, child.stdin!]) : Promise.resolve();
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ENOENT' ? new Error(`${tool} is not installed: ${PG_TOOLS_HINT}`) : err),
    );
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${tool} failed (${signal ?? `exit ${code}`}) on ${redactUrl(url)}: ${stderr.trim() || 'no message'}`));
    });
  });
  // Awaited only after the feeding ends; marked handled now so an early exit is no unhandled rejection.
  exited.catch(() => undefined);
  const done = (async () => {
    const feedError = await fed.then(
      () => null,
      (err: unknown) => err,
    );
    // The tool's own complaint says more than the broken pipe it caused, and an input that failed
    // (a corrupt dump) more than the tool's complaint of an input cut short. A bad input fails the
    // run even when the tool took what it got.
    const brokenPipe = WRITE_ENDED.has((feedError as NodeJS.ErrnoException | null)?.code ?? '');
    await exited.catch((toolError: unknown) => {
      throw feedError && !brokenPipe ? feedError : toolError;
    });
    if (feedError) throw feedError;
  })();
  return { stdout: child.stdout!, done };
}

/** Kysely over one client that is already inside a transaction (the exported snapshot's). */
function overClient(client: pg.Client): Kysely<Database> {
  const pool: PostgresPool = {
    connect: async () => ({ query: client.query.bind(client), release: () => undefined }) as unknown as PostgresPoolClient,
    end: async () => undefined,
  };
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

async function snapshotSqlite(
  url: string,
  workDir: string,
  store: BlobStore,
  onProgress?: Progress,
): Promise<{ info: SnapshotInfo; part: BlobInfo }> {
  const path = sqlitePath(url);
  if (!existsSync(path)) throw new Error(`database ${path} does not exist (give --data-dir or --database-url of the instance to back up)`);
  const source = new BetterSqlite3(path, { readonly: true, fileMustExist: true, timeout: 5000 });
  const file = join(workDir, 'snapshot.db');
  const snapshotAt = Date.now();
  try {
    // One step copies every page under one read lock: a consistent copy however busy the writers are.
    await source.backup(file, { progress: () => 0x7fffffff });
  } finally {
    source.close();
  }
  const copy = new BetterSqlite3(file);
  let info: SnapshotInfo;
  try {
    // A single file, however the source journals: the restore turns WAL on again.
    copy.pragma('journal_mode = DELETE');
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: copy }) });
    info = { snapshotAt, ...(await inspect(db)) };
  } finally {
    copy.close();
  }
  const size = (await stat(file)).size;
  const gz = new PassThrough();
  const writing = pipeline(createReadStream(file), counter(onProgress, size), createGzip({ level: 1 }), gz);
  const [part] = await Promise.all([store.put(gz), writing]);
  return { info, part };
}

async function snapshotPostgres(url: string, store: BlobStore, onProgress?: Progress): Promise<{ info: SnapshotInfo; part: BlobInfo }> {
  const host = await probeWritable(parsePostgresUrl(url));
  const client = new pg.Client({ connectionString: host.url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query('begin transaction isolation level repeatable read, read only');
    const { rows } = await client.query<{ snapshot: string }>('select pg_export_snapshot() as snapshot');
    const snapshotAt = Date.now();
    const info: SnapshotInfo = { snapshotAt, ...(await inspect(overClient(client))) };
    const dump = runPgTool('pg_dump', ['--format=custom', `--snapshot=${rows[0].snapshot}`, '--no-owner', '--no-privileges'], host.url);
    const counted = dump.stdout.pipe(counter(onProgress, null));
    const [part] = await Promise.all([store.put(counted), dump.done]);
    await client.query('commit');
    return { info, part };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Snapshots the database at `url` into `store` (the destination's blobs); `workDir` holds a SQLite copy meanwhile. */
export async function snapshotDatabase(
  url: string,
  workDir: string,
  store: BlobStore,
  onProgress?: Progress,
): Promise<{ info: SnapshotInfo; part: BlobInfo; format: BackupManifest['database']['format'] }> {
  if (isPostgresUrl(url)) return { ...(await snapshotPostgres(url, store, onProgress)), format: 'pg_dump.custom' };
  return { ...(await snapshotSqlite(url, workDir, store, onProgress)), format: 'sqlite.gz' };
}

/** Refuses a target that holds data, unless `force` (then empties it). */
export async function prepareTarget(url: string, force: boolean): Promise<void> {
  if (isPostgresUrl(url)) {
    const host = await probeWritable(parsePostgresUrl(url));
    const client = new pg.Client({ connectionString: host.url });
    client.on('error', () => undefined);
    await client.connect();
    try {
      const { rows } = await client.query<{ n: string }>(
        "select count(*) as n from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind in ('r', 'S', 'v', 'm')",
      );
      if (Number(rows[0].n) === 0) return;
      if (!force)
        throw new RestoreTargetError(
          `database ${redactUrl(url)} is not empty (${rows[0].n} tables and sequences in schema public): restore into an empty database, or pass --force to replace its contents`,
        );
      await client.query('drop schema public cascade');
      await client.query('create schema public');
    } finally {
      await client.end().catch(() => undefined);
    }
    return;
  }
  const path = sqlitePath(url);
  const files = [path, `${path}-wal`, `${path}-shm`];
  if (!files.some((f) => existsSync(f))) return;
  if (!force) throw new RestoreTargetError(`database ${path} exists: restore into a new file, or pass --force to replace it`);
  for (const f of files) await rm(f, { force: true });
}

/** Writes the snapshot `dump` (a verified stream of the stored part) into the prepared target. */
export async function restoreDatabase(
  url: string,
  format: BackupManifest['database']['format'],
  dump: Readable,
  size: number,
  onProgress?: Progress,
): Promise<void> {
  // One pipeline from the dump to its consumer, made once the target is ready: a corrupt dump can
  // fail while the target is prepared, and pipeline() also sees an error that came before it.
  if (format === 'pg_dump.custom') {
    if (!isPostgresUrl(url))
      throw new RestoreTargetError(
        'this backup is of a PostgreSQL database: restore it with --database-url postgresql://… (an empty database)',
      );
    const host = await probeWritable(parsePostgresUrl(url));
    const restore = runPgTool('pg_restore', ['--no-owner', '--no-privileges', '--exit-on-error', '--single-transaction'], host.url, [
      dump,
      counter(onProgress, size),
    ]);
    restore.stdout.resume();
    await restore.done;
    return;
  }
  if (isPostgresUrl(url))
    throw new RestoreTargetError(
      'this backup is of a SQLite database: restore it without --database-url (into <data-dir>/tandem.db) or with a SQLite path',
    );
  const path = sqlitePath(url);
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.restoring`;
  try {
    await pipeline(dump, counter(onProgress, size), createGunzip(), createWriteStream(tmp, { flags: 'w', mode: 0o600 }));
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** A new empty database on the server of `serverUrl` (its user needs CREATEDB), for test restores and drills. */
export async function createScratchDatabase(serverUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const host = await probeWritable(parsePostgresUrl(serverUrl));
  const name = `tandem_scratch_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: host.url });
    client.on('error', () => undefined);
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  try {
    await admin(`create database ${name}`);
  } catch (err) {
    throw new Error(`scratch database on ${redactUrl(serverUrl)}: cannot create one (the user needs CREATEDB): ${(err as Error).message}`, {
      cause: err,
    });
  }
  const url = new URL(host.url);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`drop database if exists ${name} with (force)`) };
}
