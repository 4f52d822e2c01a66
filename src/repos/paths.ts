// Repositories named by path (`group/name`), as `trigger:project`, `needs:project` and
// `include:project` name them. Repositories have a name only on this branch: the full path is
// compared with it first, then its last segment (a repository registered as `app` answers for
// `group/app`); once repositories have a `path` column, it is compared here too.
import type { Kysely } from 'kysely';
import type { Database, Repo } from '../store/index.js';

export async function findRepoByPath(db: Kysely<Database>, path: string): Promise<Repo | undefined> {
  const exact = await db.selectFrom('repos').selectAll().where('name', '=', path).executeTakeFirst();
  if (exact) return exact;
  const last = path.split('/').at(-1) ?? path;
  return last === path ? undefined : db.selectFrom('repos').selectAll().where('name', '=', last).executeTakeFirst();
}
