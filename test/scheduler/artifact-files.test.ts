// A job's artifact manifest with thousands of files: one statement per file list would pass
// SQLite's limit of bound variables (32,766) at about 4,700 files, so the rows go in batches.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { artifactFilesOf, getPipeline, replaceArtifactFiles } from '../../src/scheduler/index.js';
import { backends } from '../store/helpers.js';
import { job, newPipeline, T0, freshTestDb } from './helpers.js';

for (const backend of backends()) {
  describe(backend.name, { skip: backend.skip }, () => {
    const db = freshTestDb(backend);

    it('stores and replaces a manifest of 10,000 files (more than one statement can bind)', async () => {
      const pipelineId = await newPipeline(db, [job('build')]);
      const jobId = (await getPipeline(db.store, pipelineId))!.jobs[0]!.id;
      const files = (count: number, digest: string) =>
        Array.from({ length: count }, (_, i) => ({ path: `out/file-${String(i).padStart(5, '0')}.txt`, digest, size: i, mode: 0o644 }));
      await replaceArtifactFiles(db.store, { jobId, files: files(10_000, `sha256:${'a'.repeat(64)}`), expiresAt: null, now: T0 });
      const stored = await artifactFilesOf(db.store.db, [jobId]);
      assert.equal(stored.length, 10_000);
      assert.equal(stored.at(-1)!.path, 'out/file-09999.txt');
      // A re-sent manifest replaces the rows: no duplicates, the new digest everywhere.
      await replaceArtifactFiles(db.store, { jobId, files: files(6_000, `sha256:${'b'.repeat(64)}`), expiresAt: null, now: T0 + 1 });
      const replaced = await artifactFilesOf(db.store.db, [jobId]);
      assert.equal(replaced.length, 6_000);
      assert.ok(replaced.every((f) => f.digest.endsWith('b'.repeat(64))));
    });
  });
}
