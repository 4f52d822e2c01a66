// Users in the store on SQLite and PostgreSQL: accounts from identity providers (the hook the SSO
// libraries call) with roles from their groups, the group mapping's configuration, and the upgrade
// of a database from before users existed.
import assert from 'node:assert/strict';
import { describe, it, beforeEach, afterEach } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { findOrCreateExternalUser, createUser, type GroupRoleMapping } from '../../src/auth/users.js';
import { openStore, type Database, type Store } from '../../src/store/index.js';
import { migrationProvider } from '../../src/store/migrations/index.js';
import { connectPostgres } from '../../src/store/postgres.js';
import { backends } from '../store/helpers.js';

const MAPPINGS: GroupRoleMapping[] = [
  { group: 'ci-admins', admin: true },
  { group: 'shop-devs', repo: 'shop', role: 'developer' },
  { group: 'shop-leads', provider: 'oidc', repo: 'shop', role: 'maintainer' },
  { group: 'ghosts', repo: 'no-such-repo', role: 'owner' },
];

for (const backend of backends()) {
  describe(`users on ${backend.name}`, { skip: backend.skip }, () => {
    let db: { url: string; cleanup(): Promise<void> };
    let store: Store;
    let shopId: number;
    beforeEach(async () => {
      db = await backend.fresh();
      store = await openStore(db.url);
      shopId = (
        await store.db
          .insertInto('repos')
          .values({
            name: 'shop',
            url: '/x',
            default_branch: 'main',
            poll_interval_seconds: 0,
            webhook_secret: null,
            branch_filter: null,
            tag_filter: null,
            known_refs: '{}',
            last_polled_at: null,
            created_at: 1,
          })
          .returning('id')
          .executeTakeFirstOrThrow()
      ).id;
    });
    afterEach(async () => {
      await store.close();
      await db.cleanup();
    });

    const roleOf = async (userId: number) =>
      (await store.db
        .selectFrom('memberships')
        .select(['role', 'source'])
        .where('user_id', '=', userId)
        .where('repo_id', '=', shopId)
        .executeTakeFirst()) ?? null;

    it('the first sign-in creates a user without a password; later ones find it by provider and subject, not by name', async () => {
      const first = await findOrCreateExternalUser(
        store,
        { provider: 'oidc', subject: 'sub-1', username: 'Erin.Example', email: 'erin@example.test', groups: [] },
        MAPPINGS,
        1000,
      );
      assert.equal(first.created, true);
      assert.equal(first.user.username, 'erin.example');
      assert.equal(first.user.password_hash, null);
      const again = await findOrCreateExternalUser(
        store,
        { provider: 'oidc', subject: 'sub-1', username: 'renamed', email: 'erin@new.test', groups: [] },
        MAPPINGS,
        2000,
      );
      assert.deepEqual(
        [again.created, again.user.id, again.user.username, again.user.email, again.user.last_login_at],
        [false, first.user.id, 'erin.example', 'erin@new.test', 2000],
      );
      const other = await findOrCreateExternalUser(
        store,
        { provider: 'ldap', subject: 'sub-1', username: 'erin.example', groups: [] },
        MAPPINGS,
        3000,
      );
      assert.notEqual(other.user.id, first.user.id, 'another provider with the same subject is another account');
      assert.equal(other.user.username, 'erin.example-ldap');
    });

    it("an identity named like a local user never takes it over: a provider's admin is not Tandem's admin", async () => {
      await createUser(store.db, { username: 'admin', admin: true, now: 1, passwordMinLength: 12 });
      const signIn = await findOrCreateExternalUser(
        store,
        { provider: 'oidc', subject: 'evil', username: 'admin', groups: [] },
        MAPPINGS,
        10,
      );
      assert.equal(signIn.user.username, 'admin-oidc');
      assert.equal(signIn.user.admin, 0);
    });

    it('groups give admin and repository roles at each sign-in, and take back what they gave; roles given by hand stay', async () => {
      const id = { provider: 'oidc', subject: 's', username: 'gus' };
      const withGroups = (groups: string[]) => findOrCreateExternalUser(store, { ...id, groups }, MAPPINGS, 100);
      const first = await withGroups(['ci-admins', 'shop-devs', 'shop-leads', 'ghosts']);
      assert.equal(first.user.admin, 1);
      assert.deepEqual(await roleOf(first.user.id), { role: 'maintainer', source: 'groups' }, 'the strongest mapped role wins');
      assert.deepEqual(first.warnings, ['groupRoles: group ghosts names repository "no-such-repo", which does not exist']);
      const fewer = await withGroups(['shop-devs']);
      assert.equal(fewer.user.admin, 0, 'admin from groups goes with the group');
      assert.deepEqual(await roleOf(first.user.id), { role: 'developer', source: 'groups' });
      assert.equal((await withGroups([])).user.admin, 0);
      assert.equal(await roleOf(first.user.id), null);
      // By hand: admin and a role, which later sign-ins keep.
      await store.db.updateTable('users').set({ admin: 1 }).where('id', '=', first.user.id).execute();
      await store.db
        .insertInto('memberships')
        .values({ repo_id: shopId, user_id: first.user.id, role: 'reporter', source: 'manual', created_at: 1, updated_at: 1 })
        .execute();
      const kept = await withGroups(['shop-leads']);
      assert.equal(kept.user.admin, 1);
      assert.deepEqual(await roleOf(first.user.id), { role: 'reporter', source: 'manual' });
      // A mapping limited to one provider ignores another provider's group of that name.
      const ldap = await findOrCreateExternalUser(
        store,
        { provider: 'ldap', subject: 'l', username: 'hal', groups: ['shop-leads'] },
        MAPPINGS,
        100,
      );
      assert.equal(await roleOf(ldap.user.id), null);
    });

    it('a database from before users: the bootstrap admin token becomes user admin’s, the default branch is protected', async () => {
      const fresh = await backend.fresh();
      const old: Kysely<Database> =
        backend.name === 'sqlite'
          ? new Kysely<Database>({ dialect: new SqliteDialect({ database: new BetterSqlite3(fresh.url) }) })
          : connectPostgres(fresh.url).db;
      const migrator = new Migrator({ db: old, provider: migrationProvider(backend.name), migrationTableName: 'kysely_migration' });
      assert.equal((await migrator.migrateTo('004_fencing_sequence')).error, undefined);
      await old
        .insertInto('tokens')
        .values({ name: 'bootstrap admin', kind: 'admin', token_hash: 'a'.repeat(64), created_at: 5, last_used_at: null })
        .execute();
      await old
        .insertInto('repos')
        .values({
          name: 'legacy',
          url: '/x',
          default_branch: 'trunk',
          poll_interval_seconds: 0,
          webhook_secret: null,
          branch_filter: null,
          tag_filter: null,
          known_refs: '{}',
          last_polled_at: null,
          created_at: 7,
        })
        .execute();
      await old.destroy();
      const upgraded = await openStore(fresh.url);
      try {
        const admin = await upgraded.db.selectFrom('users').selectAll().executeTakeFirstOrThrow();
        assert.deepEqual([admin.username, admin.admin, admin.password_hash, admin.created_at], ['admin', 1, null, 5]);
        const token = await upgraded.db.selectFrom('tokens').selectAll().executeTakeFirstOrThrow();
        assert.deepEqual([token.user_id, token.kind, token.scopes], [admin.id, 'personal', '["api"]']);
        const protectedBranches = await upgraded.db.selectFrom('protected_branches').select(['pattern', 'allowed_role']).execute();
        assert.deepEqual(protectedBranches, [{ pattern: 'trunk', allowed_role: 'maintainer' }]);
      } finally {
        await upgraded.close();
        await fresh.cleanup();
      }
    });
  });
}

