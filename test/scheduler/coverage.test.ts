// Job `coverage:` when the job ends (migration 025_job_coverage, on SQLite and PostgreSQL): the regex
// runs on the stored log chunks, newest last; a canceled job and a job without a regex keep null.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appendLogChunks, completeJob } from '../../src/scheduler/index.js';
import { backends } from '../store/helpers.js';
import { claim, freshTestDb, job, newPipeline, T0, type TestDb } from './helpers.js';

const REGEX = '/Lines: \\d+(?:\\.\\d+)?%/';

async function runWithLog(db: TestDb, name: string, chunks: string[], status: 'success' | 'failed' | 'canceled'): Promise<number | null> {
  const claimed = await claim(db, name);
  const token = { jobId: claimed.job.id, agentId: claimed.job.agent_id!, fencingToken: claimed.fencingToken };
  await appendLogChunks(db.store, { ...token, chunks: chunks.map((data, seq) => ({ seq, data })), now: T0 + 500 });
  const done = await completeJob(db.store, { ...token, status, exitCode: status === 'success' ? 0 : 1, now: T0 + 1000 });
  return done.job.coverage;
}

for (const backend of backends()) {
  describe(`job coverage (${backend.name})`, { skip: backend.skip }, () => {
    const db = freshTestDb(backend);

    it('is the last match across chunks, for a passed or a failed job', async () => {
      await newPipeline(db, [job('ok', { coverage: REGEX }), job('bad', { coverage: REGEX })]);
      // The last line is split across two chunks: the log is joined before it is searched.
      assert.equal(await runWithLog(db, 'ok', ['Lines: 12%\n', 'Lines: 8', '7.5%\ndone\n'], 'success'), 87.5);
      assert.equal(await runWithLog(db, 'bad', ['Lines: 40%\nFAIL\n'], 'failed'), 40);
    });

    it('is null without a match, without a regex, or for a canceled job', async () => {
      await newPipeline(db, [job('none', { coverage: REGEX }), job('plain'), job('stopped', { coverage: REGEX })]);
      assert.equal(await runWithLog(db, 'none', ['no numbers\n'], 'success'), null);
      assert.equal(await runWithLog(db, 'plain', ['Lines: 50%\n'], 'success'), null);
      assert.equal(await runWithLog(db, 'stopped', ['Lines: 50%\n'], 'canceled'), null);
    });
  });
}
