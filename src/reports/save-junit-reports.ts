// Reads a job's JUnit reports on the server and stores what they say: the agent only uploads the files
// (blobs verified by digest), so the counts shown are the files' own, not an agent's claim. A report is
// read from the artifact store as a stream and its cases are written in batches as it goes, so a report
// of tens of megabytes never sits in memory whole. A file that cannot be read (malformed, past a limit)
// keeps its error on the job's report and adds no cases; the job's result does not change.
import type { Readable } from 'node:stream';
import type { JunitReportsResponse, TestCaseStatus } from '../api/index.js';
import type { Store } from '../store/index.js';
import { testCaseKey } from './case-key.js';
import { DEFAULT_JUNIT_LIMITS, readJunit, type JunitCase, type JunitLimits } from './junit.js';
import { XmlReportError } from './xml.js';

/** GitLab's default limit of test cases in a unit test report is 500,000; Tandem stores fewer per job. */
export const MAX_STORED_CASES = 100_000;
/** All of a job's JUnit files together, as GitLab's 100 MB; one file is capped by its XML limits. */
export const MAX_JUNIT_JOB_BYTES = 100 * 1024 * 1024;

export interface JunitReportFile {
  /** Workspace-relative path, as the job wrote it. */
  path: string;
  digest: string;
  size: number;
}

export interface SaveJunitReportsInput {
  jobId: number;
  files: JunitReportFile[];
  /** The file's bytes, from the artifact store. */
  open(digest: string): Promise<Readable>;
  now: number;
  limits?: JunitLimits;
  /**
   * Cases stored per job and kind: passed and skipped ones, and failed and error ones, each up to this
   * many (failures are never crowded out by passing tests); the rest are counted only.
   */
  maxStoredCases?: number;
  /** Default MAX_JUNIT_JOB_BYTES: files past it are recorded with an error, not read. */
  maxTotalBytes?: number;
}

type Counts = Record<TestCaseStatus, number> & { duration: number };

/** Rows per INSERT (13 values each: under SQLite's 32,766 and PostgreSQL's 65,535 bound values). */
const ROWS_PER_INSERT = 500;
/** A batch is written once its messages and traces reach this many characters, whatever its rows. */
const CHARS_PER_INSERT = 2 * 1024 * 1024;

const zero = (): Counts => ({ passed: 0, failed: 0, error: 0, skipped: 0, duration: 0 });

/** The counts the agent logs (the answer of POST /api/v1/agent/jobs/:id/reports/junit). */
export async function saveJunitReports(store: Store, input: SaveJunitReportsInput): Promise<JunitReportsResponse> {
  const { db } = store;
  const maxStored = input.maxStoredCases ?? MAX_STORED_CASES;
  const job = await db.selectFrom('jobs').select(['pipeline_id', 'repo_id']).where('id', '=', input.jobId).executeTakeFirstOrThrow();
  // A re-sent upload (after a lost answer) replaces the first: the report is the files' latest reading.
  await store.transaction(async (trx) => {
    await trx.deleteFrom('test_cases').where('job_id', '=', input.jobId).execute();
    await trx.deleteFrom('test_report_files').where('job_id', '=', input.jobId).execute();
    await trx.deleteFrom('test_reports').where('job_id', '=', input.jobId).execute();
  });

  const maxTotalBytes = input.maxTotalBytes ?? MAX_JUNIT_JOB_BYTES;
  let totalBytes = 0;
  const counts = zero();
  const stored = { ok: 0, failing: 0 };
  const fileErrors: string[] = [];
  let batch: JunitCase[] = [];
  let batchChars = 0;

  const flush = async () => {
    if (batch.length === 0) return;
    const rows = batch.map((c) => ({
      job_id: input.jobId,
      pipeline_id: job.pipeline_id,
      repo_id: job.repo_id,
      case_key: testCaseKey(c),
      suite: c.suite,
      classname: c.classname,
      name: c.name,
      file: c.file,
      time_seconds: c.timeSeconds,
      status: c.status,
      message: c.message,
      trace: c.trace,
    }));
    batch = [];
    batchChars = 0;
    await db.insertInto('test_cases').values(rows).execute();
  };

  for (const file of input.files) {
    const fileCounts = zero();
    const fileStored = { ok: 0, failing: 0 };
    // Cases of this file already written are removed if the file turns out unreadable further on.
    const before = await db
      .selectFrom('test_cases')
      .select((eb) => eb.fn.max('id').as('id'))
      .where('job_id', '=', input.jobId)
      .executeTakeFirst();
    const onCase = (c: JunitCase) => {
      fileCounts[c.status] += 1;
      fileCounts.duration += c.timeSeconds ?? 0;
      const kind = c.status === 'failed' || c.status === 'error' ? 'failing' : 'ok';
      if (stored[kind] + fileStored[kind] >= maxStored) return;
      fileStored[kind] += 1;
      batch.push(c);
      batchChars += c.name.length + (c.message?.length ?? 0) + (c.trace?.length ?? 0);
    };
    // Written between chunks of the file: the parser's handlers cannot wait, the chunk loop can.
    const source = async function* (stream: Readable) {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        if (batch.length >= ROWS_PER_INSERT || batchChars >= CHARS_PER_INSERT) await flush();
        yield chunk;
      }
    };
    const read = async (): Promise<string | null> => {
      try {
        await readJunit(file.path, source(await input.open(file.digest)), onCase, input.limits ?? DEFAULT_JUNIT_LIMITS);
        await flush();
        return null;
      } catch (err) {
        if (!(err instanceof XmlReportError)) throw err;
        batch = [];
        batchChars = 0;
        const lastKept = Number(before?.id ?? 0);
        await db.deleteFrom('test_cases').where('job_id', '=', input.jobId).where('id', '>', lastKept).execute();
        return err.message;
      }
    };
    totalBytes += file.size;
    const error =
      totalBytes > maxTotalBytes ? `${file.path}: not read: the job's JUnit reports pass ${maxTotalBytes} bytes in all` : await read();
    await db
      .insertInto('test_report_files')
      .values({ job_id: input.jobId, path: file.path, digest: file.digest, size: file.size, error })
      .execute();
    if (error !== null) {
      fileErrors.push(error);
      continue;
    }
    for (const status of ['passed', 'failed', 'error', 'skipped'] as const) counts[status] += fileCounts[status];
    counts.duration += fileCounts.duration;
    stored.ok += fileStored.ok;
    stored.failing += fileStored.failing;
  }

  const total = counts.passed + counts.failed + counts.error + counts.skipped;
  await db
    .insertInto('test_reports')
    .values({
      job_id: input.jobId,
      pipeline_id: job.pipeline_id,
      total,
      passed: counts.passed,
      failed: counts.failed,
      skipped: counts.skipped,
      errors: counts.error,
      // Rounded to microseconds: sums of thousands of decimal times otherwise show float noise.
      duration_seconds: Math.round(counts.duration * 1e6) / 1e6,
      cases_dropped: total - stored.ok - stored.failing,
      created_at: input.now,
    })
    .execute();
  return { total, failed: counts.failed, errors: counts.error, fileErrors };
}
