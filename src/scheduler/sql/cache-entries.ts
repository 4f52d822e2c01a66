// Caches of a repository (cache_entries): a manifest per key, saved and restored by jobs.
import type { Kysely } from 'kysely';
import { readCacheManifest, type StoredManifest } from '../../store/index.js';
import type { Database } from '../../store/index.js';

export async function findCacheEntry(
  db: Kysely<Database>,
  input: { repoId: number; key: string },
): Promise<{ manifest: StoredManifest; updated_at: number } | undefined> {
  const entry = await db
    .selectFrom('cache_entries')
    .select(['id', 'manifest', 'updated_at'])
    .where('repo_id', '=', input.repoId)
    .where('key', '=', input.key)
    .executeTakeFirst();
  return entry && { manifest: readCacheManifest(entry), updated_at: entry.updated_at };
}

/** Saves (or replaces) the cache under its key. */
export async function saveCacheEntry(
  db: Kysely<Database>,
  input: { repoId: number; key: string; manifest: string; now: number },
): Promise<void> {
  await db
    .insertInto('cache_entries')
    .values({ repo_id: input.repoId, key: input.key, manifest: input.manifest, updated_at: input.now })
    .onConflict((oc) => oc.columns(['repo_id', 'key']).doUpdateSet({ manifest: input.manifest, updated_at: input.now }))
    .execute();
}
