// Advancing a pipeline after a claim or a completion reads only the jobs that may move with it
// (issue 19), and a hand-out reads only the jobs its job takes artifacts from: the statements and the
// rows they return per job are no more in a pipeline of 1,000 jobs than in one of 50, on SQLite and
// PostgreSQL. And the incremental advance decides exactly what a
// full one would: on random pipelines of stages and needs, after every completion, advancing again
// over every job finds nothing left to decide.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import type { CompiledJob } from '../../src/pipeline/types.js';
import { advancePipeline, claimJob, completeJob, jobDependencies } from '../../src/scheduler/index.js';
import type { Store } from '../../src/store/index.js';
import { backends } from '../store/helpers.js';
import { job, needs, newPipeline, statuses, T0, testDb, type TestDb } from './helpers.js';

/** Counts the statements run and the rows they return through a store. */
class Reads implements KyselyPlugin {
  statements = 0;
  rows = 0;
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    this.statements++;
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    this.rows += args.result.rows.length;
    return args.result;
  }
}

function counted(store: Store, reads: Reads): Store {
  const db = store.db.withPlugin(reads);
  return { ...store, db, transaction: (fn) => db.transaction().execute(fn) };
}

/**
 * Claims, hands out (when `handOut`: what the job takes from others) and completes every job of the
 * pipeline one at a time; the statements and rows read per job.
 */
async function runAll(db: TestDb, jobs: number, handOut: boolean): Promise<{ statements: number; rows: number }> {
  const reads = new Reads();
  const store = counted(db.store, reads);
  for (let i = 0; i < jobs; i++) {
    const claimed = await claimJob(store, { agentId: 1, agentTags: [], leaseMs: 60_000, now: T0 + i });
    assert.ok(claimed, `job ${i} claimed`);
    if (handOut) await jobDependencies(store, claimed.pipeline, claimed.spec);
    await completeJob(store, {
      jobId: claimed.job.id,
      agentId: 1,
      fencingToken: claimed.fencingToken,
      status: 'success',
      exitCode: 0,
      now: T0 + i,
    });
  }
  return { statements: reads.statements / jobs, rows: reads.rows / jobs };
}

const oneStage = (n: number): CompiledJob[] => Array.from({ length: n }, (_, i) => job(`j${i}`, { tags: [] }));
const chain = (n: number): CompiledJob[] =>
  Array.from({ length: n }, (_, i) => job(`j${i}`, { tags: [], needs: i === 0 ? [] : needs(`j${i - 1}`) }));
const fourStages = (n: number): CompiledJob[] =>
  Array.from({ length: n }, (_, i) => job(`j${i}`, { tags: [], stage: ['build', 'test', 'deploy', 'cleanup'][Math.floor((i * 4) / n)] }));

/** A small deterministic generator (mulberry32), so a failing case can be replayed from its seed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STAGE_NAMES = ['build', 'test', 'deploy', 'cleanup'];
const WHENS: CompiledJob['when'][] = ['on_success', 'on_success', 'on_success', 'on_failure', 'always', 'manual'];

/** A random pipeline: jobs in up to four stages, some with `needs` on jobs of their stage or earlier ones. */
function randomPipeline(next: () => number): CompiledJob[] {
  const count = 2 + Math.floor(next() * 14);
  const jobs: CompiledJob[] = [];
  for (let i = 0; i < count; i++) {
    const stageIndex = Math.floor(next() * STAGE_NAMES.length);
    const earlier = jobs.filter((j) => j.stageIndex <= stageIndex);
    const dag = earlier.length > 0 && next() < 0.4;
    jobs.push(
      job(`j${i}`, {
        tags: [],
        stage: STAGE_NAMES[stageIndex],
        when: WHENS[Math.floor(next() * WHENS.length)],
        allowFailure: next() < 0.25,
        needs: dag ? needs(...earlier.filter(() => next() < 0.5).map((j) => j.name)) : null,
      }),
    );
  }
  return jobs.sort((a, b) => a.stageIndex - b.stageIndex);
}

for (const backend of backends()) {
  describe(`${backend.name}: advancing a pipeline`, { skip: backend.skip }, () => {
    // A job of a later stage takes the artifacts of every job of the earlier ones (GitLab's default):
    // that hand-out reads more in a larger pipeline by design.
    for (const [shape, make, handOut] of [
      ['one stage', oneStage, true],
      ['a needs chain', chain, true],
      ['four stages', fourStages, false],
    ] as const) {
      it(`reads as much per job with 1,000 jobs as with 50 (${shape})`, async () => {
        const most: { statements: number; rows: number }[] = [];
        for (const size of [50, 1000]) {
          const db = await testDb(backend);
          try {
            await newPipeline(db, make(size));
            most.push(await runAll(db, size, handOut));
            const done = await statuses(db, (await db.store.db.selectFrom('pipelines').select('id').executeTakeFirstOrThrow()).id);
            assert.equal(done.$pipeline, 'success');
          } finally {
            await db.close();
          }
        }
        const [small, large] = most;
        const per = (m: { statements: number; rows: number }) => `${m.statements.toFixed(2)} statements and ${m.rows.toFixed(2)} rows`;
        // A stage's release is a few statements whatever its size, spread over more jobs when there are more.
        assert.ok(large.statements <= small.statements + 0.1, `per job: ${per(large)} at 1,000 jobs, ${per(small)} at 50`);
        assert.ok(large.rows <= small.rows + 0.1, `per job: ${per(large)} at 1,000 jobs, ${per(small)} at 50`);
      });
    }

    it('decides after each completion what deciding over every job would', async () => {
      const db = await testDb(backend);
      try {
        for (let seed = 1; seed <= 40; seed++) {
          const next = random(seed);
          const pipelineId = await newPipeline(db, randomPipeline(next));
          // Each pipeline runs until nothing is left to claim (at most one claim per job).
          for (let step = 0; step < 20; step++) {
            const claimed = await claimJob(db.store, { agentId: 1, agentTags: [], leaseMs: 60_000, now: T0 + step });
            if (!claimed) break;
            await completeJob(db.store, {
              jobId: claimed.job.id,
              agentId: 1,
              fencingToken: claimed.fencingToken,
              status: next() < 0.3 ? 'failed' : 'success',
              exitCode: null,
              now: T0 + step,
            });
            const full = await advancePipeline(db.store, pipelineId, T0 + step);
            assert.deepEqual(full.changes, [], `seed ${seed}, step ${step}: a full advance still had something to decide`);
          }
        }
      } finally {
        await db.close();
      }
    });
  });
}