describe('groupRoles configuration', () => {
  it('comes from tandem.yml as a list, or from TANDEM_GROUP_ROLES as JSON; a bad entry names the setting', () => {
    const config = loadConfig({}, { TANDEM_GROUP_ROLES: JSON.stringify(MAPPINGS) });
    assert.deepEqual(config.groupRoles, MAPPINGS);
    assert.deepEqual(loadConfig({}, {}).groupRoles, []);
    assert.throws(
      () => loadConfig({}, { TANDEM_GROUP_ROLES: '[{"group":"x","role":"developer"}]' }),
      (err: Error) => err instanceof ConfigError && /groupRoles\.0.*give admin: true, or repo and role/.test(err.message),
    );
    assert.throws(
      () => loadConfig({}, { TANDEM_GROUP_ROLES: '[{"group":"x","repo":"r","role":"boss"}]' }),
      (err: Error) => err instanceof ConfigError && /groupRoles\.0\.role/.test(err.message),
    );
    assert.throws(
      () => loadConfig({}, { TANDEM_GROUP_ROLES: 'not json' }),
      (err: Error) => err instanceof ConfigError && /groupRoles.*expected a list/.test(err.message),
    );
  });

  it('the admin password never appears in a configuration error', () => {
    // A number where a string belongs: the error names the setting and where it came from, not the value.
    assert.throws(
      () => loadConfig({ adminPassword: 987654321987 }, {}),
      (err: Error) =>
        err instanceof ConfigError && /adminPassword \(from --admin-password\)/.test(err.message) && !err.message.includes('987654321987'),
    );
  });
});
