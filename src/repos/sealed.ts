// A repository's secrets kept in its own row (the webhook secret, the credentials of its URL):
// sealed with the keyring and bound to the repository's id, so a value copied to another row does
// not decrypt.
import { WEBHOOK_SECRET, type EncryptedColumn, type Keyring } from '../auth/index.js';
import type { Store } from '../store/index.js';
import type { Repo } from '../store/index.js';

export type RepoSecretsContext = { store: Store; secrets: { keyring: Keyring } };

/** Seals `plaintext` into the repository's column (or with null, clears it); returns the updated row. */
export async function sealRepoSecret(
  ctx: RepoSecretsContext,
  repoId: number,
  column: EncryptedColumn,
  plaintext: string | null,
): Promise<Repo> {
  const sealed = plaintext === null ? null : await ctx.secrets.keyring.seal(plaintext, column, { id: repoId });
  // The column names come from the keyring's table of encrypted repos columns, not from input.
  const set = { [column.column]: sealed?.value ?? null, [column.keyColumn]: sealed?.keyId ?? null } as Partial<Repo>;
  return ctx.store.db.updateTable('repos').set(set).where('id', '=', repoId).returningAll().executeTakeFirstOrThrow();
}

/** A repository's webhook secret, decrypted; null when it has none. */
export async function webhookSecretOf(ctx: RepoSecretsContext, repo: Repo): Promise<string | null> {
  if (repo.webhook_secret === null) return null;
  return ctx.secrets.keyring.open(repo.webhook_secret, repo.webhook_secret_key_id, WEBHOOK_SECRET, repo);
}

/** Sets (or with null, removes) a repository's webhook secret, encrypted: no plain secret is ever written. */
export async function saveWebhookSecret(ctx: RepoSecretsContext, repoId: number, secret: string | null): Promise<Repo> {
  return sealRepoSecret(ctx, repoId, WEBHOOK_SECRET, secret);
}
