// Single sign-on in progress: the first half of a login is served by one replica and its callback
// may reach another, so what the callback needs is kept here, not in memory. Rows are deleted when
// their callback uses them (once: the delete decides) or once they have expired.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // OpenID Connect: the authorization request's state, and the secrets that prove the code is ours.
  await db.schema
    .createTable('sso_oidc_logins')
    .addColumn('state', 'text', (c) => c.primaryKey())
    .addColumn('code_verifier', 'text', (c) => c.notNull())
    .addColumn('nonce', 'text', (c) => c.notNull())
    // A path on this server (checked before it is stored) where the browser goes once signed in.
    .addColumn('return_to', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('sso_oidc_logins_expires').on('sso_oidc_logins').column('expires_at').execute();

  // SAML: the AuthnRequests sent and not answered yet; a response must answer one of them.
  await db.schema
    .createTable('sso_saml_requests')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('return_to', 'text', (c) => c.notNull())
    .addColumn('issued_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('sso_saml_requests_expires').on('sso_saml_requests').column('expires_at').execute();
}
