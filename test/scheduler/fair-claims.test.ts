// Fair claims across repositories and per-repository concurrency limits (issue 21), on SQLite and
// PostgreSQL: the repository with the fewest running jobs goes first (ties: the oldest queued job),
// a repository at its max_concurrent_jobs is passed by, and on PostgreSQL parallel claimers neither
// exceed a limit nor claim a job twice.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { claimJob } from '../../src/scheduler/index.js';
import type { Store } from '../../src/store/index.js';
import { backends } from '../store/helpers.js';
import { compiled, finish, freshTestDb, insertPipeline, insertRepoRow, job, LEASE_MS, T0, testDb } from './helpers.js';

/** A repository with `jobs` untagged pending jobs (one pipeline), limited to `limit` at once; its id. */
async function repoWithJobs(store: Store, name: string, jobs: number, limit: number | null = null, now = T0): Promise<number> {
  const repoId = await insertRepoRow(store.db, name);
  if (limit !== null) await store.db.updateTable('repos').set({ max_concurrent_jobs: limit }).where('id', '=', repoId).execute();
  await queueJobs(store, repoId, jobs, now);
  return repoId;
}

async function queueJobs(store: Store, repoId: number, jobs: number, now = T0): Promise<void> {
  await insertPipeline(store, repoId, compiled(Array.from({ length: jobs }, (_, i) => job(`j${i}`, { tags: [] }))), { now });
}

const claimAny = (store: Store, agentId = 1, now = T0) => claimJob(store, { agentId, agentTags: [], leaseMs: LEASE_MS, now });

for (const backend of backends()) {
  describe(`${backend.name}: fair claims`, { skip: backend.skip }, () => {
    const db = freshTestDb(backend);

    it('alternates between repositories: a small queue is not stuck behind a big one', async () => {
      const big = await repoWithJobs(db.store, 'big', 50);
      const small = await repoWithJobs(db.store, 'small', 3);
      const order: string[] = [];
      for (let i = 0; i < 8; i++) {
        const c = await claimAny(db.store);
        order.push(c?.job.repo_id === small ? 'small' : c?.job.repo_id === big ? 'big' : 'none');
      }
      // Equal running counts: the older queue first; then whichever runs fewer.
      assert.deepEqual(order, ['big', 'small', 'big', 'small', 'big', 'small', 'big', 'big']);
    });

    it('takes the oldest runnable job within the chosen repository, whose tags fit the agent', async () => {
      const repoId = await insertRepoRow(db.store.db, 'mixed');
      await insertPipeline(
        db.store,
        repoId,
        compiled([job('gpu', { tags: ['gpu'] }), job('first', { tags: [] }), job('second', { tags: [] })]),
      );
      assert.equal((await claimAny(db.store))?.job.name, 'first');
      assert.equal((await claimJob(db.store, { agentId: 2, agentTags: ['gpu'], leaseMs: LEASE_MS, now: T0 }))?.job.name, 'gpu');
    });

    it('passes a repository at its max_concurrent_jobs until one of its jobs ends', async () => {
      const limited = await repoWithJobs(db.store, 'limited', 5, 2);
      const first = await claimAny(db.store);
      const second = await claimAny(db.store);
      assert.deepEqual([first?.job.repo_id, second?.job.repo_id], [limited, limited]);
      assert.equal(await claimAny(db.store), null, 'the third claim finds the repository at its limit');

      const other = await repoWithJobs(db.store, 'other', 1);
      assert.equal((await claimAny(db.store))?.job.repo_id, other, 'another repository is served meanwhile');
      assert.equal(await claimAny(db.store), null);

      await finish(db.store, first!, T0 + 1);
      const third = await claimAny(db.store);
      assert.equal(third?.job.repo_id, limited, 'a slot freed: the repository is served again');
      assert.equal(await claimAny(db.store), null);

      // Lifting the limit takes effect at the next claim.
      await db.store.db.updateTable('repos').set({ max_concurrent_jobs: null }).where('id', '=', limited).execute();
      assert.equal((await claimAny(db.store))?.job.repo_id, limited);
    });

    it('counts every running job of the repository against its limit, whatever agent runs it', async () => {
      const limited = await repoWithJobs(db.store, 'limited', 3, 1);
      assert.equal((await claimAny(db.store, 1))?.job.repo_id, limited);
      assert.equal(await claimAny(db.store, 2), null);
    });
  });
}

const postgres = backends().find((b) => b.name === 'postgres');
describe('postgres: parallel claimers and repository limits', { skip: postgres?.skip ?? 'no PostgreSQL backend' }, () => {
  it('8 claimers never exceed a limit nor claim a job twice', async () => {
    if (!postgres) return;
    const db = await testDb(postgres);
    try {
      const limits = new Map<number, number | null>();
      limits.set(await repoWithJobs(db.store, 'two', 40, 2), 2);
      limits.set(await repoWithJobs(db.store, 'three', 40, 3), 3);
      limits.set(await repoWithJobs(db.store, 'free', 40), null);
      const total = 120;
      // Counted after a claim committed and before its completion starts: never more than the database has running.
      const running = new Map<number, number>([...limits.keys()].map((id) => [id, 0]));
      let peakOverLimit = 0;
      const claimed: number[] = [];
      const deadline = Date.now() + 30_000;
      const violations: string[] = [];
      let stop = false;

      // Samples what the database has running, as committed, while the claimers work.
      const sampler = (async () => {
        while (!stop) {
          const rows = await db.store.db
            .selectFrom('jobs')
            .select((eb) => ['repo_id', eb.fn.countAll<number>().as('n')])
            .where('status', '=', 'running')
            .groupBy('repo_id')
            .execute();
          for (const row of rows) {
            const limit = limits.get(row.repo_id);
            if (limit != null && Number(row.n) > limit) violations.push(`repo ${row.repo_id}: ${row.n} running, limit ${limit}`);
          }
          await sleep(1);
        }
      })();

      const claimer = async (agentId: number): Promise<void> => {
        while (claimed.length < total && Date.now() < deadline) {
          const c = await claimAny(db.store, agentId, Date.now());
          if (!c) {
            await sleep(2);
            continue;
          }
          claimed.push(c.job.id);
          const now = running.get(c.job.repo_id)! + 1;
          running.set(c.job.repo_id, now);
          const limit = limits.get(c.job.repo_id);
          if (limit != null) peakOverLimit = Math.max(peakOverLimit, now - limit);
          // Hold the job a moment, so that claimers meet at the limit.
          await sleep(3);
          running.set(c.job.repo_id, running.get(c.job.repo_id)! - 1);
          await finish(db.store, c, Date.now());
        }
      };
      await Promise.all(Array.from({ length: 8 }, (_, i) => claimer(i + 1)));
      stop = true;
      await sampler;

      assert.equal(claimed.length, total, 'every job claimed');
      assert.equal(new Set(claimed).size, total, 'no job claimed twice');
      assert.equal(peakOverLimit <= 0, true, `a repository ran ${peakOverLimit} jobs over its limit`);
      assert.deepEqual(violations, []);
    } finally {
      await db.close();
    }
  });
});
