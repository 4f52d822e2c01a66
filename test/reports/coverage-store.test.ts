// Cobertura reports kept per job (migration 028_coverage_reports) and the coverage reads, on SQLite
// and PostgreSQL: a report's line rate is the job's coverage unless its `coverage:` regex finds one;
// an unreadable report keeps its error and leaves the job's result alone; a branch's trend and the
// badge's value follow its finished pipelines.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { coverageTrend, jobCoverage, latestCoverage, recordCoverageReport } from '../../src/reports/index.js';
import { appendLogChunks, completeJob, getJob } from '../../src/scheduler/index.js';
import { backends } from '../store/helpers.js';
import { claim, freshTestDb, job, newPipeline, T0, type TestDb } from '../scheduler/helpers.js';
import { COVERAGE_PY, ISTANBUL } from './cobertura-fixtures.js';

const REGEX = '/Lines: \\d+(?:\\.\\d+)?%/';

/** Claims `name`, uploads `reports` ({path: xml}), writes `log`, and completes the job with `status`. */
async function runJob(
  db: TestDb,
  name: string,
  reports: Record<string, string>,
  status: 'success' | 'failed' = 'success',
  log: string[] = [],
  now = T0,
): Promise<number> {
  const claimed = await claim(db, name, now);
  const token = { jobId: claimed.job.id, agentId: claimed.job.agent_id!, fencingToken: claimed.fencingToken };
  for (const [path, xml] of Object.entries(reports)) {
    await recordCoverageReport(db.store, { jobId: claimed.job.id, path, source: [Buffer.from(xml)], now });
  }
  await appendLogChunks(db.store, { ...token, chunks: log.map((data, seq) => ({ seq, data })), now: now + 500 });
  const done = await completeJob(db.store, { ...token, status, exitCode: status === 'success' ? 0 : 1, now: now + 1000 });
  return done.job.id;
}

for (const backend of backends()) {
  describe(`coverage reports (${backend.name})`, { skip: backend.skip }, () => {
    const db = freshTestDb(backend);

    it("keeps each report's summary; their combined line rate is the job's coverage", async () => {
      await newPipeline(db, [job('py'), job('both')]);
      const py = await runJob(db, 'py', { 'coverage.xml': COVERAGE_PY });
      const view = await jobCoverage(db.store, (await getJob(db.store, py))!);
      assert.equal(view.coverage, 77.78);
      assert.equal(view.reports.length, 1);
      assert.equal(view.reports[0].summary?.linesValid, 9);
      assert.equal(view.reports[0].summary?.packages[1].name, 'calc');
      // Two reports: 7/9 and 6/8 lines make 13/17.
      const both = await runJob(db, 'both', { 'py/coverage.xml': COVERAGE_PY, 'web/cobertura-coverage.xml': ISTANBUL });
      const combined = await jobCoverage(db.store, (await getJob(db.store, both))!);
      assert.deepEqual(
        combined.reports.map((r) => r.path),
        ['py/coverage.xml', 'web/cobertura-coverage.xml'],
      );
      assert.equal(combined.coverage, Math.round((13 / 17) * 10_000) / 100);
    });

    it("the regex's value wins over the report's; without a match the report's stays", async () => {
      await newPipeline(db, [job('matched', { coverage: REGEX }), job('unmatched', { coverage: REGEX })]);
      const matched = await runJob(db, 'matched', { 'coverage.xml': COVERAGE_PY }, 'success', ['Lines: 91.5%\n']);
      assert.equal((await getJob(db.store, matched))!.coverage, 91.5);
      const unmatched = await runJob(db, 'unmatched', { 'coverage.xml': COVERAGE_PY }, 'success', ['no numbers\n']);
      assert.equal((await getJob(db.store, unmatched))!.coverage, 77.78);
    });

    it('an unreadable report keeps its error, leaves the job passed, and an upload again replaces it', async () => {
      await newPipeline(db, [job('broken')]);
      const claimed = await claim(db, 'broken');
      const jobId = claimed.job.id;
      const bad = await recordCoverageReport(db.store, { jobId, path: 'c.xml', source: ['<coverage>\n<packages>'], now: T0 });
      assert.equal(bad.summary, null);
      assert.match(bad.error ?? '', /^c\.xml:2:\d+: /);
      let view = await jobCoverage(db.store, (await getJob(db.store, jobId))!);
      assert.deepEqual(
        view.reports.map((r) => [r.path, r.error !== null]),
        [['c.xml', true]],
      );
      assert.equal(view.coverage, null);
      await recordCoverageReport(db.store, { jobId, path: 'c.xml', source: [COVERAGE_PY], now: T0 + 1 });
      const done = await completeJob(db.store, {
        jobId,
        agentId: 1,
        fencingToken: claimed.fencingToken,
        status: 'success',
        exitCode: 0,
        now: T0 + 2,
      });
      assert.equal(done.job.status, 'success');
      view = await jobCoverage(db.store, (await getJob(db.store, jobId))!);
      assert.deepEqual(
        view.reports.map((r) => [r.path, r.error]),
        [['c.xml', null]],
      );
      assert.equal(view.coverage, 77.78);
    });

    it("a branch's trend: finished pipelines, oldest first, each the average of its jobs; the badge's newest value", async () => {
      const values = [
        { ref: 'main', cov: ['Lines: 60%\n', 'Lines: 70%\n'] },
        { ref: 'main', cov: ['no coverage\n', 'none\n'] },
        { ref: 'feature', cov: ['Lines: 10%\n', 'Lines: 10%\n'] },
        { ref: 'main', cov: ['Lines: 80%\n', 'Lines: 90%\n'] },
      ];
      const ids: number[] = [];
      for (const [i, v] of values.entries()) {
        const now = T0 + i * 10_000;
        ids.push(await newPipeline(db, [job(`unit${i}`, { coverage: REGEX }), job(`lint${i}`, { coverage: REGEX })], { ref: v.ref, now }));
        await runJob(db, `unit${i}`, {}, 'success', [v.cov[0]], now);
        await runJob(db, `lint${i}`, {}, i === 3 ? 'failed' : 'success', [v.cov[1]], now);
      }
      // A running pipeline is not in the trend.
      await newPipeline(db, [job('later', { coverage: REGEX })], { now: T0 + 90_000 });

      const trend = await coverageTrend(db.store, { repoId: db.repoId, ref: 'main', limit: 10 });
      assert.equal(trend.ref, 'main');
      assert.deepEqual(
        trend.points.map((p) => [p.pipelineId, p.status, p.coverage]),
        [
          [ids[0], 'success', 65],
          [ids[1], 'success', null],
          [ids[3], 'failed', 85],
        ],
      );
      assert.equal(trend.points[0].createdAt, new Date(T0).toISOString());
      const last2 = await coverageTrend(db.store, { repoId: db.repoId, ref: 'main', limit: 2 });
      assert.deepEqual(
        last2.points.map((p) => p.pipelineId),
        [ids[1], ids[3]],
      );

      assert.equal(await latestCoverage(db.store, { repoId: db.repoId, ref: 'main' }), 85);
      assert.equal(await latestCoverage(db.store, { repoId: db.repoId, ref: 'main', job: 'unit0' }), 60);
      assert.equal(await latestCoverage(db.store, { repoId: db.repoId, ref: 'feature' }), 10);
      assert.equal(await latestCoverage(db.store, { repoId: db.repoId, ref: 'nowhere' }), null);
    });
  });
}
