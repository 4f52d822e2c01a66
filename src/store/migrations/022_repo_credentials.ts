// A repository's SSH deploy key (issue 17, private repositories). `ssh_key` holds the private key
// and the known hosts it may be used with, as JSON sealed by the keyring (`ssh_key_key_id`, bound
// to the repository's id like the URL's credentials of migration 013); git uses only the sealed
// copy. `ssh_public_key` (`TYPE BASE64`) and `ssh_known_hosts` are their public parts, kept plain
// so that listing repositories shows fingerprints without decrypting anything.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  const s = db.schema;
  await s.alterTable('repos').addColumn('ssh_key', 'text').execute();
  await s
    .alterTable('repos')
    .addColumn('ssh_key_key_id', 'text', (c) => c.references('data_keys.id'))
    .execute();
  await s.alterTable('repos').addColumn('ssh_public_key', 'text').execute();
  await s.alterTable('repos').addColumn('ssh_known_hosts', 'text').execute();
}
