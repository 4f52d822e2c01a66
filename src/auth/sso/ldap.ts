// LDAP login: find the user's entry with the service account, prove the password by binding as that
// entry, then read the groups that name the user as a member. Typed names are escaped before they go
// into a filter, so `*)(uid=*` is a name that matches nobody, not a filter that matches everybody.
import { readFile } from 'node:fs/promises';
import type { ConnectionOptions } from 'node:tls';
import type { Client, Entry } from 'ldapts';
import { lazyRequire } from '../../lazy-require.js';
import type { LdapConfig } from './config.js';
import { SsoError, type ExternalIdentity, type SsoLog } from './types.js';

/** The one answer for unknown users and wrong passwords: the login page must not tell which it was. */
export const INVALID_CREDENTIALS = 'invalid username or password';
const NOT_AVAILABLE = 'LDAP login is not available at the moment: the server log says why';
// Loaded by the first LDAP login: every command imports src/auth, few log anyone in.
const ldapts = lazyRequire<typeof import('ldapts')>('ldapts');

export interface LdapLoginOptions {
  /** Receives why a login failed (which account, which step); the thrown error says less. */
  log?: SsoLog;
  /**
   * Called with the entry's stable id (entryUUID, else DN) once the typed name has found one, before
   * its password is tried: the caller's lockout counts failures per entry, and may refuse here.
   */
  resolved?: (entry: string) => Promise<void>;
}

/** Replaces each `{name}` in an operator's filter template with the value escaped per RFC 4515. */
export function fillFilter(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in values ? ldapts().Filter.escape(values[name]) : whole));
}

type Failure = (kind: 'unavailable' | 'config', detail: string, cause?: unknown) => SsoError;

/** A connection bound as the service account, for `use`; closed afterwards. */
async function withServiceBind<T>(config: LdapConfig, fail: Failure, use: (client: Client) => Promise<T>): Promise<T> {
  const tlsOptions = await tlsOptionsFor(config).catch((err: Error) => {
    throw fail('config', err.message, err);
  });
  const timeout = config.timeoutSeconds * 1000;
  // ldapts speaks TLS from the first byte whenever it is given TLS options: only for ldaps://.
  const client = new (ldapts().Client)({
    url: config.url,
    timeout,
    connectTimeout: timeout,
    tlsOptions: config.url.startsWith('ldaps:') ? tlsOptions : undefined,
  });
  try {
    try {
      if (config.startTls) await client.startTLS(tlsOptions);
      await client.bind(config.bindDn, config.bindPassword);
    } catch (err) {
      if (err instanceof ldapts().InvalidCredentialsError)
        throw fail('config', `the service bind as ${config.bindDn} was refused: check ldap.bindDn and ldap.bindPassword`, err);
      throw fail('unavailable', `cannot reach ${config.url}${config.startTls ? ' with StartTLS' : ''}: ${describe(err)}`, err);
    }
    return await use(client);
  } finally {
    await client.unbind().catch(() => {
      // The connection may already be gone; nothing is left to release.
    });
  }
}

const USER_ATTRIBUTES = (config: LdapConfig) => [config.usernameAttribute, config.emailAttribute, config.nameAttribute, 'entryUUID'];

/** The entries of ldap.userFilter for a name (at most two: two are enough to know it is ambiguous). */
async function usersNamed(client: Client, config: LdapConfig, username: string, fail: Failure): Promise<Entry | null> {
  const filter = fillFilter(config.userFilter, { username });
  const ambiguous = `more than one entry under ${config.userBase} matches ${filter}: ldap.userFilter must pick one entry`;
  let entries: Entry[];
  try {
    ({ searchEntries: entries } = await client.search(config.userBase, {
      scope: 'sub',
      filter,
      attributes: USER_ATTRIBUTES(config),
      sizeLimit: 2,
    }));
  } catch (err) {
    if (err instanceof ldapts().SizeLimitExceededError) throw fail('config', ambiguous, err);
    throw fail('unavailable', `searching ${config.userBase} for ${filter} failed: ${describe(err)}`, err);
  }
  if (entries.length > 1) throw fail('config', ambiguous);
  return entries[0] ?? null;
}

/** The identity of an entry with its groups (read as the service account: users often may not read the groups they are in). */
async function identityOf(client: Client, config: LdapConfig, entry: Entry, fail: Failure): Promise<ExternalIdentity> {
  const directoryName = attribute(entry, config.usernameAttribute);
  if (directoryName === null) throw fail('config', `${entry.dn} has no ${config.usernameAttribute} (ldap.usernameAttribute)`);
  const identity: ExternalIdentity = {
    provider: 'ldap',
    // entryUUID survives a rename (modrdn); the DN does not.
    subject: entrySubject(entry),
    username: directoryName,
    email: attribute(entry, config.emailAttribute),
    name: attribute(entry, config.nameAttribute),
    groups: [],
  };
  if (config.groupBase) {
    try {
      await client.bind(config.bindDn, config.bindPassword);
      const groupFilter = fillFilter(config.groupFilter ?? `(${config.memberAttribute}={dn})`, {
        dn: entry.dn,
        username: identity.username,
      });
      const { searchEntries } = await client.search(config.groupBase, {
        scope: 'sub',
        filter: groupFilter,
        attributes: [config.groupNameAttribute],
      });
      const names = searchEntries
        .map((group) => attribute(group, config.groupNameAttribute))
        .filter((name): name is string => name !== null);
      identity.groups = [...new Set(names)].sort();
    } catch (err) {
      throw fail('unavailable', `looking up the groups of ${entry.dn} under ${config.groupBase} failed: ${describe(err)}`, err);
    }
  }
  return identity;
}

