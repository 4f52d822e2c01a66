// JUnit reports stored on SQLite and PostgreSQL: read from the artifact store as streams, counted
// from their cases, a pipeline's summary over its jobs' latest attempts, cases failures first and
// paged, an unreadable file recorded with its position and adding nothing, the per-job case cap.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { FsBlobStore } from '../../src/artifacts/index.js';
import { readTestReport, saveJunitReports, testCaseKey, type JunitReportFile } from '../../src/reports/index.js';
import { retryJob } from '../../src/scheduler/index.js';
import { backends } from '../store/helpers.js';
import { freshTestDb, job, jobId, newPipeline, run, T0, type TestDb } from '../scheduler/helpers.js';
import { GO, JEST, PYTEST, RSPEC, SUREFIRE } from './junit-fixtures.js';

let blobDir: string;
let blobs: FsBlobStore;
before(async () => {
  blobDir = await mkdtemp(join(tmpdir(), 'tandem-junit-blobs-'));
  blobs = new FsBlobStore(blobDir);
});
after(() => rm(blobDir, { recursive: true, force: true }));

async function upload(path: string, text: string): Promise<JunitReportFile> {
  const info = await blobs.put(Readable.from([Buffer.from(text)]));
  return { path, digest: info.digest, size: info.size };
}

async function save(db: TestDb, id: number, files: JunitReportFile[], limits: { maxStoredCases?: number; maxTotalBytes?: number } = {}) {
  return saveJunitReports(db.store, { jobId: id, files, open: (d) => blobs.get(d), now: T0, ...limits });
}

