// Test history on SQLite and PostgreSQL: a case's runs across pipelines of the default branch (the
// first failure of its current streak, failures in the last N runs, other branches and retried
// attempts left out), flaky marks from a retried attempt or a later pipeline of the same commit, and
// quarantine turning a failure of known-flaky tests only into an allowed failure, never a real one.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FsBlobStore } from '../../src/artifacts/index.js';
import { findTestCases, listFlakyTests, readTestHistory } from '../../src/reports/index.js';
import { retryJob } from '../../src/scheduler/index.js';
import { backends } from '../store/helpers.js';
import { freshTestDb, statuses, T0 } from '../scheduler/helpers.js';
import { caseKey as key, historyRunner, sha, type Plan } from './history-helpers.js';

let blobDir: string;
let blobs: FsBlobStore;
before(async () => {
  blobDir = await mkdtemp(join(tmpdir(), 'tandem-history-blobs-'));
  blobs = new FsBlobStore(blobDir);
});
after(() => rm(blobDir, { recursive: true, force: true }));

for (const backend of backends()) {
  describe(`Test history on ${backend.name}`, { skip: backend.skip }, () => {
    const db = freshTestDb(backend);
    const runner = () => historyRunner(blobs, db);
    const pipeline = (commit: string, now: number, ref?: string) => runner().pipeline(commit, now, ref);
    const runUnit = (cases: Plan, now: number) => runner().runUnit(cases, now);

    it('follows a case across default-branch pipelines: streak start, failures in the last N, last status', async () => {
      const plan: Record<string, 'pass' | 'fail'>[] = [
        { flappy: 'fail', steady: 'pass' },
        { flappy: 'pass', steady: 'pass' },
        { flappy: 'fail', steady: 'fail' },
        { flappy: 'pass', steady: 'fail' },
        { flappy: 'pass', steady: 'fail' },
      ];
      const ids: number[] = [];
      for (const [i, cases] of plan.entries()) {
        ids.push(await pipeline(sha(i + 1), T0 + i * 60_000));
        await runUnit(cases, T0 + i * 60_000);
      }
      // A feature branch's green run and a retried attempt's red one are not the default branch's history.
      await pipeline(sha(99), T0 + 10 * 60_000, 'feature');
      await runUnit({ flappy: 'pass', steady: 'pass' }, T0 + 10 * 60_000);

      const steady = await readTestHistory(db.store, { repoId: db.repoId, caseKey: key('steady'), runs: 20 });
      assert.ok(steady);
      assert.equal(steady.name, 'steady');
      assert.equal(steady.last_status, 'failed');
      assert.equal(steady.failures, 3);
      assert.deepEqual(
        steady.runs.map((r) => [r.pipeline_id, r.status]),
        [...ids].reverse().map((id, i) => [id, i < 3 ? 'failed' : 'passed']),
      );
      assert.equal(steady.first_failure?.pipeline_id, ids[2], 'the streak began in the third pipeline');
      assert.equal(steady.first_failure?.sha, sha(3));
      assert.equal(steady.first_failure?.created_at, T0 + 2 * 60_000);
      assert.equal(steady.first_failure?.message, 'steady broke');
      assert.equal(steady.streak_truncated, false);

      // The last N runs only: the streak's start is still found beyond them.
      const lastTwo = await readTestHistory(db.store, { repoId: db.repoId, caseKey: key('steady'), runs: 2 });
      assert.deepEqual([lastTwo?.runs.length, lastTwo?.failures, lastTwo?.first_failure?.pipeline_id], [2, 2, ids[2]]);

      const flappy = await readTestHistory(db.store, { repoId: db.repoId, caseKey: key('flappy'), runs: 20 });
      assert.deepEqual([flappy?.last_status, flappy?.failures, flappy?.first_failure], ['passed', 2, null]);
      assert.equal(flappy?.flaky, null, 'failing on one commit and passing on another is no flake');

      // A retried attempt replaces its pipeline's run.
      const retried = await retryJob(
        db.store,
        (await db.store.db.selectFrom('jobs').select('id').where('pipeline_id', '=', ids[4]!).executeTakeFirstOrThrow()).id,
        T0 + 20 * 60_000,
      );
      assert.ok(retried.jobId);
      await runUnit({ flappy: 'pass', steady: 'pass' }, T0 + 20 * 60_000);
      const healed = await readTestHistory(db.store, { repoId: db.repoId, caseKey: key('steady'), runs: 20 });
      assert.deepEqual([healed?.last_status, healed?.failures, healed?.first_failure], ['passed', 2, null]);
      assert.equal(healed?.flaky?.flips, 1, 'failed, then passed on a retry of the same commit');

      assert.equal(await readTestHistory(db.store, { repoId: db.repoId, caseKey: key('nothing'), runs: 20 }), null);
      assert.deepEqual(
        (await findTestCases(db.store, { repoId: db.repoId, name: 'steady' })).map((c) => c.case_key),
        [key('steady')],
      );
      assert.deepEqual(
        (await findTestCases(db.store, { repoId: db.repoId, name: 'tests.test_app.flappy' })).map((c) => c.name),
        ['flappy'],
      );
      assert.deepEqual(await findTestCases(db.store, { repoId: db.repoId, name: 'test_app.nope' }), []);
    });

    it('marks a case flaky when a retried attempt or a later pipeline of the same commit passes it', async () => {
      const first = await pipeline(sha(1), T0);
      const failedJob = await runUnit({ racy: 'fail', broken: 'fail', fine: 'pass' }, T0);
      assert.equal(failedJob.status, 'failed');
      assert.equal(failedJob.allow_failure, 0);
      // The retried attempt: `racy` passes now, `broken` still fails.
      await retryJob(db.store, failedJob.id, T0 + 5000);
      await runUnit({ racy: 'pass', broken: 'fail', fine: 'pass' }, T0 + 5000);
      // A new pipeline of the same commit passes `broken`; a third green run of `racy` is no new flip.
      await pipeline(sha(1), T0 + 60_000);
      await runUnit({ racy: 'pass', broken: 'pass', fine: 'pass' }, T0 + 60_000);
      // Another commit failing `fine` and then a different commit passing it is no flake.
      await pipeline(sha(2), T0 + 120_000);
      await runUnit({ racy: 'pass', broken: 'pass', fine: 'fail' }, T0 + 120_000);
      await pipeline(sha(3), T0 + 180_000);
      await runUnit({ racy: 'pass', broken: 'pass', fine: 'pass' }, T0 + 180_000);

      const { tests, total } = await listFlakyTests(db.store, { repoId: db.repoId, limit: 10, offset: 0 });
      assert.equal(total, 2);
      assert.deepEqual(
        tests.map((t) => [t.name, t.flips, Number(t.first_seen_at), Number(t.last_seen_at), t.last_sha]),
        [
          ['broken', 1, T0 + 61_000, T0 + 61_000, sha(1)],
          ['racy', 1, T0 + 6000, T0 + 6000, sha(1)],
        ],
      );
      assert.ok(first);
      // Flipping again on another commit counts a second flip and moves `last seen`.
      await pipeline(sha(4), T0 + 240_000);
      const red = await runUnit({ racy: 'fail', broken: 'pass', fine: 'pass' }, T0 + 240_000);
      await retryJob(db.store, red.id, T0 + 245_000);
      await runUnit({ racy: 'pass', broken: 'pass', fine: 'pass' }, T0 + 245_000);
      const racy = (await listFlakyTests(db.store, { repoId: db.repoId, limit: 1, offset: 0 })).tests[0];
      assert.deepEqual(
        [racy?.name, racy?.flips, Number(racy?.first_seen_at), Number(racy?.last_seen_at)],
        ['racy', 2, T0 + 6000, T0 + 246_000],
      );
    });

    it('quarantines a failure of known-flaky tests only, when the repository asks, and never a real one', async () => {
      // `racy` becomes known flaky: red, then green on the retry.
      await pipeline(sha(1), T0);
      const red = await runUnit({ racy: 'fail', solid: 'pass' }, T0);
      await retryJob(db.store, red.id, T0 + 1000);
      await runUnit({ racy: 'pass', solid: 'pass' }, T0 + 1000);

      // Quarantine off: a flaky-only failure fails the pipeline.
      const off = await pipeline(sha(2), T0 + 60_000);
      const offJob = await runUnit({ racy: 'fail', solid: 'pass' }, T0 + 60_000);
      assert.deepEqual([offJob.allow_failure, offJob.quarantined_tests], [0, null]);
      assert.equal((await statuses(db, off)).$pipeline, 'failed');

      await db.store.db.updateTable('repos').set({ quarantine_flaky_tests: 1 }).where('id', '=', db.repoId).execute();
      const on = await pipeline(sha(3), T0 + 120_000);
      const onJob = await runUnit({ racy: 'fail', solid: 'pass' }, T0 + 120_000);
      assert.equal(onJob.status, 'failed');
      assert.equal(onJob.allow_failure, 1);
      assert.deepEqual(JSON.parse(onJob.quarantined_tests!), ['tests.test_app.racy']);
      assert.equal((await statuses(db, on)).$pipeline, 'success', 'the pipeline passes, with a warning');

      // A real failure beside the flaky one stays a failure.
      const real = await pipeline(sha(4), T0 + 180_000);
      const realJob = await runUnit({ racy: 'fail', solid: 'fail' }, T0 + 180_000);
      assert.deepEqual([realJob.allow_failure, realJob.quarantined_tests], [0, null]);
      assert.equal((await statuses(db, real)).$pipeline, 'failed');

      // A failing script with no failing test is no flaky failure either.
      const none = await pipeline(sha(5), T0 + 240_000);
      const done = await runner().runUnit({ racy: 'pass' }, T0 + 240_000, { exitCode: 2 });
      assert.deepEqual([done.allow_failure, done.quarantined_tests], [0, null]);
      assert.equal((await statuses(db, none)).$pipeline, 'failed');
    });
  });
}
