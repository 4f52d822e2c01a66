// Trigger jobs in the store (https://docs.gitlab.com/ee/ci/yaml/#triggerstrategy): no agent claims
// them; storing the downstream pipeline starts them; with `strategy: depend` they take the
// downstream pipeline's final status; cancelling the parent cancels its downstream pipelines.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  cancelJob,
  cancelPipeline,
  claimJob,
  createPipeline,
  getPipeline,
  linkedPipelines,
  SchedulerError,
} from '../../src/scheduler/index.js';
import { USER_FAILURE_REASONS } from '../../src/monitor/index.js';
import type { CompiledJob } from '../../src/pipeline/index.js';
import { backends } from '../store/helpers.js';
import { compiled, job, jobId, newPipeline, run, statuses, T0, freshTestDb } from './helpers.js';

const trigger = (name: string, depend: boolean, fields: Partial<CompiledJob> = {}): CompiledJob =>
  job(name, {
    script: [],
    tags: [],
    trigger: { include: ['child.yml'], project: null, branch: null, depend, forward: { yamlVariables: true, pipelineVariables: false } },
    ...fields,
  });

for (const backend of backends()) {
  describe(backend.name, { skip: backend.skip }, () => {
    const db = freshTestDb(backend);

    async function child(parent: number, triggerName: string, jobs: CompiledJob[], compiledOk = true): Promise<number> {
      const { pipelineId } = await createPipeline(db.store, {
        repoId: db.repoId,
        ref: 'main',
        isTag: false,
        sha: 'a'.repeat(40),
        beforeSha: null,
        source: 'parent_pipeline',
        compiled: compiledOk ? compiled(jobs) : null,
        error: compiledOk ? undefined : 'child.yml:1:1 broken',
        upstream: { pipelineId: parent, triggerJobId: await jobId(db, parent, triggerName) },
        defaultTimeoutSeconds: 3600,
        now: T0 + 10,
      });
      return pipelineId;
    }

    it('an agent never claims a pending trigger job, even with no tags', async () => {
      const p = await newPipeline(db, [trigger('kid', true)]);
      assert.equal((await statuses(db, p)).kid, 'pending');
      assert.equal(await claimJob(db.store, { agentId: 1, agentTags: [], leaseMs: 1000, now: T0 }), null);
    });

    it('with depend the trigger job runs while the child runs and takes its status; the parent then moves on', async () => {
      const p = await newPipeline(db, [trigger('kid', true), job('after', { stage: 'test' })]);
      const c = await child(p, 'kid', [job('inner')]);
      assert.deepEqual(await statuses(db, p), { $pipeline: 'running', kid: 'running', after: 'created' });
      await run(db, 'inner', 'failed');
      assert.equal((await statuses(db, c)).$pipeline, 'failed');
      assert.deepEqual(await statuses(db, p), { $pipeline: 'failed', kid: 'failed', after: 'skipped' });
      const kid = (await getPipeline(db.store, p))?.jobs.find((j) => j.name === 'kid');
      assert.equal(kid?.failure_reason, 'downstream_pipeline_failed');
      // The child's failure is the pipeline's own (a script), not Tandem's: the parent's is too.
      assert.ok(USER_FAILURE_REASONS.has(kid?.failure_reason ?? ''));
    });

    it('without depend the trigger job succeeds once the child exists, whatever the child does', async () => {
      const p = await newPipeline(db, [trigger('kid', false)]);
      const c = await child(p, 'kid', [job('inner')]);
      assert.deepEqual(await statuses(db, p), { $pipeline: 'success', kid: 'success' });
      await run(db, 'inner', 'failed');
      assert.equal((await statuses(db, c)).$pipeline, 'failed');
      assert.equal((await statuses(db, p)).kid, 'success');
    });

    it('a child whose file does not compile fails the trigger job; a second child for the same job is refused', async () => {
      const p = await newPipeline(db, [trigger('kid', false)]);
      await child(p, 'kid', [], false);
      assert.deepEqual(await statuses(db, p), { $pipeline: 'failed', kid: 'failed' });
      await assert.rejects(child(p, 'kid', [job('inner')]), (err: unknown) => err instanceof SchedulerError && err.kind === 'conflict');
    });

    it('parent and downstream are linked both ways', async () => {
      const p = await newPipeline(db, [trigger('kid', true)]);
      const c = await child(p, 'kid', [job('inner')]);
      const parentRow = (await getPipeline(db.store, p))!.pipeline;
      const childRow = (await getPipeline(db.store, c))!.pipeline;
      const fromParent = await linkedPipelines(db.store, parentRow);
      assert.equal(fromParent.parent, null);
      assert.deepEqual(
        fromParent.downstream.map((l) => [l.pipeline.id, l.repoName, l.triggerJob?.name]),
        [[c, 'demo', 'kid']],
      );
      const fromChild = await linkedPipelines(db.store, childRow);
      assert.deepEqual([fromChild.parent?.pipeline.id, fromChild.parent?.triggerJob?.name], [p, 'kid']);
      assert.deepEqual(fromChild.downstream, []);
    });

    it('cancelling the parent cancels the running trigger job and the child pipeline', async () => {
      const p = await newPipeline(db, [trigger('kid', true)]);
      const c = await child(p, 'kid', [job('inner'), job('later', { stage: 'test' })]);
      await cancelPipeline(db.store, p, T0 + 100);
      assert.deepEqual(await statuses(db, p), { $pipeline: 'canceled', kid: 'canceled' });
      assert.deepEqual(await statuses(db, c), { $pipeline: 'canceled', inner: 'canceled', later: 'canceled' });
    });

    it('cancelling a running trigger job cancels its child pipeline', async () => {
      const p = await newPipeline(db, [trigger('kid', true)]);
      const c = await child(p, 'kid', [job('inner')]);
      await cancelJob(db.store, await jobId(db, p, 'kid'), T0 + 100);
      assert.deepEqual(await statuses(db, p), { $pipeline: 'canceled', kid: 'canceled' });
      assert.deepEqual(await statuses(db, c), { $pipeline: 'canceled', inner: 'canceled' });
    });
  });
}
