// A success that changes nothing else skips the pipeline's lock (src/scheduler/sql/completion-moves-nothing.ts):
// the next stage must still be released by the last job of a stage, however the completions interleave.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { claimJob } from '../../src/scheduler/index.js';
import { backends } from '../store/helpers.js';
import { claim, finish, job, LEASE_MS, needs, newPipeline, statuses, T0, testDb } from './helpers.js';

for (const backend of backends()) {
  describe(`${backend.name}: completions beside unfinished siblings`, { skip: backend.skip }, () => {
    it('a success beside a running sibling releases only its needs dependants; the last one releases the next stage', async () => {
      const db = await testDb(backend);
      try {
        const id = await newPipeline(db, [
          job('a1'),
          job('a2'),
          job('later', { stage: 'test' }),
          job('after-a1', { stage: 'test', needs: needs('a1') }),
          job('after-a2', { stage: 'test', needs: needs('a2') }),
        ]);
        const a1 = await claim(db, 'a1');
        const a2 = await claim(db, 'a2');
        await finish(db.store, a1, T0 + 1000);
        assert.deepEqual(await statuses(db, id), {
          $pipeline: 'running',
          a1: 'success',
          a2: 'running',
          later: 'created',
          'after-a1': 'pending',
          'after-a2': 'created',
        });
        await finish(db.store, a2, T0 + 2000);
        const now = await statuses(db, id);
        assert.equal(now.later, 'pending', JSON.stringify(now));
        assert.equal(now['after-a2'], 'pending');
      } finally {
        await db.close();
      }
    });

    it('a success beside a pending sibling keeps the pipeline running and the next stage waiting', async () => {
      const db = await testDb(backend);
      try {
        const id = await newPipeline(db, [job('a1'), job('a2'), job('later', { stage: 'test' })]);
        await finish(db.store, await claim(db, 'a1'), T0 + 1000);
        assert.deepEqual(await statuses(db, id), { $pipeline: 'running', a1: 'success', a2: 'pending', later: 'created' });
        await finish(db.store, await claim(db, 'a2'), T0 + 2000);
        assert.equal((await statuses(db, id)).later, 'pending');
      } finally {
        await db.close();
      }
    });
  });
}

const postgres = backends().find((b) => b.name === 'postgres');
describe('postgres: completions of one pipeline side by side', { skip: postgres?.skip ?? 'no PostgreSQL backend' }, () => {
  it('a success beside a running sibling does not wait for the pipeline lock; the last one does', async () => {
    if (!postgres) return;
    const db = await testDb(postgres);
    try {
      const id = await newPipeline(db, [job('a1'), job('a2'), job('later', { stage: 'test' })]);
      const a1 = await claim(db, 'a1');
      const a2 = await claim(db, 'a2');
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => (locked = resolve));
      // Another transaction holds the pipeline's row, as an advancing completion or a cancel would.
      const holder = db.store.db.transaction().execute(async (trx) => {
        await trx.selectFrom('pipelines').select('id').where('id', '=', id).forUpdate().execute();
        locked();
        await released;
      });
      try {
        await isLocked;
        const first = finish(db.store, a1, T0 + 1000);
        const outcome = await Promise.race([first.then(() => 'done'), sleep(5000).then(() => 'waited')]);
        assert.equal(outcome, 'done', 'the first success did not queue behind the pipeline lock');
        let lastDone = false;
        const last = finish(db.store, a2, T0 + 2000).then(() => (lastDone = true));
        await sleep(300);
        assert.equal(lastDone, false, 'the last job of the stage waits for the lock: it advances the pipeline');
        release();
        await last;
      } finally {
        release();
        await holder;
      }
      assert.equal((await statuses(db, id)).later, 'pending');
    } finally {
      await db.close();
    }
  });

  it('8 jobs of a stage completing at once release the next stage exactly once, 15 times over', async (t) => {
    if (!postgres) return;
    const db = await testDb(postgres);
    try {
      for (let round = 0; round < 15; round++) {
        const wide = Array.from({ length: 8 }, (_, i) => job(`w${i}`, { tags: [] }));
        const id = await newPipeline(db, [...wide, job('next', { stage: 'test', tags: ['next'] })]);
        const claimed = await Promise.all(
          wide.map(async (_, i) => {
            const c = await claimJob(db.store, { agentId: i + 1, agentTags: [], leaseMs: LEASE_MS, now: T0 });
            if (!c) throw new Error(`round ${round}: claimer ${i + 1} got no job`);
            return c;
          }),
        );
        const results = await Promise.all(claimed.map((c) => finish(db.store, c, T0 + 1000)));
        const releases = results.flatMap((r) => r.changes).filter((c) => c.type === 'job' && c.status === 'pending');
        assert.equal(releases.length, 1, `round ${round}: ${JSON.stringify(results.map((r) => r.changes))}`);
        const now = await statuses(db, id);
        assert.equal(now.next, 'pending', `round ${round}: ${JSON.stringify(now)}`);
        await finish(db.store, await claim(db, 'next', T0 + 2000), T0 + 3000);
        assert.equal((await statuses(db, id)).$pipeline, 'success');
      }
      t.diagnostic('15 rounds of 8 simultaneous completions: the next stage released once in each');
    } finally {
      await db.close();
    }
  });
});
