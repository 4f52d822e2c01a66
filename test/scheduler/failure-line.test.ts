// The failing line stored when a job ends (migration 029_job_failure_line, on SQLite and
// PostgreSQL): found in the stored log chunks once, kept for a failed job only, cleared for its
// retry, and capped in length.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FAILING_LINE_MAX_CHARS } from '../../src/pipeline/index.js';
import { appendLogChunks, completeJob, retryJob } from '../../src/scheduler/index.js';
import type { Job } from '../../src/store/index.js';
import { backends } from '../store/helpers.js';
import { claim, freshTestDb, job, newPipeline, T0, type TestDb } from './helpers.js';

const GREEN = '\x1b[32;1m';
const RESET = '\x1b[0;m';

async function runWithLog(db: TestDb, name: string, chunks: string[], status: 'success' | 'failed' | 'canceled'): Promise<Job> {
  const claimed = await claim(db, name);
  const token = { jobId: claimed.job.id, agentId: claimed.job.agent_id!, fencingToken: claimed.fencingToken };
  await appendLogChunks(db.store, { ...token, chunks: chunks.map((data, seq) => ({ seq, data })), now: T0 + 500 });
  const done = await completeJob(db.store, { ...token, status, exitCode: status === 'success' ? 0 : 3, now: T0 + 1000 });
  return done.job;
}

const SCRIPT = [
  `${GREEN}Checking out 0123abcd${RESET}\n${GREEN}$ make build${RESET}\nok\n${GREEN}$ ./deploy.sh --to prod${RESET}\nconnecting\n`,
  `refused\n\n\x1b[36;1mRunning after_script${RESET}\n${GREEN}$ echo cleanup${RESET}\n\x1b[31;1mERROR: Job failed: exit code 3${RESET}\n`,
];

for (const backend of backends()) {
  describe(`job failure line (${backend.name})`, { skip: backend.skip }, () => {
    const db = freshTestDb(backend);

    it('is the failing command of a failed job, numbered as the log page numbers lines', async () => {
      await newPipeline(db, [job('deploy')]);
      const failed = await runWithLog(db, 'deploy', SCRIPT, 'failed');
      assert.equal(failed.failure_line, 4);
      assert.equal(failed.failure_line_text, '$ ./deploy.sh --to prod');
    });

    it('is null for a job that passed or was canceled, and for a failed job whose log says nothing', async () => {
      await newPipeline(db, [job('ok'), job('stopped'), job('silent')]);
      const ok = await runWithLog(db, 'ok', SCRIPT, 'success');
      assert.deepEqual([ok.failure_line, ok.failure_line_text], [null, null]);
      const stopped = await runWithLog(db, 'stopped', SCRIPT, 'canceled');
      assert.deepEqual([stopped.failure_line, stopped.failure_line_text], [null, null]);
      const silent = await runWithLog(db, 'silent', ['compiling\n'], 'failed');
      assert.deepEqual([silent.failure_line, silent.failure_line_text], [null, null]);
    });

    it('keeps at most FAILING_LINE_MAX_CHARS of a long line, and a retry starts without one', async () => {
      const pipelineId = await newPipeline(db, [job('long')]);
      const failed = await runWithLog(db, 'long', [`${GREEN}$ echo ${'x'.repeat(5000)}${RESET}\n`], 'failed');
      assert.equal(failed.failure_line, 1);
      assert.equal(failed.failure_line_text?.length, FAILING_LINE_MAX_CHARS);
      const retried = await retryJob(db.store, failed.id, T0 + 2000);
      const fresh = await db.store.db.selectFrom('jobs').selectAll().where('id', '=', retried.jobId).executeTakeFirstOrThrow();
      assert.equal(fresh.pipeline_id, pipelineId);
      assert.deepEqual([fresh.failure_line, fresh.failure_line_text], [null, null]);
    });
  });
}
