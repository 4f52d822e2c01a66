// Attacks on sign-in with an LDAP directory (issue 14, items 25, 26 and 27), against a real Tandem
// server and a real slapd:
// - guessing past the lockout by spelling one name many ways (" bob", "bob ", fullwidth "ｂｏｂ",
//   or another name the directory resolves to the same entry): every spelling shares one counter;
// - the same against local passwords;
// - locking a directory user out by failing on the local form: the directory's counter is apart;
// - the device page offers the directory's sign-in, so directory users need not use the local form;
// - an account a provider vouches for setting itself a local password with nothing but its session,
//   and keeping its group-derived admin through a local sign-in;
// - an account disabled in the directory keeping its sessions and tokens: re-checked at use.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Attribute, Change, Client } from 'ldapts';
import { AuthServer, call, type Reply, type Session } from '../auth/helpers.js';
import { Browser, type Visit } from '../auth/sso-browser.js';
import { BASE_DN, slapdSkipReason, sshaPassword, startSlapd, type SlapdServer } from '../support/slapd.js';

const SERVICE_DN = `cn=tandem,ou=services,${BASE_DN}`;
const SERVICE_PASSWORD = 'service-secret-77aa';
const PEOPLE = `ou=people,${BASE_DN}`;
const GROUPS = `ou=groups,${BASE_DN}`;
const LOCAL_PASSWORD = 'local-secret-of-f-71';
const SET_BY_ADMIN = 'set-by-the-admin-9c';

function person(uid: string): string {
  return `dn: uid=${uid},${PEOPLE}\nobjectClass: inetOrgPerson\nuid: ${uid}\ncn: ${uid}\nsn: ${uid}\nmail: ${uid}@example.com\nuserPassword: ${sshaPassword(`${uid}-directory-pw`)}\n`;
}

const ENTRIES = [
  `dn: ou=services,${BASE_DN}\nobjectClass: organizationalUnit\nou: services\n`,
  `dn: ${SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: tandem\nuserPassword: ${sshaPassword(SERVICE_PASSWORD)}\n`,
  `dn: ${PEOPLE}\nobjectClass: organizationalUnit\nou: people\n`,
  `dn: ${GROUPS}\nobjectClass: organizationalUnit\nou: groups\n`,
  ...['bob', 'carol', 'dave', 'erin', 'gina', 'hank'].map(person),
  `dn: cn=ci-admins,${GROUPS}\nobjectClass: groupOfNames\ncn: ci-admins\nmember: uid=carol,${PEOPLE}\nmember: uid=hank,${PEOPLE}\n`,
].join('\n');

type SignIn = { user: { username: string; admin: boolean }; csrfToken: string; message?: string };

function field(page: Visit, name: string): string {
  const found = new RegExp(`<input[^>]* name="${name}"[^>]* value="([^"]*)"`).exec(page.text);
  return found ? found[1] : assert.fail(`no field ${name} in the page: ${page.text}`);
}

