import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  cancelJob,
  cancelPipeline,
  createPipeline,
  extendLease,
  completeJob,
  getPipeline,
  playJob,
  promoteScheduled,
  retryJob,
  retryPipeline,
  SchedulerError,
} from '../../src/scheduler/index.js';
import { claim, job, jobId, needs, newPipeline, run, statuses, T0, freshTestDb } from './helpers.js';
import { backends } from '../store/helpers.js';

for (const backend of backends()) {
  describe(backend.name, { skip: backend.skip }, () => {
    const db = freshTestDb(backend);

    describe('stage order and needs', () => {
      it('runs stages in order, a stage only after every job of earlier stages', async () => {
        const p = await newPipeline(db, [job('a'), job('b'), job('t', { stage: 'test' }), job('d', { stage: 'deploy' })]);
        assert.deepEqual(await statuses(db, p), { $pipeline: 'pending', a: 'pending', b: 'pending', t: 'created', d: 'created' });
        await run(db, 'a', 'success');
        assert.deepEqual(await statuses(db, p), { $pipeline: 'running', a: 'success', b: 'pending', t: 'created', d: 'created' });
        await run(db, 'b', 'success');
        assert.equal((await statuses(db, p)).t, 'pending');
        await run(db, 't', 'success');
        await run(db, 'd', 'success', { now: T0 + 5000 });
        const view = await getPipeline(db.store, p);
        assert.equal(view?.pipeline.status, 'success');
        assert.equal(view?.pipeline.started_at, T0);
        assert.equal(view?.pipeline.finished_at, T0 + 6000);
      });

      it('starts `needs: []` jobs at once and DAG jobs as soon as their needs finish', async () => {
        const p = await newPipeline(db, [
          job('slow'),
          job('lint', { stage: 'test', needs: [] }),
          job('pkg', { stage: 'deploy', needs: needs('lint') }),
          job('staged', { stage: 'deploy' }),
        ]);
        assert.deepEqual(await statuses(db, p), {
          $pipeline: 'pending',
          slow: 'pending',
          lint: 'pending',
          pkg: 'created',
          staged: 'created',
        });
        await run(db, 'lint', 'success');
        const s = await statuses(db, p);
        assert.equal(s.pkg, 'pending');
        assert.equal(s.staged, 'created', 'a stage-ordered job still waits for the earlier stages');
      });

      it('skips along a chain of needs when the first job fails', async () => {
        const p = await newPipeline(db, [
          job('build'),
          job('test', { stage: 'test', needs: needs('build') }),
          job('ship', { stage: 'deploy', needs: needs('test') }),
        ]);
        await run(db, 'build', 'failed');
        assert.deepEqual(await statuses(db, p), { $pipeline: 'failed', build: 'failed', test: 'skipped', ship: 'skipped' });
      });
    });

    describe('when, allow_failure and pipeline status', () => {
      it('on_failure and always jobs run after a failure; on_success jobs are skipped', async () => {
        const p = await newPipeline(db, [
          job('build'),
          job('test', { stage: 'test' }),
          job('report', { stage: 'cleanup', when: 'on_failure' }),
          job('tidy', { stage: 'cleanup', when: 'always' }),
        ]);
        await run(db, 'build', 'failed');
        assert.deepEqual(await statuses(db, p), {
          $pipeline: 'running',
          build: 'failed',
          test: 'skipped',
          report: 'pending',
          tidy: 'pending',
        });
        await run(db, 'report', 'success');
        await run(db, 'tidy', 'success');
        assert.equal((await statuses(db, p)).$pipeline, 'failed');
      });

      it('skips on_failure jobs when everything passed', async () => {
        const p = await newPipeline(db, [job('build'), job('report', { stage: 'cleanup', when: 'on_failure' })]);
        await run(db, 'build', 'success');
        assert.deepEqual(await statuses(db, p), { $pipeline: 'success', build: 'success', report: 'skipped' });
      });

      it('an allowed failure lets later stages run and the pipeline pass', async () => {
        const p = await newPipeline(db, [job('flaky', { allowFailure: true }), job('next', { stage: 'test' })]);
        await run(db, 'flaky', 'failed');
        assert.equal((await statuses(db, p)).next, 'pending');
        await run(db, 'next', 'success');
        assert.equal((await statuses(db, p)).$pipeline, 'success');
      });

      it('allow_failure: exit_codes allows only the listed exit codes', async () => {
        const spec = { allowFailureExitCodes: [3] };
        const allowed = await newPipeline(db, [job('check', spec), job('next', { stage: 'test' })]);
        const result = await run(db, 'check', 'failed', { exitCode: 3 });
        assert.equal(result.job.allow_failure, 1);
        assert.equal((await statuses(db, allowed)).next, 'pending');

        const refused = await newPipeline(db, [job('check2', spec), job('next2', { stage: 'test' })]);
        await run(db, 'check2', 'failed', { exitCode: 4 });
        assert.deepEqual(await statuses(db, refused), { $pipeline: 'failed', check2: 'failed', next2: 'skipped' });
      });

      it('a compile error makes a failed pipeline carrying the error', async () => {
        const { pipelineId, jobIds } = await createPipeline(db.store, {
          repoId: db.repoId,
          ref: 'main',
          isTag: false,
          sha: 'b'.repeat(40),
          beforeSha: null,
          source: 'push',
          compiled: null,
          error: '.gitlab-ci.yml:3:5: unknown key "scrip"',
          defaultTimeoutSeconds: 60,
          now: T0,
        });
        const view = await getPipeline(db.store, pipelineId);
        assert.deepEqual(jobIds, []);
        assert.equal(view?.pipeline.status, 'failed');
        assert.equal(view?.pipeline.error, '.gitlab-ci.yml:3:5: unknown key "scrip"');
        assert.equal(view?.pipeline.finished_at, T0);
      });

      it('stores variables, stages and the default timeout', async () => {
        const p = await newPipeline(db, [job('a'), job('b', { timeoutSeconds: 30 })]);
        const view = await getPipeline(db.store, p);
        assert.deepEqual(JSON.parse(view?.pipeline.variables ?? ''), { GLOBAL: '1' });
        assert.deepEqual(
          view?.jobs.map((j) => [j.name, j.timeout_seconds]),
          [
            ['a', 3600],
            ['b', 30],
          ],
        );
      });
    });

    describe('manual and delayed jobs', () => {
      it('an optional manual job does not hold the pipeline; playing it runs it', async () => {
        const p = await newPipeline(db, [job('deploy', { when: 'manual', allowFailure: true }), job('after', { stage: 'test' })]);
        assert.deepEqual(await statuses(db, p), { $pipeline: 'pending', deploy: 'manual', after: 'pending' });
        await run(db, 'after', 'success');
        assert.equal((await statuses(db, p)).$pipeline, 'success');
        await playJob(db.store, await jobId(db, p, 'deploy'), T0);
        assert.deepEqual(await statuses(db, p), { $pipeline: 'running', deploy: 'pending', after: 'success' });
      });

      it('a blocking manual job holds later stages and the pipeline shows manual', async () => {
        const p = await newPipeline(db, [job('approve', { when: 'manual' }), job('ship', { stage: 'deploy' })]);
        assert.deepEqual(await statuses(db, p), { $pipeline: 'manual', approve: 'manual', ship: 'created' });
        await playJob(db.store, await jobId(db, p, 'approve'), T0);
        await run(db, 'approve', 'success');
        assert.deepEqual(await statuses(db, p), { $pipeline: 'running', approve: 'success', ship: 'pending' });
      });

      it('a job that needs an optional manual job waits until it is played', async () => {
        const p = await newPipeline(db, [
          job('deploy', { when: 'manual', allowFailure: true }),
          job('smoke', { stage: 'test', needs: needs('deploy') }),
        ]);
        assert.deepEqual(await statuses(db, p), { $pipeline: 'manual', deploy: 'manual', smoke: 'created' });
        await playJob(db.store, await jobId(db, p, 'deploy'), T0);
        await run(db, 'deploy', 'success');
        assert.equal((await statuses(db, p)).smoke, 'pending');
      });

      it('a manual job after a failure is skipped', async () => {
        const p = await newPipeline(db, [job('build'), job('approve', { stage: 'deploy', when: 'manual' })]);
        await run(db, 'build', 'failed');
        assert.deepEqual(await statuses(db, p), { $pipeline: 'failed', build: 'failed', approve: 'skipped' });
      });

      it('a delayed job waits for its time', async () => {
        const p = await newPipeline(db, [job('later', { when: 'delayed', startInSeconds: 60 })]);
        assert.deepEqual(await statuses(db, p), { $pipeline: 'scheduled', later: 'scheduled' });
        assert.deepEqual((await promoteScheduled(db.store, T0 + 59_999)).promoted, []);
        const { promoted, changes } = await promoteScheduled(db.store, T0 + 60_000);
        assert.deepEqual(promoted, [await jobId(db, p, 'later')]);
        assert.deepEqual(
          changes.map((c) => [c.type, c.status]),
          [
            ['job', 'pending'],
            ['pipeline', 'pending'],
          ],
        );
      });

      it('play refuses jobs that are not manual, and unknown jobs', async () => {
        const p = await newPipeline(db, [job('a')]);
        await assert.rejects(
          playJob(db.store, await jobId(db, p, 'a'), T0),
          (e: SchedulerError) => e.kind === 'conflict' && /not manual/.test(e.message),
        );
        await assert.rejects(
          playJob(db.store, 4242, T0),
          (e: SchedulerError) => e.kind === 'not_found' && /job 4242 not found/.test(e.message),
        );
      });
    });

    describe('retry', () => {
      it('retries per the retry policy up to max, then fails the pipeline', async () => {
        const p = await newPipeline(db, [job('flaky', { retry: { max: 1, when: ['script_failure'], exitCodes: [] } })]);
        const first = await run(db, 'flaky', 'failed');
        assert.ok(first.retryJobId);
        const view = await getPipeline(db.store, p);
        assert.deepEqual(
          view?.jobs.map((j) => [j.attempt, j.status, j.retried, j.retry_of]),
          [
            [2, 'pending', 0, first.job.id],
            [1, 'failed', 1, null],
          ],
        );
        // Only the latest attempts count, as in GitLab: the pipeline waits for an agent again.
        assert.equal(view?.pipeline.status, 'pending');
        const second = await run(db, 'flaky', 'failed');
        assert.equal(second.retryJobId, null);
        assert.equal((await statuses(db, p)).$pipeline, 'failed');
      });

      it('retries only for matching reasons and exit codes', async () => {
        await newPipeline(db, [
          job('a', { retry: { max: 2, when: ['runner_system_failure'], exitCodes: [] } }),
          job('b', { retry: { max: 2, when: [], exitCodes: [137] } }),
        ]);
        assert.equal((await run(db, 'a', 'failed')).retryJobId, null);
        assert.equal((await run(db, 'b', 'failed', { exitCode: 1 })).retryJobId, null);
        await retryJob(
          db.store,
          (await db.store.db.selectFrom('jobs').select('id').where('name', '=', 'b').executeTakeFirstOrThrow()).id,
          T0,
        );
        assert.notEqual((await run(db, 'b', 'failed', { exitCode: 137 })).retryJobId, null);
      });

      it('a user retry re-runs the job and un-skips what its failure skipped', async () => {
        const p = await newPipeline(db, [
          job('build'),
          job('test', { stage: 'test' }),
          job('ship', { stage: 'deploy', needs: needs('test') }),
        ]);
        const failed = await run(db, 'build', 'failed');
        assert.equal((await statuses(db, p)).$pipeline, 'failed');
        const { jobId: newId, changes } = await retryJob(db.store, failed.job.id, T0 + 10_000);
        assert.ok(changes.some((c) => c.type === 'pipeline' && c.status === 'pending'));
        assert.deepEqual(await statuses(db, p), { $pipeline: 'pending', build: 'pending', test: 'created', ship: 'created' });
        assert.equal((await getPipeline(db.store, p))?.pipeline.finished_at, null);
        await run(db, 'build', 'success');
        await run(db, 'test', 'success');
        await run(db, 'ship', 'success');
        assert.equal((await statuses(db, p)).$pipeline, 'success');
        assert.equal((await getPipeline(db.store, p))?.jobs.filter((j) => j.name === 'build').length, 2);
        assert.equal(newId, await jobId(db, p, 'build'));
      });

      it('retrying a manual job runs it without waiting to be played again', async () => {
        const p = await newPipeline(db, [job('deploy', { when: 'manual' })]);
        await playJob(db.store, await jobId(db, p, 'deploy'), T0);
        const done = await run(db, 'deploy', 'failed');
        await retryJob(db.store, done.job.id, T0);
        assert.equal((await statuses(db, p)).deploy, 'pending');
      });

      it('refuses to retry unfinished, already retried and unknown jobs', async () => {
        const p = await newPipeline(db, [job('a')]);
        const a = await jobId(db, p, 'a');
        await assert.rejects(
          retryJob(db.store, a, T0),
          (e: SchedulerError) => e.kind === 'conflict' && /while it is pending/.test(e.message),
        );
        await run(db, 'a', 'failed');
        const { jobId: second } = await retryJob(db.store, a, T0);
        await assert.rejects(
          retryJob(db.store, a, T0),
          (e: SchedulerError) => e.kind === 'conflict' && e.message.includes(`latest attempt (job ${second})`),
        );
        await assert.rejects(retryJob(db.store, 999, T0), (e: SchedulerError) => e.kind === 'not_found');
      });

      // GitLab's POST /projects/:id/pipelines/:pipeline_id/retry (Ci::RetryPipelineService) retries
      // the latest jobs that failed or were canceled, and the jobs skipped because of them are
      // processed again (back to created) so the pipeline re-runs from there; jobs that succeeded
      // keep their attempt. https://docs.gitlab.com/ee/api/pipelines.html#retry-jobs-in-a-pipeline
      // GitLab reprocesses every skipped job; Tandem resets those downstream of a retried job, the
      // only ones whose decision can change (any other was skipped before the failure and would be again).
      it("retries a pipeline's failed and canceled jobs in one go and re-runs what they skipped", async () => {
        const p = await newPipeline(db, [
          job('build'),
          job('unit', { stage: 'test' }),
          job('lint', { stage: 'test' }),
          job('e2e', { stage: 'test' }),
          job('ship', { stage: 'deploy', needs: needs('unit') }),
          job('docs', { stage: 'deploy', needs: needs('lint') }),
        ]);
        await run(db, 'build', 'success');
        await run(db, 'unit', 'failed');
        await run(db, 'lint', 'success');
        await cancelJob(db.store, await jobId(db, p, 'e2e'), T0);
        await run(db, 'docs', 'success');
        assert.deepEqual(await statuses(db, p), {
          $pipeline: 'failed',
          build: 'success',
          unit: 'failed',
          lint: 'success',
          e2e: 'canceled',
          ship: 'skipped',
          docs: 'success',
        });
        const ids = [await jobId(db, p, 'unit'), await jobId(db, p, 'e2e')];
        const { retried, changes } = await retryPipeline(db.store, { pipelineId: p, jobIds: ids, now: T0 + 10_000 });
        assert.deepEqual(
          retried.map((r) => r.from),
          ids,
        );
        // Finished jobs next to pending ones: GitLab shows such a pipeline as running.
        assert.ok(changes.some((c) => c.type === 'pipeline' && c.status === 'running'));
        assert.deepEqual(await statuses(db, p), {
          $pipeline: 'running',
          build: 'success',
          unit: 'pending',
          lint: 'success',
          e2e: 'pending',
          ship: 'created',
          docs: 'success',
        });
        const view = await getPipeline(db.store, p);
        const attempts = (name: string) =>
          view?.jobs
            .filter((j) => j.name === name)
            .map((j) => j.attempt)
            .sort();
        assert.deepEqual(attempts('unit'), [1, 2]);
        assert.deepEqual(attempts('e2e'), [1, 2]);
        assert.deepEqual(attempts('build'), [1], 'a job that succeeded is not run again');
        assert.deepEqual(attempts('ship'), [1], 'a skipped job is decided again, not copied');
        assert.equal(retried.find((r) => r.from === ids[0])?.to, await jobId(db, p, 'unit'));
        await run(db, 'unit', 'success');
        await run(db, 'e2e', 'success');
        await run(db, 'ship', 'success');
        assert.equal((await statuses(db, p)).$pipeline, 'success');
      });

      it('a pipeline retry refuses when nothing failed, when the jobs changed meanwhile, and unknown pipelines', async () => {
        const p = await newPipeline(db, [job('a'), job('b')]);
        await run(db, 'a', 'success');
        await assert.rejects(
          retryPipeline(db.store, { pipelineId: p, jobIds: [], now: T0 }),
          (e: SchedulerError) => e.kind === 'conflict' && /no failed or canceled jobs/.test(e.message),
        );
        const b = await jobId(db, p, 'b');
        await run(db, 'b', 'failed');
        // Checked while only `a` looked retryable: `b` failing meanwhile is not retried unchecked.
        await assert.rejects(
          retryPipeline(db.store, { pipelineId: p, jobIds: [await jobId(db, p, 'a')], now: T0 }),
          (e: SchedulerError) => e.kind === 'conflict' && /changed while retrying/.test(e.message),
        );
        assert.equal((await statuses(db, p)).b, 'failed', 'a refused retry changes nothing');
        await retryPipeline(db.store, { pipelineId: p, jobIds: [b], now: T0 });
        assert.equal((await statuses(db, p)).b, 'pending');
        await assert.rejects(
          retryPipeline(db.store, { pipelineId: 4242, jobIds: [], now: T0 }),
          (e: SchedulerError) => e.kind === 'not_found',
        );
      });
    });

    describe('cancel', () => {
      it('cancels waiting jobs at once and asks running ones to stop', async () => {
        const p = await newPipeline(db, [
          job('run1'),
          job('wait1'),
          job('later', { stage: 'test' }),
          job('tidy', { stage: 'cleanup', when: 'always' }),
        ]);
        const running = await claim(db, 'run1');
        await cancelPipeline(db.store, p, T0 + 100);
        assert.deepEqual(await statuses(db, p), {
          $pipeline: 'running',
          run1: 'running',
          wait1: 'canceled',
          later: 'canceled',
          tidy: 'canceled',
        });
        const beat = await extendLease(db.store, {
          jobId: running.job.id,
          agentId: running.job.agent_id!,
          fencingToken: running.fencingToken,
          leaseMs: 1000,
          now: T0 + 200,
        });
        assert.equal(beat.cancelRequested, true);
        await completeJob(db.store, {
          jobId: running.job.id,
          agentId: running.job.agent_id!,
          fencingToken: running.fencingToken,
          status: 'canceled',
          exitCode: null,
          now: T0 + 300,
        });
        assert.equal((await statuses(db, p)).$pipeline, 'canceled');
        // Canceling again is a no-op; a finished job cannot be canceled.
        await cancelPipeline(db.store, p, T0 + 400);
        await cancelJob(db.store, running.job.id, T0 + 400);
      });

      it('cancelJob refuses finished jobs and lets the pipeline go on for a canceled one', async () => {
        const p = await newPipeline(db, [
          job('a'),
          job('b'),
          job('tidy', { stage: 'cleanup', when: 'always' }),
          job('next', { stage: 'test' }),
        ]);
        const done = await run(db, 'a', 'success');
        await assert.rejects(
          cancelJob(db.store, done.job.id, T0),
          (e: SchedulerError) => e.kind === 'conflict' && /already finished \(success\)/.test(e.message),
        );
        await cancelJob(db.store, await jobId(db, p, 'b'), T0);
        assert.deepEqual(await statuses(db, p), { $pipeline: 'running', a: 'success', b: 'canceled', next: 'skipped', tidy: 'pending' });
        await run(db, 'tidy', 'success');
        assert.equal((await statuses(db, p)).$pipeline, 'canceled');
        await assert.rejects(cancelPipeline(db.store, 777, T0), (e: SchedulerError) => e.kind === 'not_found');
      });
    });
  });
}