for (const backend of backends()) {
  describe(`JUnit reports on ${backend.name}`, { skip: backend.skip }, () => {
    const db = freshTestDb(backend);

    it('stores every tool’s report of a job and sums a pipeline over its latest attempts', async () => {
      const pipelineId = await newPipeline(db, [job('java'), job('python'), job('js', { stage: 'test' })]);
      const java = await jobId(db, pipelineId, 'java');
      const saved = await save(db, java, [await upload('target/surefire-reports/TEST-Calc.xml', SUREFIRE), await upload('go.xml', GO)]);
      assert.deepEqual(saved, { total: 8, failed: 2, errors: 1, fileErrors: [] });
      await save(db, await jobId(db, pipelineId, 'python'), [await upload('report.xml', PYTEST)]);
      const js = await jobId(db, pipelineId, 'js');
      await save(db, js, [await upload('junit.xml', JEST), await upload('rspec.xml', RSPEC)]);
      for (const name of ['java', 'python']) await run(db, name, 'success');
      await run(db, 'js', 'failed');

      const report = await readTestReport(db.store, { scope: { pipelineId }, offset: 0, limit: 100 });
      assert.deepEqual(
        { ...report.summary, duration_seconds: Math.round(report.summary.duration_seconds * 1000) / 1000 },
        { total: 19, passed: 7, failed: 5, skipped: 5, errors: 2, duration_seconds: 1200.069 },
      );
      assert.deepEqual(
        report.jobs.map((j) => [j.job_name, j.total, j.files.map((f) => f.path)]),
        [
          ['java', 8, ['target/surefire-reports/TEST-Calc.xml', 'go.xml']],
          ['python', 5, ['report.xml']],
          ['js', 6, ['junit.xml', 'rspec.xml']],
        ],
      );
      assert.equal(report.matching, 19);
      assert.deepEqual(
        report.cases.map((c) => c.status),
        [...Array(5).fill('failed'), ...Array(2).fill('error'), ...Array(5).fill('skipped'), ...Array(7).fill('passed')],
      );
      assert.deepEqual(
        report.cases.slice(0, 5).map((c) => `${c.job_name}: ${c.name}`),
        ['java: multiplies', 'java: TestTotal', 'python: test_div[0-1]', 'js: Cart computes the total', 'js: Cart#total sums the prices'],
      );
      const row = report.cases[0]!;
      assert.equal(row.case_key, testCaseKey(row));
      assert.equal(Number(row.repo_id), db.repoId);
      assert.match(row.trace!, /CalculatorTest\.java:31/);

      // Failures only, paged.
      const page1 = await readTestReport(db.store, { scope: { pipelineId }, status: ['failed', 'error'], offset: 0, limit: 4 });
      assert.equal(page1.matching, 7);
      assert.equal(page1.nextOffset, 4);
      const page2 = await readTestReport(db.store, { scope: { pipelineId }, status: ['failed', 'error'], offset: 4, limit: 4 });
      assert.equal(page2.cases.length, 3);
      assert.equal(page2.nextOffset, null);

      // A retried job counts as its latest attempt only; the old attempt's report stays readable by its id.
      const { jobId: retried } = await retryJob(db.store, js, T0 + 1000);
      await save(db, retried, [await upload('junit.xml', JEST.replace('<failure>', '<skipped/><failure>'))]);
      const after = await readTestReport(db.store, { scope: { pipelineId }, offset: 0, limit: 100 });
      assert.equal(after.summary.total, 16);
      assert.equal(after.summary.failed, 3);
      assert.deepEqual(
        after.jobs.map((j) => j.job_id),
        [java, await jobId(db, pipelineId, 'python'), retried],
      );
      const old = await readTestReport(db.store, { scope: { jobId: js }, offset: 0, limit: 100 });
      assert.equal(old.summary.total, 6);
      const byName = await readTestReport(db.store, { scope: { pipelineId, jobName: 'python' }, offset: 0, limit: 100 });
      assert.equal(byName.summary.total, 5);
    });

    it('records an unreadable file with its position, keeps the other files, and replaces a re-sent upload', async () => {
      const pipelineId = await newPipeline(db, [job('unit')]);
      const id = await jobId(db, pipelineId, 'unit');
      const broken = await upload('broken.xml', GO.replace('</testsuite>', ''));
      const saved = await save(db, id, [await upload('good.xml', JEST), broken]);
      assert.equal(saved.total, 3);
      assert.equal(saved.fileErrors.length, 1);
      assert.match(saved.fileErrors[0]!, /^broken\.xml:\d+:\d+: /);
      const report = await readTestReport(db.store, { scope: { jobId: id }, offset: 0, limit: 100 });
      assert.equal(report.matching, 3, 'the broken file’s cases read before its error are gone');
      assert.deepEqual(
        report.jobs[0]!.files.map((f) => [f.path, f.error === null]),
        [
          ['good.xml', true],
          ['broken.xml', false],
        ],
      );
      await save(db, id, [await upload('good.xml', JEST)]);
      const again = await readTestReport(db.store, { scope: { jobId: id }, offset: 0, limit: 100 });
      assert.equal(again.summary.total, 3);
      assert.equal(again.matching, 3);
      assert.equal(again.jobs[0]!.files.length, 1);
    });

    it('counts every case but stores at most the cap of passing and of failing ones', async () => {
      const pipelineId = await newPipeline(db, [job('big')]);
      const id = await jobId(db, pipelineId, 'big');
      const cases = Array.from({ length: 30 }, (_, i) =>
        i % 3 === 0 ? `<testcase name="f${i}"><failure message="no"/></testcase>` : `<testcase name="p${i}"/>`,
      );
      await save(db, id, [await upload('big.xml', `<testsuite name="s">${cases.join('')}</testsuite>`)], { maxStoredCases: 5 });
      const report = await readTestReport(db.store, { scope: { jobId: id }, offset: 0, limit: 100 });
      assert.deepEqual([report.summary.total, report.summary.failed, report.summary.passed], [30, 10, 20]);
      assert.equal(report.jobs[0]!.cases_dropped, 20);
      assert.deepEqual(
        report.cases.map((c) => c.name),
        ['f0', 'f3', 'f6', 'f9', 'f12', 'p1', 'p2', 'p4', 'p5', 'p7'],
      );
    });

    it('reads no file past the job’s total of report bytes', async () => {
      const pipelineId = await newPipeline(db, [job('many')]);
      const id = await jobId(db, pipelineId, 'many');
      const files = [await upload('a.xml', GO), await upload('b.xml', RSPEC)];
      const saved = await save(db, id, files, { maxTotalBytes: files[0]!.size + 10 });
      assert.equal(saved.total, 3);
      assert.deepEqual(saved.fileErrors, [`b.xml: not read: the job's JUnit reports pass ${files[0]!.size + 10} bytes in all`]);
    });
  });
}
