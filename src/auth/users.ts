// Users: local accounts with argon2id passwords, accounts from identity providers (the hook the SSO
// libraries call), the first admin, and the rules that keep an instance administrable.
import { DomainError } from '../errors.js';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { Store } from '../store/index.js';
import type { Database, Role, User } from '../store/index.js';
import { checkPasswordPolicy, hashPassword } from './passwords.js';
import { roleAtLeast } from './permissions.js';
import { createPersonalToken } from './tokens.js';

export const USERNAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const USERNAME_RULE = 'lowercase letters, digits, ".", "_" and "-", starting with a letter or digit (at most 64)';

/** A refused change or lookup of users and memberships. */
export class UserError extends DomainError {
  override name = 'UserError';
}

/** Every user, by name. */
export async function listUsers(db: Kysely<Database>): Promise<User[]> {
  return db.selectFrom('users').selectAll().orderBy('username').execute();
}

export async function findUser(db: Kysely<Database>, username: string): Promise<User> {
  // A name no user can have is not looked up: a NUL byte, for one, is an error in PostgreSQL.
  const user = USERNAME_PATTERN.test(username)
    ? await db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst()
    : undefined;
  if (!user) throw new UserError('not_found', `no user named "${username}"`);
  return user;
}

export async function createUser(
  db: Kysely<Database>,
  input: { username: string; password?: string; email?: string | null; admin?: boolean; now: number; passwordMinLength: number },
): Promise<User> {
  if (!USERNAME_PATTERN.test(input.username)) throw new UserError('invalid', `username: ${USERNAME_RULE}`);
  if (input.password !== undefined) checkPasswordPolicy(input.password, { username: input.username, minLength: input.passwordMinLength });
  const passwordHash = input.password === undefined ? null : await hashPassword(input.password);
  const row = await db
    .insertInto('users')
    .values({
      username: input.username,
      email: input.email ?? null,
      password_hash: passwordHash,
      admin: input.admin ? 1 : 0,
      admin_from_groups: 0,
      created_at: input.now,
      updated_at: input.now,
      last_login_at: null,
    })
    .onConflict((oc) => oc.column('username').doNothing())
    .returningAll()
    .executeTakeFirst();
  if (!row) throw new UserError('conflict', `a user named "${input.username}" already exists`);
  return row;
}

export async function setPassword(
  db: Kysely<Database>,
  user: User,
  password: string,
  opts: { now: number; passwordMinLength: number },
): Promise<void> {
  checkPasswordPolicy(password, { username: user.username, minLength: opts.passwordMinLength });
  await db
    .updateTable('users')
    .set({ password_hash: await hashPassword(password), updated_at: opts.now })
    .where('id', '=', user.id)
    .execute();
}

/** Whether an identity provider (OIDC, LDAP, SAML) vouches for the user. */
export async function hasExternalIdentity(db: Kysely<Database>, userId: number): Promise<boolean> {
  return (await db.selectFrom('identities').select('id').where('user_id', '=', userId).limit(1).executeTakeFirst()) !== undefined;
}

/** Whether a directory recheck found the user's account disabled at its identity provider (src/auth/sso/recheck.ts). */
export async function disabledAtProvider(db: Kysely<Database>, userId: number): Promise<boolean> {
  const disabled = await db
    .selectFrom('identities')
    .select('id')
    .where('user_id', '=', userId)
    .where('disabled_at', 'is not', null)
    .executeTakeFirst();
  return disabled !== undefined;
}

/** Refuses a change that would leave the instance without an administrator. */
async function keepAnAdmin(trx: Kysely<Database>, user: User, change: string): Promise<void> {
  if (user.admin !== 1) return;
  const others = await trx.selectFrom('users').select('id').where('admin', '=', 1).where('id', '!=', user.id).limit(1).executeTakeFirst();
  if (!others)
    throw new UserError('conflict', `${change} ${user.username} would leave no instance administrator: make another user admin first`);
}

