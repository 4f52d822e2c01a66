// A delivery is recorded in its pipeline's transaction: a second copy (another replica, a retry)
// is refused as a duplicate and leaves no second pipeline; a first try that never committed leaves
// nothing behind, so the forge's retry builds the pipeline.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { createPipeline, DuplicateDeliveryError } from '../../src/scheduler/index.js';
import { openStore } from '../../src/store/index.js';

test('a delivery makes its pipeline exactly once, atomically', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tandem-delivery-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = await openStore(path.join(dir, 'tandem.db'));
  t.after(() => store.close());
  const repo = await store.db
    .insertInto('repos')
    .values({
      name: 'r',
      url: '/r',
      default_branch: 'main',
      poll_interval_seconds: 0,
      webhook_secret: null,
      branch_filter: null,
      tag_filter: null,
      known_refs: '{}',
      last_polled_at: null,
      created_at: 1,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const sha = 'a'.repeat(40);
  const event = { provider: 'github', deliveryId: 'd-1', kind: 'push', ref: 'refs/heads/main', sha, beforeSha: null };
  const input = {
    repoId: repo.id,
    ref: 'main',
    isTag: false,
    sha,
    beforeSha: null,
    source: 'push' as const,
    compiled: null,
    error: 'x.yml:1:1: error: test',
    defaultTimeoutSeconds: 60,
    now: 1,
    event,
  };

  const first = await createPipeline(store, input);
  await assert.rejects(createPipeline(store, input), (err: unknown) => err instanceof DuplicateDeliveryError && err.kind === 'conflict');
  const pipelines = await store.db.selectFrom('pipelines').select('id').execute();
  assert.deepEqual(
    pipelines.map((p) => p.id),
    [first.pipelineId],
    'the refused copy rolled its pipeline back',
  );
  const events = await store.db.selectFrom('events').select(['delivery_id', 'pipeline_id']).execute();
  assert.deepEqual(events, [{ delivery_id: 'd-1', pipeline_id: first.pipelineId }]);
});
