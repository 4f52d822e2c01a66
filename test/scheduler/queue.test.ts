import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  appendLogChunks,
  autoCancelInterruptible,
  cancelJob,
  claimJob,
  completeJob,
  enforceTimeouts,
  extendLease,
  getJob,
  listPipelines,
  readLogPages,
  reapExpiredLeases,
  releaseClaim,
  removeAgent,
  SchedulerError,
  StaleTokenError,
} from '../../src/scheduler/index.js';
import { FsBlobStore } from '../../src/artifacts/index.js';
import { claim, job, LEASE_MS, newPipeline, run, statuses, T0, freshTestDb } from './helpers.js';
import { backends } from '../store/helpers.js';

const noBlobsDir = mkdtempSync(path.join(tmpdir(), 'tandem-queue-blobs-'));
const noBlobs = new FsBlobStore(noBlobsDir);
after(() => rmSync(noBlobsDir, { recursive: true, force: true }));

for (const backend of backends()) {
  describe(backend.name, { skip: backend.skip }, () => {
    const db = freshTestDb(backend);

    describe('claimJob', () => {
      it('gives a job only to an agent that has all its tags; untagged jobs run anywhere', async () => {
        await newPipeline(db, [job('docker', { tags: ['docker', 'linux'] }), job('any', { tags: [] })]);
        const plain = await claimJob(db.store, { agentId: 1, agentTags: ['linux'], leaseMs: LEASE_MS, now: T0 });
        assert.equal(plain?.job.name, 'any');
        assert.equal(await claimJob(db.store, { agentId: 1, agentTags: ['linux'], leaseMs: LEASE_MS, now: T0 }), null);
        const rich = await claimJob(db.store, { agentId: 2, agentTags: ['arm', 'docker', 'linux'], leaseMs: LEASE_MS, now: T0 + 5 });
        assert.equal(rich?.job.name, 'docker');
        assert.equal(rich?.job.agent_id, 2);
        assert.equal(rich?.job.started_at, T0 + 5);
        assert.equal(rich?.job.lease_expires_at, T0 + 5 + LEASE_MS);
        assert.equal(rich?.job.deadline_at, T0 + 5 + 3600_000);
        assert.equal(rich?.repo.name, 'demo');
        assert.equal(rich?.spec.name, 'docker');
        assert.equal(rich?.pipeline.status, 'running');
      });

      it('gives no job to an agent removed since its replica read it; the job stays pending', async () => {
        await newPipeline(db, [job('any', { tags: [] })]);
        assert.ok(await removeAgent(db.store.db, 3));
        assert.equal(await claimJob(db.store, { agentId: 3, agentTags: [], leaseMs: LEASE_MS, now: T0 }), null);
        const claimed = await claimJob(db.store, { agentId: 4, agentTags: [], leaseMs: LEASE_MS, now: T0 });
        assert.equal(claimed?.job.name, 'any', 'the job went to an agent that exists');
      });

      it('a claim given back (its hand-out never reached the agent) leaves the job pending, and the old token refused', async () => {
        await newPipeline(db, [job('any', { tags: [] })]);
        const first = await claimJob(db.store, { agentId: 1, agentTags: [], leaseMs: LEASE_MS, now: T0 });
        assert.ok(first);
        const claim = { jobId: first.job.id, agentId: 1, fencingToken: first.fencingToken };
        assert.equal((await releaseClaim(db.store, { ...claim, now: T0 + 1 })).released, true);
        assert.equal((await releaseClaim(db.store, { ...claim, now: T0 + 2 })).released, false, 'only once');
        const pending = await getJob(db.store, first.job.id);
        assert.equal(pending?.status, 'pending');
        assert.equal(pending?.agent_id, null);
        const again = await claimJob(db.store, { agentId: 2, agentTags: [], leaseMs: LEASE_MS, now: T0 + 3 });
        assert.equal(again?.job.id, first.job.id, 'the same job, not a new attempt');
        assert.ok(again.fencingToken > first.fencingToken);
        await assert.rejects(completeJob(db.store, { ...claim, status: 'success', exitCode: 0, now: T0 + 4 }), StaleTokenError);
      });

      it('runs one job of a resource group at a time (per repository)', async () => {
        const first = await newPipeline(db, [job('deploy', { resourceGroup: 'prod', tags: [] })]);
        await newPipeline(db, [job('deploy', { resourceGroup: 'prod', tags: [] })]);
        const a = await claimJob(db.store, { agentId: 1, agentTags: [], leaseMs: LEASE_MS, now: T0 });
        assert.equal(a?.pipeline.id, first);
        assert.equal(await claimJob(db.store, { agentId: 2, agentTags: [], leaseMs: LEASE_MS, now: T0 }), null);
        await completeJob(db.store, {
          jobId: a.job.id,
          agentId: a.job.agent_id!,
          fencingToken: a.fencingToken,
          status: 'success',
          exitCode: 0,
          now: T0 + 1,
        });
        const b = await claimJob(db.store, { agentId: 2, agentTags: [], leaseMs: LEASE_MS, now: T0 + 2 });
        assert.notEqual(b?.pipeline.id, first);
      });

      it('hands out fencing tokens that strictly increase across all claims', async () => {
        await newPipeline(
          db,
          ['a', 'b', 'c', 'd'].map((n) => job(n, { tags: [] })),
        );
        const tokens: number[] = [];
        for (
          let c = await claimJob(db.store, { agentId: 1, agentTags: [], leaseMs: LEASE_MS, now: T0 });
          c;
          c = await claimJob(db.store, { agentId: 1, agentTags: [], leaseMs: LEASE_MS, now: T0 })
        ) {
          tokens.push(c.fencingToken);
        }
        assert.equal(tokens.length, 4);
        assert.deepEqual(
          tokens,
          [...tokens].sort((x, y) => x - y),
        );
        assert.equal(new Set(tokens).size, 4);
        assert.ok(tokens[0] >= 1);
      });

      it('refuses a non-positive lease', async () => {
        await assert.rejects(
          claimJob(db.store, { agentId: 1, agentTags: [], leaseMs: 0, now: T0 }),
          (e: SchedulerError) => e.kind === 'invalid',
        );
      });
    });

    describe('leases and fencing', () => {
      it('requeues the job of a dead agent and refuses the old token everywhere', async () => {
        const p = await newPipeline(db, [job('build')]);
        const old = await claim(db, 'build', T0, 1);
        const beat = await extendLease(db.store, {
          jobId: old.job.id,
          agentId: old.job.agent_id!,
          fencingToken: old.fencingToken,
          leaseMs: LEASE_MS,
          now: T0 + 5000,
        });
        assert.deepEqual(beat, { cancelRequested: false, leaseExpiresAt: T0 + 5000 + LEASE_MS });

        assert.deepEqual((await reapExpiredLeases(db.store, { now: T0 + 5000 + LEASE_MS })).reaped, [], 'not expired yet');
        const reap = await reapExpiredLeases(db.store, { now: T0 + 5001 + LEASE_MS });
        assert.equal(reap.reaped.length, 1);
        const { retryJobId } = reap.reaped[0];
        assert.ok(retryJobId);
        const reapedRow = await getJob(db.store, old.job.id);
        assert.equal(reapedRow?.status, 'failed');
        assert.equal(reapedRow?.failure_reason, 'runner_system_failure');

        const fresh = await claim(db, 'build', T0 + 20_000, 2);
        assert.equal(fresh.job.id, retryJobId);
        assert.equal(fresh.job.attempt, 2);
        assert.ok(fresh.fencingToken > old.fencingToken);

        const stale = (e: Error): boolean =>
          e instanceof StaleTokenError &&
          e.kind === 'conflict' &&
          /not held by this agent under this claim \((the job is failed and was retried|it runs under another claim)\)/.test(e.message) &&
          !/token \d/.test(e.message);
        await assert.rejects(
          extendLease(db.store, {
            jobId: old.job.id,
            agentId: old.job.agent_id!,
            fencingToken: old.fencingToken,
            leaseMs: LEASE_MS,
            now: T0 + 20_001,
          }),
          stale,
        );
        await assert.rejects(
          appendLogChunks(db.store, {
            jobId: old.job.id,
            agentId: old.job.agent_id!,
            fencingToken: old.fencingToken,
            chunks: [{ seq: 0, data: 'late' }],
            now: T0 + 20_001,
          }),
          stale,
        );
        await assert.rejects(
          completeJob(db.store, {
            jobId: old.job.id,
            agentId: old.job.agent_id!,
            fencingToken: old.fencingToken,
            status: 'success',
            exitCode: 0,
            now: T0 + 20_001,
          }),
          stale,
        );
        // The old agent cannot act on the new attempt either.
        await assert.rejects(
          completeJob(db.store, {
            jobId: fresh.job.id,
            agentId: fresh.job.agent_id!,
            fencingToken: old.fencingToken,
            status: 'success',
            exitCode: 0,
            now: T0 + 20_001,
          }),
          stale,
        );

        await appendLogChunks(db.store, {
          jobId: fresh.job.id,
          agentId: fresh.job.agent_id!,
          fencingToken: fresh.fencingToken,
          chunks: [{ seq: 0, data: 'ok\n' }],
          now: T0 + 20_002,
        });
        await completeJob(db.store, {
          jobId: fresh.job.id,
          agentId: fresh.job.agent_id!,
          fencingToken: fresh.fencingToken,
          status: 'success',
          exitCode: 0,
          now: T0 + 20_003,
        });
        assert.equal((await statuses(db, p)).$pipeline, 'success');
      });

      it('stops requeueing after maxSystemAttempts, whatever the file says', async () => {
        const p = await newPipeline(db, [job('build', { retry: { max: 0, when: [], exitCodes: [] } })]);
        await claim(db, 'build', T0);
        const first = await reapExpiredLeases(db.store, { now: T0 + LEASE_MS + 1, maxSystemAttempts: 2 });
        assert.ok(first.reaped[0].retryJobId);
        await claim(db, 'build', T0 + LEASE_MS + 2);
        const second = await reapExpiredLeases(db.store, { now: T0 + 2 * LEASE_MS + 3, maxSystemAttempts: 2 });
        assert.equal(second.reaped[0].retryJobId, null);
        assert.equal((await statuses(db, p)).$pipeline, 'failed');
        assert.ok(second.changes.some((c) => c.type === 'pipeline' && c.status === 'failed'));
      });

      it('a job whose cancel was requested ends canceled when its agent dies', async () => {
        const p = await newPipeline(db, [job('build')]);
        const c = await claim(db, 'build');
        await autoCancelInterruptible(db.store, { repoId: db.repoId, ref: 'main', newPipelineId: p + 1, now: T0 });
        assert.equal((await getJob(db.store, c.job.id))?.cancel_requested, 0, 'a non-interruptible started job keeps its pipeline');
        await cancelJob(db.store, c.job.id, T0);
        const reap = await reapExpiredLeases(db.store, { now: T0 + LEASE_MS + 1 });
        assert.deepEqual(
          reap.reaped.map((r) => [r.status, r.retryJobId]),
          [['canceled', null]],
        );
        assert.equal((await statuses(db, p)).$pipeline, 'canceled');
      });

      it('completing twice with the same token and result is a no-op; a different result is refused', async () => {
        await newPipeline(db, [job('build', { retry: { max: 2, when: ['always'], exitCodes: [] } })]);
        const c = await claim(db, 'build');
        const input = {
          jobId: c.job.id,
          agentId: c.job.agent_id!,
          fencingToken: c.fencingToken,
          status: 'failed' as const,
          exitCode: 2,
          now: T0 + 1,
        };
        const first = await completeJob(db.store, input);
        const again = await completeJob(db.store, input);
        assert.equal(again.retryJobId, first.retryJobId);
        assert.deepEqual(again.changes, []);
        assert.equal((await db.store.db.selectFrom('jobs').select('id').execute()).length, 2, 'no second retry row');
        await assert.rejects(
          completeJob(db.store, { ...input, status: 'success', exitCode: 0 }),
          (e: SchedulerError) => e.kind === 'conflict' && /already completed as failed/.test(e.message),
        );
      });
    });

    describe('logs', () => {
      it('appends chunks idempotently and reads them in order after a sequence number', async () => {
        await newPipeline(db, [job('build')]);
        const c = await claim(db, 'build');
        const send = async (chunks: { seq: number; data: string }[]) => {
          const { inserted, truncated } = await appendLogChunks(db.store, {
            jobId: c.job.id,
            agentId: c.job.agent_id!,
            fencingToken: c.fencingToken,
            chunks,
            now: T0,
          });
          return { inserted, truncated };
        };
        assert.deepEqual(
          await send([
            { seq: 0, data: 'a' },
            { seq: 1, data: 'b' },
          ]),
          { inserted: 2, truncated: false },
        );
        assert.deepEqual(
          await send([
            { seq: 1, data: 'b' },
            { seq: 2, data: 'c' },
          ]),
          { inserted: 1, truncated: false },
        );
        const read = async (afterSeq?: number) => {
          const chunks = [];
          // A running job's log is in its rows: the blob store is never asked.
          for await (const page of readLogPages(db.store, noBlobs, c.job.id, { afterSeq })) chunks.push(...page);
          return chunks;
        };
        assert.deepEqual(await read(), [
          { seq: 0, data: 'a' },
          { seq: 1, data: 'b' },
          { seq: 2, data: 'c' },
        ]);
        assert.deepEqual(await read(1), [{ seq: 2, data: 'c' }]);
        assert.deepEqual(await read(2), []);
        await assert.rejects(
          send([{ seq: -1, data: 'x' }]),
          (e: SchedulerError) => e.kind === 'invalid' && /chunks\[0\]\.seq/.test(e.message),
        );

        // The agent that completed the job may still flush its last chunk.
        await completeJob(db.store, {
          jobId: c.job.id,
          agentId: c.job.agent_id!,
          fencingToken: c.fencingToken,
          status: 'success',
          exitCode: 0,
          now: T0 + 1,
        });
        assert.deepEqual(await send([{ seq: 3, data: 'd' }]), { inserted: 1, truncated: false });
      });
    });

    describe('timeouts', () => {
      it('asks the agent to stop at the deadline and records a timeout when it does', async () => {
        await newPipeline(db, [job('slow', { timeoutSeconds: 60 })]);
        const c = await claim(db, 'slow');
        assert.deepEqual((await enforceTimeouts(db.store, T0 + 59_999)).cancelRequested, []);
        assert.deepEqual((await enforceTimeouts(db.store, T0 + 60_000)).cancelRequested, [c.job.id]);
        const beat = await extendLease(db.store, {
          jobId: c.job.id,
          agentId: c.job.agent_id!,
          fencingToken: c.fencingToken,
          leaseMs: LEASE_MS,
          now: T0 + 60_001,
        });
        assert.equal(beat.cancelRequested, true);
        const done = await completeJob(db.store, {
          jobId: c.job.id,
          agentId: c.job.agent_id!,
          fencingToken: c.fencingToken,
          status: 'canceled',
          exitCode: null,
          now: T0 + 60_002,
        });
        assert.equal(done.job.status, 'failed');
        assert.equal(done.job.failure_reason, 'job_execution_timeout');
      });

      it('fails the job itself when the agent does not stop it within the grace period', async () => {
        const p = await newPipeline(db, [
          job('stuck', { timeoutSeconds: 60, retry: { max: 1, when: ['job_execution_timeout'], exitCodes: [] } }),
        ]);
        const c = await claim(db, 'stuck');
        await enforceTimeouts(db.store, T0 + 60_000, { graceMs: 5000 });
        // The agent keeps heartbeating but never stops the job.
        await extendLease(db.store, {
          jobId: c.job.id,
          agentId: c.job.agent_id!,
          fencingToken: c.fencingToken,
          leaseMs: LEASE_MS,
          now: T0 + 64_000,
        });
        assert.deepEqual((await enforceTimeouts(db.store, T0 + 64_999, { graceMs: 5000 })).failed, []);
        const res = await enforceTimeouts(db.store, T0 + 65_000, { graceMs: 5000 });
        assert.equal(res.failed.length, 1);
        assert.ok(res.failed[0].retryJobId, 'retry: when job_execution_timeout applies');
        assert.equal((await getJob(db.store, c.job.id))?.failure_reason, 'job_execution_timeout');
        assert.equal((await statuses(db, p)).stuck, 'pending');
      });
    });

    describe('autoCancelInterruptible', () => {
      it('cancels older pipelines on the same ref whose started jobs are all interruptible', async () => {
        const older = await newPipeline(db, [job('lint', { interruptible: true }), job('test', { stage: 'test', interruptible: true })]);
        const deploying = await newPipeline(db, [job('deploy')]);
        const otherRef = await newPipeline(db, [job('x', { interruptible: true })], { ref: 'feature' });
        const lint = await claim(db, 'lint');
        await claim(db, 'deploy');
        const newest = await newPipeline(db, [job('y')]);

        const { canceledPipelineIds } = await autoCancelInterruptible(db.store, {
          repoId: db.repoId,
          ref: 'main',
          newPipelineId: newest,
          now: T0 + 10,
        });
        assert.deepEqual(canceledPipelineIds, [older]);
        assert.deepEqual(await statuses(db, older), { $pipeline: 'running', lint: 'running', test: 'canceled' });
        assert.equal((await getJob(db.store, lint.job.id))?.cancel_requested, 1);
        assert.equal((await statuses(db, deploying)).$pipeline, 'running');
        assert.equal((await statuses(db, otherRef)).$pipeline, 'pending');

        await completeJob(db.store, {
          jobId: lint.job.id,
          agentId: lint.job.agent_id!,
          fencingToken: lint.fencingToken,
          status: 'canceled',
          exitCode: null,
          now: T0 + 20,
        });
        assert.equal((await statuses(db, older)).$pipeline, 'canceled');
        assert.deepEqual(
          (await listPipelines(db.store, { limit: 2 })).map((p) => p.id),
          [newest, otherRef],
        );
        assert.deepEqual(
          (await listPipelines(db.store, { limit: 10, before: otherRef, repoId: db.repoId })).map((p) => p.id),
          [deploying, older],
        );
      });

      it('cancels an older pipeline where nothing has started yet', async () => {
        const older = await newPipeline(db, [job('build')]);
        await run(db, 'build', 'success');
        const waiting = await newPipeline(db, [job('build2')]);
        const newest = await newPipeline(db, [job('build3')]);
        const { canceledPipelineIds } = await autoCancelInterruptible(db.store, {
          repoId: db.repoId,
          ref: 'main',
          newPipelineId: newest,
          now: T0,
        });
        assert.deepEqual(canceledPipelineIds, [waiting], 'the finished pipeline is left alone');
        assert.equal((await statuses(db, older)).$pipeline, 'success');
        assert.equal((await statuses(db, waiting)).$pipeline, 'canceled');
      });
    });
  });
}