export async function setAdmin(store: Store, username: string, admin: boolean, now: number): Promise<User> {
  return store.transaction(async (trx) => {
    const user = await findUser(trx, username);
    if (!admin) await keepAnAdmin(trx, user, 'taking admin from');
    return trx
      .updateTable('users')
      .set({ admin: admin ? 1 : 0, admin_from_groups: 0, updated_at: now })
      .where('id', '=', user.id)
      .returningAll()
      .executeTakeFirstOrThrow();
  });
}

/** Deletes a user with its sessions, tokens, memberships and identities (the audit log keeps the name). */
export async function deleteUser(store: Store, username: string): Promise<void> {
  await store.transaction(async (trx) => {
    const user = await findUser(trx, username);
    await keepAnAdmin(trx, user, 'deleting');
    await trx.deleteFrom('users').where('id', '=', user.id).execute();
  });
}

/**
 * On first start: user `admin` (instance admin; a password only when configured, else none until
 * `tandem user passwd admin`) owning the bootstrap token, written to `<dataDir>/admin.token` (0600).
 * Returns the token only when it was created now, so the caller can print it exactly once.
 * Replicas starting together create one admin: the unique username decides.
 */
/**
 * The first admin of an empty database, with an API token (written to `admin.token`) and, unless a
 * password is configured, optionally a generated one for the web UI (written to `admin.password`,
 * as Jenkins' initial admin password): both readable only by the server's user.
 */
export async function ensureBootstrapAdmin(
  store: Store,
  opts: { dataDir: string; now: number; password?: string; generatePassword?: boolean; passwordMinLength: number },
): Promise<{ token: string; generatedPassword: string | null } | null> {
  const anyone = await store.db.selectFrom('users').select('id').limit(1).executeTakeFirst();
  if (anyone) return null;
  const generatedPassword = opts.password === undefined && opts.generatePassword ? randomBytes(18).toString('base64url') : null;
  const password = opts.password ?? generatedPassword ?? undefined;
  if (password !== undefined) checkPasswordPolicy(password, { username: 'admin', minLength: opts.passwordMinLength });
  const passwordHash = password === undefined ? null : await hashPassword(password);
  const token = await store.transaction(async (trx) => {
    const user = await trx
      .insertInto('users')
      .values({
        username: 'admin',
        email: null,
        password_hash: passwordHash,
        admin: 1,
        admin_from_groups: 0,
        created_at: opts.now,
        updated_at: opts.now,
        last_login_at: null,
      })
      .onConflict((oc) => oc.column('username').doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!user) return null;
    return (await createPersonalToken(trx, { userId: user.id, name: 'bootstrap admin', scopes: ['api'], expiresAt: null, now: opts.now }))
      .token;
  });
  if (token === null) return null;
  await mkdir(opts.dataDir, { recursive: true });
  await writeFile(join(opts.dataDir, 'admin.token'), token + '\n', { mode: 0o600 });
  if (generatedPassword !== null) await writeFile(join(opts.dataDir, 'admin.password'), generatedPassword + '\n', { mode: 0o600 });
  return { token, generatedPassword };
}

// ---- Accounts from identity providers (OIDC, LDAP, SAML: src/auth/sso/) ----

/** What an identity provider says about a person after a successful sign-in. */
export interface ExternalIdentity {
  /** The provider's name in Tandem's configuration (e.g. "oidc", "ldap", "corp-saml"). */
  provider: string;
  /** The provider's stable id of the account (OIDC `sub`, LDAP DN or entryUUID, SAML NameID). */
  subject: string;
  /** Preferred username; made valid and unique when taken by another account. */
  username: string;
  email?: string | null;
  groups: readonly string[];
}

/**
 * A group of an identity provider and what its members get. Configured as `groupRoles` in
 * tandem.yml (or TANDEM_GROUP_ROLES as JSON): `{group, provider?, admin: true}` or `{group, provider?, repo, role}`.
 */
export interface GroupRoleMapping {
  group: string;
  /** Only this provider's groups; absent: any provider's. */
  provider?: string;
  admin?: boolean;
  repo?: string;
  role?: Role;
}

