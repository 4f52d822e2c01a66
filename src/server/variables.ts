import type { Repo, Variable } from '../store/schema.js';
import type { Store } from '../store/index.js';

/**
 * The repository's CI/CD variables a pipeline may see. Protected variables reach only pipelines on
 * protected refs; until protected branches arrive with the auth work, the default branch is the
 * one protected ref, as GitLab protects it by default.
 */
export async function repoVariablesFor(store: Store, repo: Repo, opts: { protectedRef: boolean }): Promise<Variable[]> {
  let query = store.db.selectFrom('variables').selectAll().where('repo_id', '=', repo.id);
  if (!opts.protectedRef) query = query.where('protected', '=', 0);
  return query.orderBy('key').execute();
}
