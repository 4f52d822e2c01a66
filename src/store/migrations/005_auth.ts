// Authentication and authorization: users (local passwords or external identities), per-repository
// memberships with a role, sessions, scoped personal tokens, job tokens, protected branches, failed
// login counters and the append-only audit log. Everything lives here so that every replica sees a
// login, a revocation or a lockout at its next request.
import { sql, type Kysely } from 'kysely';
import type { StoreDialect } from '../dialect.js';
import { withId } from './id-column.js';

export async function up(db: Kysely<unknown>, dialect: StoreDialect): Promise<void> {
  const s = db.schema;

  await withId(s.createTable('users'), dialect)
    .addColumn('username', 'text', (c) => c.notNull().unique())
    .addColumn('email', 'text')
    // argon2id PHC string; null: no local password (SSO users, the first admin until one is set).
    .addColumn('password_hash', 'text')
    .addColumn('admin', 'integer', (c) => c.notNull().defaultTo(0))
    // 1 when `admin` came from an identity provider's groups: the next login may take it back.
    .addColumn('admin_from_groups', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('last_login_at', 'bigint')
    .execute();

  await withId(s.createTable('identities'), dialect)
    .addColumn('user_id', 'bigint', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_login_at', 'bigint')
    .addUniqueConstraint('identities_provider_subject', ['provider', 'subject'])
    .execute();

  await s
    .createTable('memberships')
    .addColumn('repo_id', 'bigint', (c) => c.notNull().references('repos.id').onDelete('cascade'))
    .addColumn('user_id', 'bigint', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('role', 'text', (c) => c.notNull())
    // 'manual' (granted through the API) or 'groups' (recomputed at each SSO login).
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('memberships_pk', ['repo_id', 'user_id'])
    .execute();
  await s.createIndex('memberships_user').on('memberships').columns(['user_id']).execute();

  await withId(s.createTable('sessions'), dialect)
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('user_id', 'bigint', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
    .addColumn('address', 'text')
    .addColumn('user_agent', 'text')
    .execute();
  await s.createIndex('sessions_user').on('sessions').columns(['user_id']).execute();

  // Tokens belong to a user and carry scopes and an optional expiry. The bootstrap admin token of
  // an older Tandem becomes the token of a user `admin`.
  await s
    .alterTable('tokens')
    .addColumn('user_id', 'bigint', (c) => c.references('users.id').onDelete('cascade'))
    .execute();
  await s
    .alterTable('tokens')
    .addColumn('scopes', 'text', (c) => c.notNull().defaultTo('["api"]'))
    .execute();
  await s.alterTable('tokens').addColumn('expires_at', 'bigint').execute();
  await sql`insert into users (username, admin, admin_from_groups, created_at, updated_at)
            select 'admin', 1, 0, min(created_at), min(created_at) from tokens where kind = 'admin' having count(*) > 0`.execute(db);
  await sql`update tokens set user_id = (select id from users where username = 'admin'), kind = 'personal' where kind = 'admin'`.execute(
    db,
  );
  await s.createIndex('tokens_user').on('tokens').columns(['user_id']).execute();

  // CI_JOB_TOKEN: set when an agent claims the job, valid while the job runs.
  await s.alterTable('jobs').addColumn('job_token_hash', 'text').execute();
  await s.createIndex('jobs_job_token_hash').on('jobs').columns(['job_token_hash']).execute();

  await withId(s.createTable('protected_branches'), dialect)
    .addColumn('repo_id', 'bigint', (c) => c.notNull().references('repos.id').onDelete('cascade'))
    .addColumn('pattern', 'text', (c) => c.notNull())
    // The least role that may run pipelines and manual jobs on a matching branch.
    .addColumn('allowed_role', 'text', (c) => c.notNull().defaultTo('maintainer'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('protected_branches_repo_pattern', ['repo_id', 'pattern'])
    .execute();
  // Until now the default branch was the one protected ref; it stays protected.
  await sql`insert into protected_branches (repo_id, pattern, allowed_role, created_at)
            select id, default_branch, 'maintainer', created_at from repos`.execute(db);

  // Failed logins per key ('user:NAME' or 'address:IP'), in a sliding window, with a lockout.
  await s
    .createTable('login_failures')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('failures', 'integer', (c) => c.notNull())
    .addColumn('window_started_at', 'bigint', (c) => c.notNull())
    .addColumn('locked_until', 'bigint')
    .execute();

  await withId(s.createTable('audit_log'), dialect)
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('replica', 'text', (c) => c.notNull())
    .addColumn('actor_kind', 'text', (c) => c.notNull())
    .addColumn('actor_id', 'bigint')
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('address', 'text')
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('method', 'text')
    .addColumn('route', 'text')
    .addColumn('params', 'text')
    .addColumn('status', 'integer')
    .addColumn('details', 'text')
    .execute();
  await s.createIndex('audit_log_at').on('audit_log').columns(['at']).execute();
  await s.createIndex('audit_log_actor').on('audit_log').columns(['actor', 'id']).execute();
  await s.createIndex('audit_log_action').on('audit_log').columns(['action', 'id']).execute();
  // Append-only in the database itself, whatever code runs against it.
  if (dialect === 'sqlite') {
    for (const op of ['update', 'delete']) {
      await sql
        .raw(`create trigger audit_log_no_${op} before ${op} on audit_log begin select raise(abort, 'audit_log is append-only'); end`)
        .execute(db);
    }
  } else {
    await sql`create function audit_log_append_only() returns trigger language plpgsql as $$
              begin raise exception 'audit_log is append-only'; end $$`.execute(db);
    await sql`create trigger audit_log_append_only before update or delete or truncate on audit_log
              for each statement execute function audit_log_append_only()`.execute(db);
  }
}
