// Which registered repositories a pipeline may include files from (include:project and
// include:component, docs/security.md). Whoever can see a pipeline sees what it included (jobs,
// variables, error messages), and its jobs can send it anywhere, so a repository may read another
// one only when that shows nobody anything new: every member of the including repository is a
// member of the included one. A fork's pipeline runs a file written by someone who is no member at
// all, so it may read no other registered repository.
import { sql, type Kysely } from 'kysely';
import type { RegisteredProject } from '../source/index.js';
import type { Database, Repo } from '../store/index.js';
import { findRepoByPath } from './repos.js';

export async function includableProject(
  db: Kysely<Database>,
  from: Pick<Repo, 'id'>,
  projectPath: string,
  opts: { fork: boolean },
): Promise<RegisteredProject> {
  const target = await findRepoByPath(db, projectPath);
  if (!target) return null;
  const found = { url: target.url, defaultBranch: target.default_branch };
  if (target.id === from.id) return found;
  if (opts.fork) return { refused: `project \`${projectPath}\`: a fork's pipeline may include files of its own repository only` };
  const outsider = await db
    .selectFrom('memberships as m')
    .select(sql<number>`1`.as('one'))
    .where('m.repo_id', '=', from.id)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('memberships as t')
            .select(sql<number>`1`.as('one'))
            .where('t.repo_id', '=', target.id)
            .whereRef('t.user_id', '=', 'm.user_id'),
        ),
      ),
    )
    .limit(1)
    .executeTakeFirst();
  if (outsider) {
    return {
      refused: `project \`${projectPath}\`: this repository has members who are not members of \`${target.name}\`, so its pipelines may not include its files`,
    };
  }
  return found;
}
