// CI/CD variables of a repository as the API lists them: their values stay sealed (saving and
// decrypting them for jobs is src/server/variables.ts's, which holds the keyring).
import type { Kysely } from 'kysely';
import type { Database, Variable } from '../store/schema.js';

export async function listVariables(db: Kysely<Database>, repoId: number): Promise<Variable[]> {
  return db.selectFrom('variables').selectAll().where('repo_id', '=', repoId).orderBy('key').execute();
}

export async function findVariable(db: Kysely<Database>, input: { repoId: number; key: string }): Promise<Variable | undefined> {
  return db.selectFrom('variables').selectAll().where('repo_id', '=', input.repoId).where('key', '=', input.key).executeTakeFirst();
}

/** False when the repository has no such variable. */
export async function deleteVariable(db: Kysely<Database>, input: { repoId: number; key: string }): Promise<boolean> {
  const result = await db.deleteFrom('variables').where('repo_id', '=', input.repoId).where('key', '=', input.key).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}
