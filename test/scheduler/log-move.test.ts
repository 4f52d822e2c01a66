// A finished job's log moves out of the database (migration 032_job_log_blob, on SQLite and
// PostgreSQL): one gzipped blob in a real filesystem blob store, the digest on the job's row, the
// job_logs rows deleted. Readers get the same chunks from either place, a read that overlaps the
// move loses nothing, a move interrupted at any step completes when run again, two replicas moving
// at once store one blob, and the database keeps the same bytes for a 1 KB and a 50 MB log.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { sql } from 'kysely';
import { FsBlobStore, type BlobInfo, type BlobStore, type PutExpectations } from '../../src/artifacts/index.js';
import {
  appendLogChunks,
  completeJob,
  jobsWithLogsToMove,
  moveFinishedLog,
  readLogPages,
  type LogChunk,
} from '../../src/scheduler/index.js';
import { backends } from '../store/helpers.js';
import { claim, freshTestDb, job, newPipeline, T0, type TestDb } from './helpers.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function blobStore(): FsBlobStore {
  const dir = mkdtempSync(path.join(tmpdir(), 'tandem-log-move-'));
  dirs.push(dir);
  return new FsBlobStore(dir);
}

async function blobCount(blobs: FsBlobStore): Promise<number> {
  let n = 0;
  for await (const _ of blobs.list()) n++;
  return n;
}

/** A blob store that writes the blob and then "crashes" (the process died right after step 1). */
class CrashAfterPut implements BlobStore {
  constructor(private readonly inner: BlobStore) {}
  has = (d: string) => this.inner.has(d);
  stat = (d: string) => this.inner.stat(d);
  get = (d: string) => this.inner.get(d);
  delete = (d: string) => this.inner.delete(d);
  async put(source: Readable, expected?: PutExpectations): Promise<BlobInfo> {
    await this.inner.put(source, expected);
    throw new Error('crashed after the blob write');
  }
}

/**
 * A blob store whose writes wait for `before` first, with the source not yet read: another replica's
 * whole move (blob, digest, deletes) fits between a mover's count of the rows and its read of them.
 */
class SlowPut implements BlobStore {
  constructor(
    private readonly inner: BlobStore,
    private readonly before: () => Promise<unknown>,
  ) {}
  has = (d: string) => this.inner.has(d);
  stat = (d: string) => this.inner.stat(d);
  get = (d: string) => this.inner.get(d);
  delete = (d: string) => this.inner.delete(d);
  async put(source: Readable, expected?: PutExpectations): Promise<BlobInfo> {
    await this.before();
    return this.inner.put(source, expected);
  }
}

interface Ran {
  id: number;
  agentId: number;
  fencingToken: number;
  chunks: LogChunk[];
}

/** Claims the named job, appends its log as the agent would (batches of 200 chunks) and completes it. */
async function runWithLog(db: TestDb, name: string, chunks: LogChunk[], maxLogBytes?: number): Promise<Ran> {
  const claimed = await claim(db, name);
  const token = { jobId: claimed.job.id, agentId: claimed.job.agent_id!, fencingToken: claimed.fencingToken };
  for (let i = 0; i < chunks.length; i += 200) {
    await appendLogChunks(db.store, { ...token, chunks: chunks.slice(i, i + 200), maxLogBytes, now: T0 + 500 });
  }
  await completeJob(db.store, { ...token, status: 'success', exitCode: 0, now: T0 + 1000 });
  return { id: claimed.job.id, agentId: token.agentId, fencingToken: token.fencingToken, chunks };
}

function lines(count: number, width: number, from = 0): LogChunk[] {
  return Array.from({ length: count }, (_, i) => ({ seq: from + i, data: `line ${from + i} ${'x'.repeat(width)} é\n` }));
}

async function readAll(db: TestDb, blobs: BlobStore, jobId: number, afterSeq?: number): Promise<LogChunk[]> {
  const out: LogChunk[] = [];
  for await (const page of readLogPages(db.store, blobs, jobId, { afterSeq })) out.push(...page.map((c) => ({ seq: c.seq, data: c.data })));
  return out;
}

/** Bytes the job's rows hold in job_logs (UTF-8 octets on both databases). */
async function logRowBytes(db: TestDb, jobId: number): Promise<{ rows: number; bytes: number }> {
  const len = db.store.dialect === 'postgres' ? sql`octet_length(data)` : sql`length(cast(data as blob))`;
  const { rows } = await sql<{ n: number | string; b: number | string | null }>`
    select count(*) as n, sum(${len}) as b from job_logs where job_id = ${jobId}`.execute(db.store.db);
  return { rows: Number(rows[0].n), bytes: Number(rows[0].b ?? 0) };
}

/** Bytes of the job's own row, every column as text (what the job costs the jobs table). */
async function jobRowBytes(db: TestDb, jobId: number): Promise<number> {
  const row = await db.store.db.selectFrom('jobs').selectAll().where('id', '=', jobId).executeTakeFirstOrThrow();
  return Object.values(row).reduce<number>((n, v) => n + (v === null ? 0 : Buffer.byteLength(String(v))), 0);
}

