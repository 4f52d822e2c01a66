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

/**
 * Why a pipeline of `from` may not read `target` (found by `projectPath`), or null when it may.
 * `reading` names what is refused in the message (include's files, artifacts, a pipeline there).
 */
export async function projectAccessRefusal(
  db: Kysely<Database>,
  from: Pick<Repo, 'id'>,
  target: Pick<Repo, 'id' | 'name'>,
  projectPath: string,
  opts: { fork: boolean; reading?: string },
): Promise<string | null> {
  if (target.id === from.id) return null;
  if (opts.fork) return `project \`${projectPath}\`: a fork's pipeline may include files of its own repository only`;
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
  if (!outsider) return null;
  const reading = opts.reading ?? 'include its files';
  return `project \`${projectPath}\`: this repository has members who are not members of \`${target.name}\`, so its pipelines may not ${reading}`;
}

/** The registered repository include:project names, or why this pipeline may not read it; null: none. */
export async function includableProject(
  db: Kysely<Database>,
  from: Pick<Repo, 'id'>,
  projectPath: string,
  opts: { fork: boolean },
): Promise<RegisteredProject> {
  const target = await findRepoByPath(db, projectPath);
  if (!target) return null;
  const refused = await projectAccessRefusal(db, from, target, projectPath, opts);
  return refused === null ? { url: target.url, defaultBranch: target.default_branch } : { refused };
}
