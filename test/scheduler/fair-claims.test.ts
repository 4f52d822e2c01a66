// Fair claims across repositories and per-repository concurrency limits (issue 21), on SQLite and
// PostgreSQL: the repository with the fewest running jobs goes first (ties: the oldest queued job),
// a repository at its max_concurrent_jobs is passed by, and on PostgreSQL parallel claimers neither
// exceed a limit nor claim a job twice.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { claimJob, claimJobs } from '../../src/scheduler/index.js';
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

    it('a claim for several agents chooses afresh for each: fair order, limits and resource groups hold within it', async () => {
      const big = await repoWithJobs(db.store, 'big', 10, 2);
      const small = await repoWithJobs(db.store, 'small', 1);
      const grouped = await insertRepoRow(db.store.db, 'grouped');
      await insertPipeline(
        db.store,
        grouped,
        compiled([job('deploy-a', { tags: [], resourceGroup: 'prod' }), job('deploy-b', { tags: [], resourceGroup: 'prod' })]),
        { now: T0 + 1 },
      );
      const { jobs, exhausted } = await claimJobs(db.store, { agentIds: [1, 2, 3, 4, 5, 6], agentTags: [], leaseMs: LEASE_MS, now: T0 });
      const repoNames = new Map([
        [big, 'big'],
        [small, 'small'],
        [grouped, 'grouped'],
      ]);
      // big's oldest job first (ties go to the oldest job), then the repositories running none,
      // then big again up to its limit of 2; grouped's second deploy waits for its first.
      assert.deepEqual(
        jobs.map((c) => (c ? repoNames.get(c.job.repo_id) : null)),
        ['big', 'small', 'grouped', 'big', null, null],
      );
      assert.equal(exhausted, true);
      assert.deepEqual(
        jobs.map((c) => c?.job.agent_id ?? null),
        [1, 2, 3, 4, null, null],
      );
      const claimed = jobs.filter((c) => c !== null);
      assert.equal(new Set(claimed.map((c) => c.fencingToken)).size, 4, 'a fencing token each');
      assert.deepEqual(
        claimed.map((c) => c.job.status),
        ['running', 'running', 'running', 'running'],
      );
      // Each claim reports its own changes: its job running, and the first claim of a pipeline the pipeline too.
      assert.deepEqual(
        claimed.map((c) => c.changes.map((change) => `${change.type} ${change.status}`)),
        [['job running', 'pipeline running'], ['job running', 'pipeline running'], ['job running', 'pipeline running'], ['job running']],
      );
    });

    it('an agent removed meanwhile gets no job, and the claim goes on for the agents after it', async () => {
      await repoWithJobs(db.store, 'plenty', 3);
      await db.store.db.deleteFrom('agents').where('id', '=', 2).execute();
      const { jobs, exhausted } = await claimJobs(db.store, { agentIds: [1, 2, 3], agentTags: [], leaseMs: LEASE_MS, now: T0 });
      assert.deepEqual(
        jobs.map((c) => c?.job.agent_id ?? null),
        [1, null, 3],
      );
      assert.equal(exhausted, false, 'the queue did not run out');
      const pending = await db.store.db.selectFrom('jobs').select('id').where('status', '=', 'pending').execute();
      assert.equal(pending.length, 1, "the removed agent's job stays queued");
    });

    it('sets the deadline from the job timeout, a month-long one too', async () => {
      const repoId = await insertRepoRow(db.store.db, 'slow');
      const month = 31 * 24 * 3600;
      await insertPipeline(db.store, repoId, compiled([job('soak', { tags: [], timeoutSeconds: month })]));
      const c = await claimAny(db.store);
      assert.equal(c?.job.deadline_at, T0 + month * 1000);
      assert.equal(c?.job.lease_expires_at, T0 + LEASE_MS);
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
