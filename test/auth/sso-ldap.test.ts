// LDAP login against a real OpenLDAP slapd: users and groupOfNames groups, a service account that may
// search, anonymous clients that may only authenticate.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ldapConfigSchema, type LdapConfig } from '../../src/auth/sso/config.js';
import { INVALID_CREDENTIALS, fillFilter, ldapLogin } from '../../src/auth/sso/ldap.js';
import { SsoError } from '../../src/auth/sso/types.js';
import { freePort } from '../support/ports.js';
import { BASE_DN, slapdSkipReason, sshaPassword, startSlapd, type SlapdServer } from '../support/slapd.js';

const SERVICE_DN = `cn=tandem,ou=services,${BASE_DN}`;
const SERVICE_PASSWORD = 'service-secret';
const PEOPLE = `ou=people,${BASE_DN}`;
const GROUPS = `ou=groups,${BASE_DN}`;
// A real name may hold filter metacharacters: it must match itself, and nothing else.
const ODD_UID = 'r&d*(lab)';

function person(uid: string, cn: string, password: string, mail?: string): string {
  return `dn: uid=${uid},${PEOPLE}\nobjectClass: inetOrgPerson\nuid: ${uid}\ncn: ${cn}\nsn: ${cn.split(' ').pop()}\n${mail ? `mail: ${mail}\n` : ''}userPassword: ${sshaPassword(password)}\n`;
}

function group(cn: string, members: string[]): string {
  return `dn: cn=${cn},${GROUPS}\nobjectClass: groupOfNames\ncn: ${cn}\n${members.map((uid) => `member: uid=${uid},${PEOPLE}\n`).join('')}`;
}

const ENTRIES = [
  `dn: ou=services,${BASE_DN}\nobjectClass: organizationalUnit\nou: services\n`,
  `dn: ${SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: tandem\nuserPassword: ${sshaPassword(SERVICE_PASSWORD)}\n`,
  `dn: ${PEOPLE}\nobjectClass: organizationalUnit\nou: people\n`,
  `dn: ${GROUPS}\nobjectClass: organizationalUnit\nou: groups\n`,
  person('alice', 'Alice Liddell', 'alice-pw', 'alice@example.com'),
  person('bob', 'Bob Builder', 'bob-pw'),
  person(ODD_UID, 'Lab Account', 'lab-pw'),
  group('developers', ['alice', 'bob']),
  group('admins', ['alice']),
  group('lab', [ODD_UID]),
].join('\n');

const skip = slapdSkipReason();

