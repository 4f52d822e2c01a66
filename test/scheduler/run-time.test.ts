// How long a pipeline ran (its `duration` in the API, the CLI and the web UI): the time its jobs
// were running, on SQLite and PostgreSQL. Jobs side by side count once, and a job retried hours
// later adds its own run, not the hours in between.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { busySeconds, getPipelineRow, pipelineRunSeconds, retryJob } from '../../src/scheduler/index.js';
import { backends } from '../store/helpers.js';
import { freshTestDb, job, newPipeline, run, T0, type TestDb } from './helpers.js';

const HOUR = 3_600_000;

async function runJob(db: TestDb, name: string, start: number, end: number, status: 'success' | 'failed'): Promise<number> {
  return (await run(db, name, status, { now: start, finishedAt: end })).job.id;
}

describe('busySeconds', () => {
  it('merges overlaps, skips gaps, and ignores spans that never ran or never ended', () => {
    assert.equal(busySeconds([]), 0);
    const spans = [
      { started_at: 0, finished_at: 1000 },
      { started_at: 500, finished_at: 1500 },
      { started_at: 200, finished_at: 300 },
      { started_at: 10_000, finished_at: 12_000 },
      { started_at: null, finished_at: 20_000 },
      { started_at: 30_000, finished_at: null },
    ];
    assert.equal(busySeconds(spans), 3.5);
  });
});

for (const backend of backends()) {
  describe(`pipeline run time (${backend.name})`, { skip: backend.skip }, () => {
    const db = freshTestDb(backend);

    it('is the time its jobs ran, not the wall time to a late retry', async () => {
      const pipelineId = await newPipeline(db, [job('a'), job('b')]);
      await runJob(db, 'a', T0, T0 + 1000, 'success');
      const failed = await runJob(db, 'b', T0 + 500, T0 + 1500, 'failed');
      assert.deepEqual(await pipelineRunSeconds(db.store, [pipelineId]), new Map([[pipelineId, 1.5]]));

      // Three hours later someone retries the failed job; it runs two seconds and passes.
      await retryJob(db.store, failed, T0 + 3 * HOUR);
      await runJob(db, 'b', T0 + 3 * HOUR, T0 + 3 * HOUR + 2000, 'success');
      const pipeline = await getPipelineRow(db.store, pipelineId);
      assert.equal(pipeline?.status, 'success');
      assert.ok(pipeline.finished_at! - pipeline.started_at! >= 3 * HOUR, 'the wall time spans the wait');
      assert.deepEqual(await pipelineRunSeconds(db.store, [pipelineId]), new Map([[pipelineId, 3.5]]));

      const idle = await newPipeline(db, [job('c')]);
      assert.deepEqual(
        await pipelineRunSeconds(db.store, [pipelineId, idle]),
        new Map([
          [pipelineId, 3.5],
          [idle, 0],
        ]),
      );
    });
  });
}
