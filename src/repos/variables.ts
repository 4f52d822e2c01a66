// A repository's CI/CD variables: their values are sealed with the keyring (bound to the repository
// and key), listed sealed to the API, and opened only for the jobs and log masking that need them.
import type { Kysely } from 'kysely';
import { VARIABLE_VALUE } from '../auth/index.js';
import type { Database, Variable } from '../store/index.js';
import { registryPasswordOf } from './registry.js';
import type { RepoSecretsContext } from './sealed.js';

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

/** A variable as stored, and its value decrypted. */
async function decrypted(ctx: RepoSecretsContext, rows: Variable[]): Promise<Variable[]> {
  return Promise.all(rows.map(async (v) => ({ ...v, value: await ctx.secrets.keyring.open(v.value, v.data_key_id, VARIABLE_VALUE, v) })));
}

/**
 * The repository's CI/CD variables a pipeline may see, decrypted: protected variables reach only
 * protected pipelines (`pipelineProtectedRole`: on a protected branch, or a merge request from one
 * inside the repository; the default branch is protected when a repository is registered). A fork's
 * merge request gets no masked variable either: masked values are secrets, and forks get none (as
 * on GitHub; GitLab runs them in the fork, without any of the target's variables).
 */
export async function repoVariablesFor(
  ctx: RepoSecretsContext,
  input: { repoId: number; protectedRef: boolean; fromFork: boolean },
): Promise<Variable[]> {
  let query = ctx.store.db.selectFrom('variables').selectAll().where('repo_id', '=', input.repoId);
  if (!input.protectedRef) query = query.where('protected', '=', 0);
  if (input.fromFork) query = query.where('masked', '=', 0);
  return decrypted(ctx, await query.orderBy('key').execute());
}

/** Values of the masked variables a job of the repository could have seen (its registry password too), to mask logs again on read. */
export async function maskedVariableValues(ctx: RepoSecretsContext, repoId: number): Promise<string[]> {
  const [rows, repo] = await Promise.all([
    ctx.store.db.selectFrom('variables').selectAll().where('repo_id', '=', repoId).where('masked', '=', 1).execute(),
    ctx.store.db
      .selectFrom('repos')
      .select(['id', 'registry_password', 'registry_password_key_id'])
      .where('id', '=', repoId)
      .executeTakeFirst(),
  ]);
  const registryPassword = repo ? await registryPasswordOf(ctx, repo) : null;
  return [...(await decrypted(ctx, rows)).map((v) => v.value), ...(registryPassword === null ? [] : [registryPassword])];
}

export interface VariableInput {
  repoId: number;
  key: string;
  value: string;
  masked: boolean;
  protected: boolean;
  file: boolean;
  now: number;
}

/** Stores a variable, its value encrypted: no plain value is ever written. */
export async function saveVariable(ctx: RepoSecretsContext, input: VariableInput): Promise<void> {
  const sealed = await ctx.secrets.keyring.seal(input.value, VARIABLE_VALUE, { repo_id: input.repoId, key: input.key });
  const row = {
    value: sealed.value,
    data_key_id: sealed.keyId,
    masked: input.masked ? 1 : 0,
    protected: input.protected ? 1 : 0,
    file: input.file ? 1 : 0,
    updated_at: input.now,
  };
  await ctx.store.db
    .insertInto('variables')
    .values({ ...row, key: input.key, repo_id: input.repoId, created_at: input.now })
    .onConflict((oc) => oc.columns(['repo_id', 'key']).doUpdateSet(row))
    .execute();
}
