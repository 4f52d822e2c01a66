// How a directory disable reaches sessions and tokens. A session or token proves only that the
// directory vouched for its account once; so, when a user with an LDAP identity uses one, and the
// directory last vouched for them more than ldap.recheckSeconds ago, the entry is read again (as
// the service account, no password needed). Gone or no longer matched by ldap.userFilter: the
// identity is marked disabled, the user's sessions and tokens are deleted and their group-derived
// roles dropped, and the request is refused; a local password no longer signs them in either. Still
// there: a group the entry left takes its roles along (none are granted here: that takes a sign-in).
// Until the next LDAP sign-in clears the mark. docs/operations.md, "When a directory disables an account".
import type { Store } from '../../store/index.js';
import { deleteSessionsOf } from '../sessions.js';
import { applyGroupRoles, dropGroupGrants, type GroupRoleMapping } from '../users.js';
import type { LdapConfig } from './config.js';
import { ldapAccountStatus } from './ldap.js';
import { SsoError, type SsoLog } from './types.js';

export interface DirectoryRecheck {
  config: LdapConfig;
  mappings: readonly GroupRoleMapping[];
  now: number;
  log: SsoLog;
}

/**
 * Whether a user may go on, re-checking their LDAP entry when it is due. One replica checks: the
 * update of checked_at claims the check, and the others go on meanwhile. A directory that cannot
 * answer leaves the account as it was (it is checked again after the interval): a directory outage
 * must not sign everyone out.
 */
export async function recheckDirectoryAccount(store: Store, userId: number, input: DirectoryRecheck): Promise<'ok' | 'disabled'> {
  const { db } = store;
  const identity = await db
    .selectFrom('identities')
    .select(['id', 'subject', 'checked_at', 'disabled_at'])
    .where('user_id', '=', userId)
    .where('provider', '=', 'ldap')
    .executeTakeFirst();
  if (!identity) return 'ok';
  if (identity.disabled_at !== null) return 'disabled';
  const due = input.now - input.config.recheckSeconds * 1000;
  if (identity.checked_at !== null && identity.checked_at > due) return 'ok';
  const claim = db.updateTable('identities').set({ checked_at: input.now }).where('id', '=', identity.id);
  const claimed = await (
    identity.checked_at === null ? claim.where('checked_at', 'is', null) : claim.where('checked_at', '=', identity.checked_at)
  ).executeTakeFirst();
  if (Number(claimed.numUpdatedRows) === 0) return 'ok';

  let status;
  try {
    status = await ldapAccountStatus(input.config, identity.subject, { log: input.log });
  } catch (err) {
    if (err instanceof SsoError) return 'ok';
    throw err;
  }
  if (status.kind === 'active') {
    const { identity: current } = status;
    await store.transaction(async (trx) => {
      const user = await trx.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirstOrThrow();
      await applyGroupRoles(trx, user, current, input.mappings, input.now, { grant: false });
    });
    return 'ok';
  }
  input.log(`LDAP re-check: ${status.detail}: the account's sessions and tokens are revoked`);
  await store.transaction(async (trx) => {
    await trx.updateTable('identities').set({ disabled_at: input.now }).where('id', '=', identity.id).execute();
    await deleteSessionsOf(trx, userId);
    await trx.deleteFrom('tokens').where('user_id', '=', userId).execute();
    const user = await trx.selectFrom('users').select(['id', 'admin_from_groups']).where('id', '=', userId).executeTakeFirstOrThrow();
    await dropGroupGrants(trx, user, input.now);
  });
  return 'disabled';
}