const entrySubject = (entry: Entry): string => attribute(entry, 'entryUUID') ?? entry.dn;

export async function ldapLogin(
  config: LdapConfig,
  username: string,
  password: string,
  options: LdapLoginOptions = {},
): Promise<ExternalIdentity> {
  // Both log the detail and return the error to throw, so every exit is a visible `throw`.
  const refuse = (detail: string): SsoError => {
    options.log?.(`LDAP login of ${JSON.stringify(username)} refused: ${detail}`);
    return new SsoError('credentials', INVALID_CREDENTIALS, detail);
  };
  const fail: Failure = (kind, detail, cause) => {
    options.log?.(`LDAP login of ${JSON.stringify(username)} failed: ${detail}`);
    return new SsoError(kind, NOT_AVAILABLE, detail, { cause });
  };

  // An empty password makes a simple bind "unauthenticated" (RFC 4513 5.1.2): servers answer success.
  if (username.trim() === '' || password === '') throw refuse('empty username or password');

  return withServiceBind(config, fail, async (client) => {
    const entry = await usersNamed(client, config, username, fail);
    if (entry === null) throw refuse(`no entry under ${config.userBase} matches ${fillFilter(config.userFilter, { username })}`);
    await options.resolved?.(entrySubject(entry));
    try {
      await client.bind(entry.dn, password);
    } catch (err) {
      if (err instanceof ldapts().InvalidCredentialsError) throw refuse(`wrong password for ${entry.dn}`);
      throw fail('unavailable', `binding as ${entry.dn} failed: ${describe(err)}`, err);
    }
    return identityOf(client, config, entry, fail);
  });
}

/** What the directory says now about an account that signed in before. */
export type LdapAccountStatus = { kind: 'active'; identity: ExternalIdentity } | { kind: 'disabled'; detail: string };

/**
 * Re-reads the entry of an identity (its entryUUID, or its DN) as the service account: `disabled`
 * when it is gone, or when it no longer is the entry ldap.userFilter finds for its name (an entry
 * moved out of ldap.userBase, or excluded by the filter, e.g. `(!(pwdAccountLockedTime=*))`);
 * else its identity with today's groups. Throws an SsoError when the directory cannot answer.
 */
export async function ldapAccountStatus(config: LdapConfig, subject: string, options: { log?: SsoLog } = {}): Promise<LdapAccountStatus> {
  const fail: Failure = (kind, detail, cause) => {
    options.log?.(`LDAP re-check of ${subject} failed: ${detail}`);
    return new SsoError(kind, NOT_AVAILABLE, detail, { cause });
  };
  return withServiceBind(config, fail, async (client) => {
    let entry: Entry | undefined;
    try {
      // An entryUUID has no "=", a DN always has one.
      const byDn = subject.includes('=');
      const base = byDn ? subject : config.userBase;
      const filter = byDn ? '(objectClass=*)' : `(entryUUID=${ldapts().Filter.escape(subject)})`;
      ({
        searchEntries: [entry],
      } = await client.search(base, { scope: byDn ? 'base' : 'sub', filter, attributes: USER_ATTRIBUTES(config), sizeLimit: 1 }));
    } catch (err) {
      if (err instanceof ldapts().NoSuchObjectError) return { kind: 'disabled', detail: `${subject} no longer exists` };
      throw fail('unavailable', `reading ${subject} failed: ${describe(err)}`, err);
    }
    if (entry === undefined) return { kind: 'disabled', detail: `no entry under ${config.userBase} has entryUUID ${subject}` };
    const name = attribute(entry, config.usernameAttribute);
    const current = name === null ? null : await usersNamed(client, config, name, fail);
    if (current === null || current.dn.toLowerCase() !== entry.dn.toLowerCase()) {
      return { kind: 'disabled', detail: `${entry.dn} no longer matches ldap.userFilter under ${config.userBase}` };
    }
    return { kind: 'active', identity: await identityOf(client, config, entry, fail) };
  });
}

async function tlsOptionsFor(config: LdapConfig): Promise<ConnectionOptions> {
  // StartTLS upgrades a socket that carries no host name: without `host`, Node checks the certificate
  // against "localhost".
  const host = new URL(config.url).hostname.replace(/^\[(.*)\]$/, '$1');
  if (!config.tlsCaFile) return { host };
  try {
    return { host, ca: await readFile(config.tlsCaFile, 'utf8') };
  } catch (err) {
    throw new Error(`ldap.tlsCaFile ${config.tlsCaFile} cannot be read: ${describe(err)}`, { cause: err });
  }
}

/** The first value of an attribute; servers may spell its name in another case than the configuration. */
function attribute(entry: Entry, name: string): string | null {
  const key = Object.keys(entry).find((k) => k.toLowerCase() === name.toLowerCase());
  const value = key === undefined ? undefined : entry[key];
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined) return null;
  const text = Buffer.isBuffer(first) ? first.toString('utf8') : first;
  return text === '' ? null : text;
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(String(code)) ? `${code} ${err.message}` : err.message;
  }
  return String(err);
}
