import { VARIABLE_VALUE, WEBHOOK_SECRET } from '../auth/secrets/index.js';
import { sealRepoSecret } from '../repos/index.js';
import type { Repo, Variable } from '../store/schema.js';
import type { ServerContext } from './context.js';

/** A variable as stored, and its value decrypted. */
async function decrypted(ctx: ServerContext, rows: Variable[]): Promise<Variable[]> {
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
  ctx: ServerContext,
  repo: Repo,
  pipeline: { protectedRef: boolean; fromFork: boolean },
): Promise<Variable[]> {
  let query = ctx.store.db.selectFrom('variables').selectAll().where('repo_id', '=', repo.id);
  if (!pipeline.protectedRef) query = query.where('protected', '=', 0);
  if (pipeline.fromFork) query = query.where('masked', '=', 0);
  return decrypted(ctx, await query.orderBy('key').execute());
}

/** Values of the masked variables a job of the repository could have seen, to mask logs again on read. */
export async function maskedVariableValues(ctx: ServerContext, repoId: number): Promise<string[]> {
  const rows = await ctx.store.db.selectFrom('variables').selectAll().where('repo_id', '=', repoId).where('masked', '=', 1).execute();
  return (await decrypted(ctx, rows)).map((v) => v.value);
}

/** Stores a variable, its value encrypted: no plain value is ever written. */
export async function saveVariable(
  ctx: ServerContext,
  repo: Repo,
  v: { key: string; value: string; masked: boolean; protected: boolean; file: boolean },
): Promise<void> {
  const sealed = await ctx.secrets.keyring.seal(v.value, VARIABLE_VALUE, { repo_id: repo.id, key: v.key });
  const now = ctx.clock.now();
  const row = {
    value: sealed.value,
    data_key_id: sealed.keyId,
    masked: v.masked ? 1 : 0,
    protected: v.protected ? 1 : 0,
    file: v.file ? 1 : 0,
    updated_at: now,
  };
  await ctx.store.db
    .insertInto('variables')
    .values({ ...row, key: v.key, repo_id: repo.id, created_at: now })
    .onConflict((oc) => oc.columns(['repo_id', 'key']).doUpdateSet(row))
    .execute();
}

/** A repository's webhook secret, decrypted; null when it has none. */
export async function webhookSecretOf(ctx: ServerContext, repo: Repo): Promise<string | null> {
  if (repo.webhook_secret === null) return null;
  return ctx.secrets.keyring.open(repo.webhook_secret, repo.webhook_secret_key_id, WEBHOOK_SECRET, repo);
}

/** Sets (or with null, removes) a repository's webhook secret, encrypted: no plain secret is ever written. */
export async function saveWebhookSecret(ctx: ServerContext, repoId: number, secret: string | null): Promise<Repo> {
  return sealRepoSecret(ctx, repoId, WEBHOOK_SECRET, secret);
}