export interface ExternalSignIn {
  user: User;
  created: boolean;
  /** Mappings that name a repository that does not exist (for the caller to log). */
  warnings: string[];
}

function usernameCandidates(identity: ExternalIdentity): string[] {
  const base =
    identity.username
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, '-')
      .replace(/^[^a-z0-9]+/, '')
      .slice(0, 48) || 'user';
  const provider = identity.provider
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, 12);
  return [base, `${base}-${provider}`, ...Array.from({ length: 20 }, (_, i) => `${base}-${provider}-${i + 2}`)];
}

/** Another sign-in linked the identity at the same moment (a replica beside this one): read it again. */
class LinkedConcurrently extends Error {}

/**
 * Finds the user linked to an external identity, or creates one (without a password) on first
 * sign-in, then applies the group mapping: admin and repository roles that came from groups are
 * recomputed at every sign-in (roles granted by hand are kept). An identity is never linked to an
 * existing user by username, since that would let the provider take over a local account (a
 * provider's "admin" is not Tandem's admin): a taken username gets the provider's name appended.
 *
 * A person's first sign-in on two replicas at once: both transactions find no identity and make a
 * user; the unique (provider, subject) lets one identity in, the other insert does nothing (no
 * error raised in the database), and the loser's transaction is rolled back, user and all, and run
 * again, which finds the winner's identity.
 */
export async function findOrCreateExternalUser(
  store: Store,
  identity: ExternalIdentity,
  mappings: readonly GroupRoleMapping[],
  now: number,
): Promise<ExternalSignIn> {
  if (!identity.provider || !identity.subject) throw new UserError('invalid', 'external identity: provider and subject are required');
  try {
    return await linkExternalUser(store, identity, mappings, now);
  } catch (err) {
    if (!(err instanceof LinkedConcurrently)) throw err;
    return linkExternalUser(store, identity, mappings, now);
  }
}

async function linkExternalUser(
  store: Store,
  identity: ExternalIdentity,
  mappings: readonly GroupRoleMapping[],
  now: number,
): Promise<ExternalSignIn> {
  return store.transaction(async (trx) => {
    let created = false;
    const linked = await trx
      .selectFrom('identities')
      .select('user_id')
      .where('provider', '=', identity.provider)
      .where('subject', '=', identity.subject)
      .executeTakeFirst();
    let userId: number;
    if (linked) {
      userId = linked.user_id;
      // The provider vouched for the account just now: a directory disable found earlier is over.
      await trx
        .updateTable('identities')
        .set({ last_login_at: now, checked_at: now, disabled_at: null })
        .where('provider', '=', identity.provider)
        .where('subject', '=', identity.subject)
        .execute();
    } else {
      let inserted: { id: number } | undefined;
      for (const username of usernameCandidates(identity)) {
        inserted = await trx
          .insertInto('users')
          .values({
            username,
            email: identity.email ?? null,
            password_hash: null,
            admin: 0,
            admin_from_groups: 0,
            created_at: now,
            updated_at: now,
            last_login_at: null,
          })
          .onConflict((oc) => oc.column('username').doNothing())
          .returning('id')
          .executeTakeFirst();
        if (inserted) break;
      }
      if (!inserted)
        throw new UserError(
          'conflict',
          `external identity ${identity.provider}:${identity.subject}: no free username near "${identity.username}"`,
        );
      userId = inserted.id;
      created = true;
      const link = await trx
        .insertInto('identities')
        .values({
          user_id: userId,
          provider: identity.provider,
          subject: identity.subject,
          created_at: now,
          last_login_at: now,
          checked_at: now,
          disabled_at: null,
        })
        .onConflict((oc) => oc.columns(['provider', 'subject']).doNothing())
        .returning('id')
        .executeTakeFirst();
      if (!link) throw new LinkedConcurrently();
    }
    const user = await trx.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirstOrThrow();
    const changes: Partial<User> = { last_login_at: now };
    if (identity.email) changes.email = identity.email;
    const { user: updated, warnings } = await applyGroupRoles(trx, user, identity, mappings, now, { extra: changes });
    return { user: updated, created, warnings };
  });
}

