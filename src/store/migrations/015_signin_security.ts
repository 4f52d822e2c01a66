// Sign-in security (issue 14, items 26 and 31): when a directory last vouched for a linked account
// and whether it found the account disabled (a re-check at use reaches sessions and tokens), and
// the client address of each single sign-on start (so one address cannot fill the tables).
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // When the provider last said the account exists (a sign-in, or a re-check of the directory).
  await db.schema.alterTable('identities').addColumn('checked_at', 'bigint').execute();
  // When a re-check found the account gone or disabled at the provider; null: not disabled.
  await db.schema.alterTable('identities').addColumn('disabled_at', 'bigint').execute();
  await sql`update identities set checked_at = last_login_at`.execute(db);
  // Each request of a user with an identity reads it (the re-check at use).
  await db.schema.createIndex('identities_user').on('identities').column('user_id').execute();
  await db.schema.alterTable('sso_oidc_logins').addColumn('address', 'text').execute();
  await db.schema.alterTable('sso_saml_requests').addColumn('address', 'text').execute();
  await db.schema.createIndex('sso_oidc_logins_address').on('sso_oidc_logins').column('address').execute();
  await db.schema.createIndex('sso_saml_requests_address').on('sso_saml_requests').column('address').execute();
}
