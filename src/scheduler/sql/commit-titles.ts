// The titles of a repository's commits as its pipelines recorded them, for lists that name commits
// by sha alone (an environment's releases; a rollback carries the sha of the release it restores).
import { commitTitle } from '../../pipeline/index.js';
import type { Store } from '../../store/index.js';

export async function commitTitles(store: Store, repoId: number, shas: readonly string[]): Promise<Map<string, string>> {
  if (shas.length === 0) return new Map();
  const rows = await store.db
    .selectFrom('pipelines')
    .select(['sha', 'commit_message'])
    .where('repo_id', '=', repoId)
    .where('sha', 'in', [...new Set(shas)])
    .where('commit_message', 'is not', null)
    .execute();
  return new Map(rows.map((r) => [r.sha, commitTitle(r.commit_message ?? '')]));
}
