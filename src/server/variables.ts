import { protectedRefRole } from '../auth/repo-access.js';
import type { Repo, Variable } from '../store/schema.js';
import type { Store } from '../store/index.js';

/**
 * The repository's CI/CD variables a pipeline on this ref may see: protected variables reach only
 * pipelines on protected branches (the repository's protected branch patterns; the default branch
 * is protected when a repository is registered, as GitLab protects it).
 */
export async function repoVariablesFor(store: Store, repo: Repo, ref: { name: string; isTag: boolean }): Promise<Variable[]> {
  const protectedRef = (await protectedRefRole(store.db, repo.id, ref)) !== null;
  let query = store.db.selectFrom('variables').selectAll().where('repo_id', '=', repo.id);
  if (!protectedRef) query = query.where('protected', '=', 0);
  return query.orderBy('key').execute();
}