for (const backend of backends()) {
  describe(`job log move (${backend.name})`, { skip: backend.skip }, () => {
    const db = freshTestDb(backend);

    it('serves the same chunks from the blob, after any sequence number, and leaves no rows', async () => {
      const blobs = blobStore();
      await newPipeline(db, [job('build')]);
      const ran = await runWithLog(db, 'build', lines(450, 80));
      assert.deepEqual(await readAll(db, blobs, ran.id), ran.chunks, 'from the rows');
      assert.deepEqual(await jobsWithLogsToMove(db.store), [ran.id]);

      assert.equal(await moveFinishedLog(db.store, blobs, ran.id), 'moved');
      assert.deepEqual(await logRowBytes(db, ran.id), { rows: 0, bytes: 0 });
      const row = await db.store.db
        .selectFrom('jobs')
        .select(['log_blob', 'log_blob_size'])
        .where('id', '=', ran.id)
        .executeTakeFirstOrThrow();
      assert.match(row.log_blob ?? '', /^[0-9a-f]{64}$/);
      assert.equal(Number(row.log_blob_size), (await blobs.stat(row.log_blob!))?.size);
      assert.deepEqual(await readAll(db, blobs, ran.id), ran.chunks, 'from the blob');
      assert.deepEqual(await readAll(db, blobs, ran.id, 399), ran.chunks.slice(400), 'after a sequence number');
      assert.deepEqual(await readAll(db, blobs, ran.id, 449), []);
      assert.deepEqual(await jobsWithLogsToMove(db.store), []);
      // Moving again changes nothing.
      assert.equal(await moveFinishedLog(db.store, blobs, ran.id), 'moved');
      assert.equal(await blobCount(blobs), 1);
    });

    it('moves only finished jobs, and a job without a log stays without a blob', async () => {
      const blobs = blobStore();
      await newPipeline(db, [job('quiet'), job('busy')]);
      const quiet = await runWithLog(db, 'quiet', []);
      const busy = await claim(db, 'busy');
      await appendLogChunks(db.store, {
        jobId: busy.job.id,
        agentId: busy.job.agent_id!,
        fencingToken: busy.fencingToken,
        chunks: lines(3, 10),
        now: T0,
      });
      assert.deepEqual(await jobsWithLogsToMove(db.store), []);
      assert.equal(await moveFinishedLog(db.store, blobs, busy.job.id), 'running');
      assert.equal(await moveFinishedLog(db.store, blobs, quiet.id), 'empty');
      assert.equal((await logRowBytes(db, busy.job.id)).rows, 3);
      assert.equal(await blobCount(blobs), 0);
    });

    it('keeps the database bytes of a finished job the same for a 1 KB and a 50 MB log', async () => {
      const blobs = blobStore();
      await newPipeline(db, [job('small'), job('large')]);
      const small = await runWithLog(db, 'small', lines(10, 90));
      // 800 chunks of 64 KiB: 50 MiB, as an agent sends a chatty build's output.
      const large = await runWithLog(
        db,
        'large',
        Array.from({ length: 800 }, (_, seq) => ({
          seq,
          data: `${seq} `.padEnd(64 * 1024 - 1, String.fromCharCode(97 + (seq % 26))) + '\n',
        })),
      );
      const before = { small: await logRowBytes(db, small.id), large: await logRowBytes(db, large.id) };
      assert.ok(before.small.bytes >= 1000 && before.small.bytes < 1100, `small log ${before.small.bytes} bytes`);
      assert.equal(before.large.bytes, 50 * 1024 * 1024);

      const started = performance.now();
      assert.deepEqual(await jobsWithLogsToMove(db.store), [small.id, large.id]);
      for (const id of [small.id, large.id]) assert.equal(await moveFinishedLog(db.store, blobs, id), 'moved');
      const moveMs = performance.now() - started;
      const blob = await db.store.db.selectFrom('jobs').select('log_blob_size').where('id', '=', large.id).executeTakeFirstOrThrow();

      const after = { small: await logRowBytes(db, small.id), large: await logRowBytes(db, large.id) };
      assert.deepEqual(after, { small: { rows: 0, bytes: 0 }, large: { rows: 0, bytes: 0 } });
      // The job rows differ only in their names' and byte counts' digits.
      const rowBytes = { small: await jobRowBytes(db, small.id), large: await jobRowBytes(db, large.id) };
      assert.ok(Math.abs(rowBytes.large - rowBytes.small) <= 8, JSON.stringify(rowBytes));
      const large50 = await readAll(db, blobs, large.id);
      assert.equal(large50.length, 800);
      assert.equal(large50.map((c) => c.data).join(''), large.chunks.map((c) => c.data).join(''));
      console.log(
        `# log move (${backend.name}): job_logs bytes 1 KB log ${before.small.bytes} -> 0, 50 MiB log ${before.large.bytes} -> 0; ` +
          `job rows ${rowBytes.small} vs ${rowBytes.large} bytes; 50 MiB blob ${Number(blob.log_blob_size)} bytes gzipped; moved both in ${Math.round(moveMs)} ms`,
      );
    });

    it('a move interrupted after the blob write, or after the digest, completes when run again', async () => {
      const blobs = blobStore();
      await newPipeline(db, [job('a'), job('b')]);
      const a = await runWithLog(db, 'a', lines(250, 40));
      await assert.rejects(moveFinishedLog(db.store, new CrashAfterPut(blobs), a.id), /crashed after the blob write/);
      // Step 1 happened, step 2 did not: the rows are still the log, the blob is not yet used.
      assert.equal(await blobCount(blobs), 1);
      assert.equal((await logRowBytes(db, a.id)).rows, 250);
      assert.deepEqual(await readAll(db, blobs, a.id), a.chunks);
      assert.deepEqual(await jobsWithLogsToMove(db.store), [a.id]);
      assert.equal(await moveFinishedLog(db.store, blobs, a.id), 'moved');
      assert.equal(await blobCount(blobs), 1, 'the same log made the same blob');
      assert.deepEqual(await readAll(db, blobs, a.id), a.chunks);

      // Steps 1 and 2 happened, the deletes did not (rows still there with the digest set): readers
      // take the blob, and the sweep finds the job again and deletes the rows.
      const b = await runWithLog(db, 'b', lines(30, 40));
      assert.equal(await moveFinishedLog(db.store, blobs, b.id), 'moved');
      await db.store.db
        .insertInto('job_logs')
        .values(b.chunks.map((c) => ({ job_id: b.id, seq: c.seq, data: 'stale row ' + c.data, created_at: T0 })))
        .execute();
      assert.deepEqual(await readAll(db, blobs, b.id), b.chunks, 'a set digest is the truth');
      assert.deepEqual(await jobsWithLogsToMove(db.store), [b.id]);
      assert.equal(await moveFinishedLog(db.store, blobs, b.id), 'moved');
      assert.equal((await logRowBytes(db, b.id)).rows, 0);
    });

    it('two replicas moving the same log at once store one blob; a read overlapping the move loses nothing', async () => {
      const blobs = blobStore();
      await newPipeline(db, [job('twice')]);
      const ran = await runWithLog(db, 'twice', lines(500, 60));
      // A reader takes the first pages from the rows, then the log moves under it.
      const reader = readLogPages(db.store, blobs, ran.id, { pageSize: 50 });
      const got: LogChunk[] = [];
      for (let i = 0; i < 3; i++) {
        const next = await reader.next();
        assert.equal(next.done, false);
        got.push(...(next.value as LogChunk[]));
      }
      assert.deepEqual(await Promise.all([moveFinishedLog(db.store, blobs, ran.id), moveFinishedLog(db.store, blobs, ran.id)]), [
        'moved',
        'moved',
      ]);
      for await (const page of reader) got.push(...page);
      assert.deepEqual(
        got.map((c) => ({ seq: c.seq, data: c.data })),
        ran.chunks,
      );
      assert.equal(await blobCount(blobs), 1);
      assert.equal((await logRowBytes(db, ran.id)).rows, 0);
    });

    it('a mover whose rows another replica moved and deleted meanwhile stores no second blob', async () => {
      const blobs = blobStore();
      await newPipeline(db, [job('raced')]);
      const ran = await runWithLog(db, 'raced', lines(120, 40));
      let other: Promise<string> | null = null;
      // The other replica's move starts, and ends, once this mover has counted the rows.
      const slow = new SlowPut(blobs, () => (other ??= moveFinishedLog(db.store, blobs, ran.id)));
      assert.equal(await moveFinishedLog(db.store, slow, ran.id), 'moved');
      assert.equal(await other, 'moved');
      assert.equal(await blobCount(blobs), 1, 'the late mover read no rows: it wrote nothing');
      assert.deepEqual(await readAll(db, blobs, ran.id), ran.chunks);
      assert.equal((await logRowBytes(db, ran.id)).rows, 0);
    });

    it("the completing agent's late re-send after the move stores nothing", async () => {
      const blobs = blobStore();
      await newPipeline(db, [job('late')]);
      const ran = await runWithLog(db, 'late', lines(5, 10));
      await moveFinishedLog(db.store, blobs, ran.id);
      const again = await appendLogChunks(db.store, {
        jobId: ran.id,
        agentId: ran.agentId,
        fencingToken: ran.fencingToken,
        chunks: ran.chunks.slice(3),
        now: T0 + 2000,
      });
      assert.deepEqual(again, { inserted: 0, accepted: [], truncated: false });
      assert.equal((await logRowBytes(db, ran.id)).rows, 0);
      assert.deepEqual(await readAll(db, blobs, ran.id), ran.chunks);
      assert.equal(await blobCount(blobs), 1);
    });
  });
}