describe('LDAP login against slapd', { skip }, () => {
  let slapd: SlapdServer;
  let config: LdapConfig;

  before(async () => {
    slapd = await startSlapd({ entries: ENTRIES, tls: true });
    config = ldapConfigSchema.parse({
      url: slapd.url,
      bindDn: SERVICE_DN,
      bindPassword: SERVICE_PASSWORD,
      userBase: PEOPLE,
      groupBase: GROUPS,
    });
  });
  after(async () => {
    await slapd?.stop();
  });

  /** The refusal ldapLogin throws, with what it logged. */
  async function refusal(cfg: LdapConfig, username: string, password: string): Promise<{ error: SsoError; logged: string[] }> {
    const logged: string[] = [];
    const error = await ldapLogin(cfg, username, password, { log: (detail) => logged.push(detail) }).then(
      () => assert.fail(`the login of ${username} was accepted`),
      (err: unknown) => err,
    );
    assert.ok(error instanceof SsoError, `expected an SsoError, got ${String(error)}`);
    return { error, logged };
  }

  test('a good password gives the identity with its groups', async () => {
    const identity = await ldapLogin(config, 'alice', 'alice-pw');
    assert.equal(identity.provider, 'ldap');
    assert.equal(identity.username, 'alice');
    assert.equal(identity.email, 'alice@example.com');
    assert.equal(identity.name, 'Alice Liddell');
    assert.deepEqual(identity.groups, ['admins', 'developers']);
    // entryUUID, which survives renames, not the DN.
    assert.match(identity.subject, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);

    const bob = await ldapLogin(config, 'bob', 'bob-pw');
    assert.deepEqual(bob.groups, ['developers']);
    assert.equal(bob.email, null);
    assert.notEqual(bob.subject, identity.subject);
  });

  test('the username is the directory spelling, whatever case was typed', async () => {
    const identity = await ldapLogin(config, 'ALICE', 'alice-pw');
    assert.equal(identity.username, 'alice');
  });

  test('a wrong password and an unknown user are refused alike; the log tells them apart', async () => {
    const wrong = await refusal(config, 'alice', 'not-her-password');
    const unknown = await refusal(config, 'mallory', 'alice-pw');
    for (const { error } of [wrong, unknown]) {
      assert.equal(error.reason, 'credentials');
      assert.equal(error.message, INVALID_CREDENTIALS);
    }
    assert.match(wrong.logged.join('\n'), /wrong password for uid=alice,ou=people/);
    assert.match(unknown.logged.join('\n'), /no entry under ou=people,dc=tandem,dc=test matches \(uid=mallory\)/);
  });

  test('an empty password is refused, not taken as an anonymous bind', async () => {
    const { error, logged } = await refusal(config, 'alice', '');
    assert.equal(error.message, INVALID_CREDENTIALS);
    assert.match(logged.join('\n'), /empty username or password/);
  });

  test('filter metacharacters in a username match no one', async () => {
    for (const attack of ['*)(uid=*', '*', 'alice)(|(uid=*', 'al*']) {
      const { error, logged } = await refusal(config, attack, 'alice-pw');
      assert.equal(error.message, INVALID_CREDENTIALS, attack);
      assert.match(logged.join('\n'), /no entry under/, attack);
    }
    assert.equal(fillFilter('(uid={username})', { username: '*)(uid=*' }), '(uid=\\2a\\29\\28uid=\\2a)');
  });

  test('a name with metacharacters logs in as itself, and its groups are found by its escaped DN', async () => {
    const identity = await ldapLogin(config, ODD_UID, 'lab-pw');
    assert.equal(identity.username, ODD_UID);
    assert.deepEqual(identity.groups, ['lab']);
  });

  test('without groupBase a user has no groups', async () => {
    const identity = await ldapLogin({ ...config, groupBase: undefined }, 'alice', 'alice-pw');
    assert.deepEqual(identity.groups, []);
  });

  test('a custom group filter with {username}', async () => {
    const identity = await ldapLogin(
      { ...config, groupFilter: '(&(cn=admins)(member=uid={username},ou=people,dc=tandem,dc=test))' },
      'alice',
      'alice-pw',
    );
    assert.deepEqual(identity.groups, ['admins']);
  });

  test('a wrong service password is a configuration error that does not blame the user', async () => {
    const { error, logged } = await refusal({ ...config, bindPassword: 'nope' }, 'alice', 'alice-pw');
    assert.equal(error.reason, 'config');
    assert.notEqual(error.message, INVALID_CREDENTIALS);
    assert.match(
      logged.join('\n'),
      /service bind as cn=tandem,ou=services,dc=tandem,dc=test was refused: check ldap\.bindDn and ldap\.bindPassword/,
    );
    assert.doesNotMatch(logged.join('\n') + error.message, /nope/);
  });

  test('a filter that matches several entries is refused as a configuration error', async () => {
    const { error, logged } = await refusal(
      { ...config, userFilter: '(|(uid={username})(objectClass=inetOrgPerson))' },
      'alice',
      'alice-pw',
    );
    assert.equal(error.reason, 'config');
    assert.match(logged.join('\n'), /more than one entry .* ldap\.userFilter must pick one entry/);
  });

  test('StartTLS and ldaps:// work with the server CA; without it the certificate is refused', async () => {
    const identity = await ldapLogin({ ...config, startTls: true, tlsCaFile: slapd.caFile ?? undefined }, 'alice', 'alice-pw');
    assert.equal(identity.username, 'alice');

    const { error, logged } = await refusal({ ...config, startTls: true }, 'alice', 'alice-pw');
    assert.equal(error.reason, 'unavailable');
    assert.match(logged.join('\n'), /with StartTLS: .*(self[- ]signed|certificate)/i);

    const overLdaps = await ldapLogin({ ...config, url: slapd.ldapsUrl ?? '', tlsCaFile: slapd.caFile ?? undefined }, 'bob', 'bob-pw');
    assert.deepEqual(overLdaps.groups, ['developers']);
    const untrusted = await refusal({ ...config, url: slapd.ldapsUrl ?? '' }, 'bob', 'bob-pw');
    assert.equal(untrusted.error.reason, 'unavailable');

    const missing = await refusal({ ...config, startTls: true, tlsCaFile: '/nonexistent/ca.pem' }, 'alice', 'alice-pw');
    assert.equal(missing.error.reason, 'config');
    assert.match(missing.error.detail, /ldap\.tlsCaFile \/nonexistent\/ca\.pem cannot be read/);
  });

  test('an unreachable server is reported as unavailable', async () => {
    const port = await freePort();
    const { error, logged } = await refusal({ ...config, url: `ldap://127.0.0.1:${port}`, timeoutSeconds: 2 }, 'alice', 'alice-pw');
    assert.equal(error.reason, 'unavailable');
    assert.match(logged.join('\n'), new RegExp(`cannot reach ldap://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
  });
});

test('ldap configuration errors name the key', () => {
  const base = { url: 'ldap://127.0.0.1', bindDn: 'cn=x', bindPassword: 'y', userBase: 'ou=people' };
  assert.throws(() => ldapConfigSchema.parse({ ...base, userFilter: '(uid=alice)' }), /must contain \{username\}/);
  assert.throws(() => ldapConfigSchema.parse({ ...base, url: 'http://127.0.0.1' }), /ldap:\/\/HOST/);
  assert.throws(() => ldapConfigSchema.parse({ ...base, url: 'ldaps://127.0.0.1', startTls: true }), /startTls is for ldap:\/\/ URLs/);
  assert.throws(() => ldapConfigSchema.parse({ ...base, tlsCaFile: '/etc/ca.pem' }), /tlsCaFile needs an ldaps:\/\/ URL or startTls: true/);
  assert.throws(() => ldapConfigSchema.parse({ ...base, userFiltre: '(uid={username})' }), /userFiltre/);
});