describe('sign-in attacks with an LDAP directory', { skip: slapdSkipReason() }, () => {
  let slapd: SlapdServer;
  let tandem: AuthServer;

  before(async () => {
    slapd = await startSlapd({ entries: ENTRIES });
    tandem = await AuthServer.start({
      // A user may give their uid or their mail: two names of one entry.
      ldap: {
        url: slapd.url,
        bindDn: SERVICE_DN,
        bindPassword: SERVICE_PASSWORD,
        userBase: PEOPLE,
        groupBase: GROUPS,
        userFilter: '(|(uid={username})(mail={username}))',
        recheckSeconds: 1,
      },
      groupRoles: [{ group: 'ci-admins', provider: 'ldap', admin: true }],
      trustedProxies: '127.0.0.1',
      loginMaxFailures: 3,
      loginLockoutSeconds: 60,
    });
    await tandem.user('frank', { password: LOCAL_PASSWORD });
  });
  after(async () => {
    await tandem?.close();
    await slapd?.stop();
  });

  const ldapSignIn = (username: string, password: string, from: string): Promise<Reply<SignIn>> =>
    call<SignIn>(tandem.url, 'POST', '/api/v1/login/ldap', {
      as: null,
      body: { username, password },
      headers: { 'x-forwarded-for': from },
    });
  const localSignIn = (username: string, password: string, from: string): Promise<Reply<SignIn>> =>
    call<SignIn>(tandem.url, 'POST', '/api/v1/session', { as: null, body: { username, password }, headers: { 'x-forwarded-for': from } });
  const sessionOf = (res: Reply<SignIn>): Session => ({
    cookie: (res.headers.get('set-cookie') ?? '').split(';')[0],
    csrf: res.body.csrfToken,
  });

  test('directory: " bob", "bob " and fullwidth "ｂｏｂ" are one account with one failure counter; the lockout holds for "bob"', async () => {
    for (const [i, spelling] of [' bob', 'bob ', 'ｂｏｂ'].entries())
      assert.equal((await ldapSignIn(spelling, `guess-${i}`, `192.0.2.${10 + i}`)).status, 401);
    const locked = await ldapSignIn('bob', 'bob-directory-pw', '192.0.2.13');
    assert.equal(locked.status, 429, locked.text);
    assert.match(locked.body.message ?? '', /too many failed sign-ins for account bob/);
  });

  test("directory: two names of one entry (uid and mail) share the entry's counter", async () => {
    assert.equal((await ldapSignIn('dave', 'guess-a', '192.0.2.20')).status, 401);
    assert.equal((await ldapSignIn('dave', 'guess-b', '192.0.2.21')).status, 401);
    assert.equal((await ldapSignIn('dave@example.com', 'guess-c', '192.0.2.22')).status, 401);
    const locked = await ldapSignIn('dave', 'dave-directory-pw', '192.0.2.23');
    assert.equal(locked.status, 429, locked.text);
    assert.match(locked.body.message ?? '', /too many failed sign-ins for account dave/);
  });

  test('local: "FRANK", " frank" and fullwidth "ｆｒａｎｋ" share the counter of frank', async () => {
    for (const [i, spelling] of ['FRANK', ' frank', 'ｆｒａｎｋ'].entries())
      assert.equal((await localSignIn(spelling, `guess-${i}`, `192.0.2.${30 + i}`)).status, 401);
    const locked = await localSignIn('frank', LOCAL_PASSWORD, '192.0.2.33');
    assert.equal(locked.status, 429, locked.text);
  });

  test("the local form's failures for a directory user do not lock them out of the directory", async () => {
    for (let i = 0; i < 4; i++)
      assert.equal((await localSignIn('erin', `erin-directory-pw`, `192.0.2.${40 + i}`)).status, i < 3 ? 401 : 429);
    const res = await ldapSignIn('erin', 'erin-directory-pw', '192.0.2.44');
    assert.equal(res.status, 201, res.text);
  });

  test('the device page offers the directory sign-in, which signs in and returns to the device page', async () => {
    const browser = new Browser();
    const page = await browser.visit(`${tandem.url}/login/device`);
    assert.equal(page.status, 200, page.text);
    assert.match(page.text, /<option value="ldap" selected>Directory \(LDAP\)<\/option>/);
    const posted = await browser.visit(
      `${tandem.url}/login`,
      new URLSearchParams({
        form_token: field(page, 'form_token'),
        return: '/login/device',
        username: 'gina',
        password: 'gina-directory-pw',
        provider: 'ldap',
      }),
    );
    assert.equal(posted.status, 303, posted.text);
    assert.equal(posted.location, `${tandem.url}/login/device`);
    const me = await call<{ user: { username: string } }>(tandem.url, 'GET', '/api/v1/session', {
      as: { session: await browser.session(tandem.url) },
    });
    assert.equal(me.body.user.username, 'gina');
  });

  test("an account of the directory cannot set itself a local password; one set by an admin signs in without the groups' admin", async () => {
    const ldap = await ldapSignIn('carol', 'carol-directory-pw', '192.0.2.50');
    assert.equal(ldap.status, 201, ldap.text);
    assert.equal(ldap.body.user.admin, true, 'admin through the ci-admins group');
    const selfSet = await call(tandem.url, 'PUT', '/api/v1/users/carol/password', {
      as: { session: sessionOf(ldap) },
      body: { password: 'self-chosen-local-pw-1' },
    });
    assert.equal(selfSet.status, 403, selfSet.text);
    assert.match(selfSet.text, /signs in through an identity provider and has no local password/);
    assert.equal((await localSignIn('carol', 'self-chosen-local-pw-1', '192.0.2.51')).status, 401);

    assert.equal((await tandem.api('PUT', '/api/v1/users/carol/password', { body: { password: SET_BY_ADMIN } })).status, 204);
    const local = await localSignIn('carol', SET_BY_ADMIN, '192.0.2.52');
    assert.equal(local.status, 201, local.text);
    assert.equal(local.body.user.admin, false, 'a local password proves nothing about the directory groups');
    const admin = await call(tandem.url, 'GET', '/api/v1/audit', { as: { session: sessionOf(local) } });
    assert.equal(admin.status, 403, admin.text);
    // The re-check at use finds the entry and its groups, and grants nothing back: that takes a directory sign-in.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const me = await call<{ user: { admin: boolean } }>(tandem.url, 'GET', '/api/v1/session', { as: { session: sessionOf(local) } });
    assert.deepEqual([me.status, me.body.user.admin], [200, false]);
  });

  test('a group left in the directory takes its admin away at the next use after ldap.recheckSeconds', async () => {
    const ldap = await ldapSignIn('hank', 'hank-directory-pw', '192.0.2.55');
    assert.equal(ldap.body.user.admin, true);
    const directory = new Client({ url: slapd.url });
    await directory.bind(slapd.adminDn, slapd.adminPassword);
    await directory.modify(
      `cn=ci-admins,${GROUPS}`,
      new Change({ operation: 'delete', modification: new Attribute({ type: 'member', values: [`uid=hank,${PEOPLE}`] }) }),
    );
    await directory.unbind();
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const me = await call<{ user: { admin: boolean } }>(tandem.url, 'GET', '/api/v1/session', { as: { session: sessionOf(ldap) } });
    assert.deepEqual([me.status, me.body.user.admin], [200, false]);
  });

  test("disabled in the directory: the account's sessions and tokens stop working at the next use after ldap.recheckSeconds, and its local password too", async () => {
    const ldap = await ldapSignIn('carol', 'carol-directory-pw', '192.0.2.60');
    assert.equal(ldap.status, 201, ldap.text);
    const session = sessionOf(ldap);
    const created = await call<{ token: string }>(tandem.url, 'POST', '/api/v1/tokens', {
      as: { session },
      body: { name: 'carol laptop' },
    });
    assert.equal(created.status, 201, created.text);
    const token = created.body.token;
    await new Promise((resolve) => setTimeout(resolve, 1100));
    // Re-checked while the entry is there: still signed in.
    assert.equal((await call(tandem.url, 'GET', '/api/v1/session', { as: { session } })).status, 200);

    const directory = new Client({ url: slapd.url });
    await directory.bind(slapd.adminDn, slapd.adminPassword);
    await directory.del(`uid=carol,${PEOPLE}`);
    await directory.unbind();
    await new Promise((resolve) => setTimeout(resolve, 1100));

    const bySession = await call(tandem.url, 'GET', '/api/v1/session', { as: { session } });
    assert.equal(bySession.status, 401, bySession.text);
    assert.match(bySession.text, /directory account is disabled or gone/);
    assert.equal((await call(tandem.url, 'GET', '/api/v1/session', { as: { token } })).status, 401);
    assert.equal(
      (await localSignIn('carol', SET_BY_ADMIN, '192.0.2.61')).status,
      401,
      'the local password of a disabled directory account signs in no more',
    );
    const db = tandem.server.ctx.store.db;
    const carol = await db.selectFrom('users').select(['id', 'admin']).where('username', '=', 'carol').executeTakeFirstOrThrow();
    assert.equal(carol.admin, 0);
    assert.equal((await db.selectFrom('sessions').select('id').where('user_id', '=', carol.id).execute()).length, 0);
    assert.equal((await db.selectFrom('tokens').select('id').where('user_id', '=', carol.id).execute()).length, 0);
  });
});
