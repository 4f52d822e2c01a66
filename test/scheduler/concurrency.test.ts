import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { getPipeline } from '../../src/scheduler/index.js';
import { exited, firstMessage, forkSibling } from '../store/helpers.js';
import { job, newPipeline, testDb, type TestDb } from './helpers.js';

const JOBS = 200;
let db: TestDb;
before(async () => {
  db = await testDb();
});
after(async () => {
  await db.close();
});

it('two processes claiming from one SQLite file never get the same job', async () => {
  const pipelineId = await newPipeline(
    db,
    Array.from({ length: JOBS }, (_, i) => job(`j${i}`, { tags: [] })),
  );
  const children = [1, 2].map((agent) => forkSibling(import.meta.url, 'claim-child', [db.path, String(agent)]));
  try {
    await Promise.all(children.map((c) => firstMessage(c)));
    const results = children.map((c) => firstMessage<{ jobId: number; token: number }[]>(c));
    for (const c of children) c.send('go');
    const [a, b] = await Promise.all(results);

    const ids = [...a, ...b].map((c) => c.jobId);
    assert.equal(ids.length, JOBS, 'every job claimed');
    assert.equal(new Set(ids).size, JOBS, 'no job claimed twice');
    const tokens = [...a, ...b].map((c) => c.token);
    assert.equal(new Set(tokens).size, JOBS, 'every claim got its own fencing token');
    for (const mine of [a, b]) {
      assert.deepEqual(mine.map((c) => c.token), mine.map((c) => c.token).sort((x, y) => x - y), 'tokens increase for each claimer');
    }
    assert.ok(a.length > 0 && b.length > 0, `both processes claimed work (${a.length} / ${b.length})`);
    const view = await getPipeline(db.store, pipelineId);
    assert.equal(view?.pipeline.status, 'success');
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill();
    await Promise.all(children.map(exited));
  }
});
