// Artifact retention (`expire_in`): drop expired manifest rows, then the blobs no manifest, cache,
// release, test report or job log refers to any more. Only the expired rows' blobs are candidates, so a blob uploaded a moment ago
// for a manifest not yet recorded is never touched by a scan.
import type { ServerContext } from './context.js';

const BATCH = 500;

/** Whether a manifest, test report, job log, cache or release still lists the blob: the indexed lookups first, the scans only if they find none. */
async function stillReferenced(ctx: ServerContext, digest: string): Promise<boolean> {
  const { db } = ctx.store;
  const lookups = [
    () => db.selectFrom('artifact_files').select('id').where('digest', '=', digest).limit(1).executeTakeFirst(),
    // A job's JUnit report files are kept as long as its test report.
    () => db.selectFrom('test_report_files').select('id').where('digest', '=', digest).limit(1).executeTakeFirst(),
    // A finished job's log blob (the same bytes may have been uploaded as an artifact too).
    () => db.selectFrom('jobs').select('id').where('log_blob', '=', digest).limit(1).executeTakeFirst(),
    // Cache manifests are JSON; a substring match on a 64-hex digest cannot be a false positive.
    () => db.selectFrom('cache_entries').select('id').where('manifest', 'like', `%${digest}%`).limit(1).executeTakeFirst(),
    // Releases keep their files for rollbacks, whatever the pipeline's expire_in said.
    () => db.selectFrom('releases').select('id').where('files', 'like', `%${digest}%`).limit(1).executeTakeFirst(),
  ];
  for (const lookup of lookups) if (await lookup()) return true;
  return false;
}

/** Deletes each blob that no row lists any more; returns how many went. */
async function deleteUnreferenced(ctx: ServerContext, digests: Iterable<string>): Promise<number> {
  let deleted = 0;
  for (const digest of digests) {
    if (await stillReferenced(ctx, digest)) continue;
    await ctx.blobs.delete(digest);
    deleted++;
  }
  return deleted;
}

/**
 * Deletes the blobs a removed repository left queued (src/repos/repos.ts deleteRepo) that no row
 * lists any more; each queued digest is dealt with once, in batches.
 */
export async function sweepQueuedBlobs(ctx: ServerContext): Promise<{ checked: number; blobs: number }> {
  let checked = 0;
  let blobs = 0;
  for (;;) {
    const queued = await ctx.store.db.selectFrom('blob_sweeps').select('digest').orderBy('digest').limit(BATCH).execute();
    if (queued.length === 0) break;
    const digests = queued.map((q) => q.digest);
    blobs += await deleteUnreferenced(ctx, digests);
    await ctx.store.db.deleteFrom('blob_sweeps').where('digest', 'in', digests).execute();
    checked += queued.length;
  }
  return { checked, blobs };
}

export async function expireArtifacts(ctx: ServerContext, now: number): Promise<{ files: number; blobs: number }> {
  let files = 0;
  let blobs = 0;
  for (;;) {
    const expired = await ctx.store.db
      .selectFrom('artifact_files')
      .select(['id', 'digest'])
      .where('expires_at', '<', now)
      .orderBy('id')
      .limit(BATCH)
      .execute();
    if (expired.length === 0) break;
    await ctx.store.db
      .deleteFrom('artifact_files')
      .where(
        'id',
        'in',
        expired.map((e) => e.id),
      )
      .execute();
    files += expired.length;
    blobs += await deleteUnreferenced(ctx, new Set(expired.map((e) => e.digest)));
  }
  return { files, blobs };
}
