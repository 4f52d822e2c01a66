// A repository's secrets kept in its own row (the webhook secret, the credentials of its URL):
// sealed with the keyring and bound to the repository's id, so a value copied to another row does
// not decrypt.
import type { Keyring, EncryptedColumn } from '../auth/secrets/index.js';
import type { Store } from '../store/index.js';
import type { Repo } from '../store/schema.js';

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