/**
 * Makes a user's group-derived grants those of the groups a provider reports now: admin and
 * repository roles from groupRoles (roles granted by hand are kept). At each sign-in through the
 * provider; a re-check of a directory account (src/auth/sso/recheck.ts) passes `grant: false`, so
 * it only takes away (grants come with a sign-in through the provider, not with a local one).
 */
export async function applyGroupRoles(
  trx: Kysely<Database>,
  user: User,
  identity: Pick<ExternalIdentity, 'provider' | 'groups'>,
  mappings: readonly GroupRoleMapping[],
  now: number,
  opts: { grant?: boolean; extra?: Partial<User> } = {},
): Promise<{ user: User; warnings: string[] }> {
  const grant = opts.grant ?? true;
  const warnings: string[] = [];
  const userId = user.id;
  const matched = mappings.filter(
    (m) => identity.groups.includes(m.group) && (m.provider === undefined || m.provider === identity.provider),
  );
  const adminByGroups = matched.some((m) => m.admin === true);
  const changes: Partial<User> = { ...opts.extra, updated_at: now };
  if (grant && adminByGroups && user.admin === 0) Object.assign(changes, { admin: 1, admin_from_groups: 1 });
  if (!adminByGroups && user.admin_from_groups === 1) Object.assign(changes, { admin: 0, admin_from_groups: 0 });
  const updated = await trx.updateTable('users').set(changes).where('id', '=', userId).returningAll().executeTakeFirstOrThrow();

  const wanted = new Map<number, Role>();
  for (const m of matched) {
    if (m.repo === undefined || m.role === undefined) continue;
    const repo = await trx.selectFrom('repos').select('id').where('name', '=', m.repo).executeTakeFirst();
    if (!repo) {
      warnings.push(`groupRoles: group ${m.group} names repository "${m.repo}", which does not exist`);
      continue;
    }
    const current = wanted.get(repo.id) ?? null;
    if (!roleAtLeast(current, m.role)) wanted.set(repo.id, m.role);
  }
  const existing = await trx.selectFrom('memberships').select(['repo_id', 'source', 'role']).where('user_id', '=', userId).execute();
  for (const e of existing) {
    if (e.source === 'groups' && !wanted.has(e.repo_id))
      await trx.deleteFrom('memberships').where('user_id', '=', userId).where('repo_id', '=', e.repo_id).execute();
  }
  for (const [repoId, role] of wanted) {
    // A role granted by hand wins over the groups'.
    if (existing.some((e) => e.repo_id === repoId && e.source === 'manual')) continue;
    const held = existing.find((e) => e.repo_id === repoId && e.source === 'groups');
    if (!grant && (held === undefined || !roleAtLeast(held.role, role))) continue;
    await trx
      .insertInto('memberships')
      .values({ repo_id: repoId, user_id: userId, role, source: 'groups', created_at: now, updated_at: now })
      .onConflict((oc) => oc.columns(['repo_id', 'user_id']).doUpdateSet({ role, updated_at: now }))
      .execute();
  }
  return { user: updated, warnings };
}

/**
 * Takes away what a provider's groups granted (admin, repository roles): a local password proves
 * nothing about the groups, so a local sign-in does not keep them. The next sign-in through the
 * provider (or a re-check of a directory account) grants them again if the groups still say so.
 */
export async function dropGroupGrants(db: Kysely<Database>, user: Pick<User, 'id' | 'admin_from_groups'>, now: number): Promise<void> {
  if (user.admin_from_groups === 1)
    await db.updateTable('users').set({ admin: 0, admin_from_groups: 0, updated_at: now }).where('id', '=', user.id).execute();
  await db.deleteFrom('memberships').where('user_id', '=', user.id).where('source', '=', 'groups').execute();
}
