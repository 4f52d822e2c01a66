// Signing in to a real Tandem server with an LDAP directory (a real slapd): the same answers as a
// local password sign-in, the same lockout rules (the directory password counted apart from a local one), roles from the
// directory's groups, and `tandem login --ldap`.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, cleanEnv, type CliResult } from '../cli/helpers.js';
import { Browser } from './sso-browser.js';
import { BASE_DN, slapdSkipReason, sshaPassword, startSlapd, type SlapdServer } from '../support/slapd.js';
import { AuthServer, call, type Reply } from './helpers.js';

const SERVICE_DN = `cn=tandem,ou=services,${BASE_DN}`;
const SERVICE_PASSWORD = 'service-secret-4c1e';
const PEOPLE = `ou=people,${BASE_DN}`;
const GROUPS = `ou=groups,${BASE_DN}`;

function person(uid: string, password: string, mail?: string): string {
  return `dn: uid=${uid},${PEOPLE}\nobjectClass: inetOrgPerson\nuid: ${uid}\ncn: ${uid}\nsn: ${uid}\n${mail ? `mail: ${mail}\n` : ''}userPassword: ${sshaPassword(password)}\n`;
}

const ENTRIES = [
  `dn: ou=services,${BASE_DN}\nobjectClass: organizationalUnit\nou: services\n`,
  `dn: ${SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: tandem\nuserPassword: ${sshaPassword(SERVICE_PASSWORD)}\n`,
  `dn: ${PEOPLE}\nobjectClass: organizationalUnit\nou: people\n`,
  `dn: ${GROUPS}\nobjectClass: organizationalUnit\nou: groups\n`,
  person('alice', 'alice-directory-pw', 'alice@example.com'),
  person('bob', 'bob-directory-pw'),
  person('erin', 'erin-directory-pw'),
  `dn: cn=developers,${GROUPS}\nobjectClass: groupOfNames\ncn: developers\nmember: uid=alice,${PEOPLE}\nmember: uid=erin,${PEOPLE}\n`,
].join('\n');

type SignIn = { user: { username: string; email: string | null; hasPassword: boolean }; csrfToken: string; message?: string };
type AuditView = { actor: string; route: string; status: number; details: Record<string, unknown> | null };

describe('LDAP sign-in through a Tandem server', { skip: slapdSkipReason() }, () => {
  let slapd: SlapdServer;
  let tandem: AuthServer;
  let dir: string;

  before(async () => {
    slapd = await startSlapd({ entries: ENTRIES });
    dir = await mkdtemp(path.join(tmpdir(), 'tandem-ldap-signin-'));
    const passwordFile = path.join(dir, 'bind-password');
    await writeFile(passwordFile, SERVICE_PASSWORD, { mode: 0o600 });
    tandem = await AuthServer.start({
      ldap: { url: slapd.url, bindDn: SERVICE_DN, bindPasswordFile: passwordFile, userBase: PEOPLE, groupBase: GROUPS },
      groupRoles: [{ group: 'developers', provider: 'ldap', repo: 'web', role: 'developer' }],
      // Addresses come from X-Forwarded-For (the loopback "proxy" is trusted): one test can be many clients.
      trustedProxies: '127.0.0.1',
      loginMaxFailures: 3,
      loginLockoutSeconds: 1,
    });
    await tandem.repo('web');
  });
  after(async () => {
    await tandem?.close();
    await slapd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function ldapSignIn(username: string, password: string, from = '192.0.2.1'): Promise<Reply<SignIn>> {
    return call<SignIn>(tandem.url, 'POST', '/api/v1/login/ldap', {
      as: null,
      body: { username, password },
      headers: { 'x-forwarded-for': from },
    });
  }

  test('the providers list shows LDAP', async () => {
    assert.deepEqual((await call(tandem.url, 'GET', '/api/v1/login/providers')).body, {
      local: true,
      oidc: false,
      ldap: true,
      saml: false,
    });
  });

  test("the directory's password signs in: a session as a password sign-in gives, an account, roles from the groups", async () => {
    const res = await ldapSignIn('alice', 'alice-directory-pw');
    assert.equal(res.status, 201, res.text);
    assert.deepEqual([res.body.user.username, res.body.user.email, res.body.user.hasPassword], ['alice', 'alice@example.com', false]);
    const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0];
    assert.match(cookie, /^tandem_session=/);
    const session = { cookie, csrf: res.body.csrfToken };
    const me = await call<{ user: { username: string }; via: string }>(tandem.url, 'GET', '/api/v1/session', { as: { session } });
    assert.deepEqual([me.status, me.body.user.username, me.body.via], [200, 'alice', 'session']);
    const members = await call<{ username: string; role: string; source: string }[]>(tandem.url, 'GET', '/api/v1/repos/web/members', {
      as: { session },
    });
    assert.equal(members.status, 200, members.text);
    const alice = members.body.find((m) => m.username === 'alice');
    assert.deepEqual([alice?.role, alice?.source], ['developer', 'groups']);

    const audit = await tandem.api<AuditView[]>('GET', '/api/v1/audit?action=session.create&actor=alice');
    assert.ok(
      audit.body.some((e) => e.route === '/api/v1/login/ldap' && e.status === 201 && e.details?.provider === 'ldap'),
      JSON.stringify(audit.body),
    );
  });

  test('a wrong password and an unknown user get the answer a local sign-in gives; the log tells them apart', async () => {
    const wrong = await ldapSignIn('bob', 'not-bobs', '192.0.2.2');
    const unknown = await ldapSignIn('mallory', 'whatever', '192.0.2.2');
    const local = await call<{ message: string }>(tandem.url, 'POST', '/api/v1/session', {
      as: null,
      body: { username: 'mallory', password: 'whatever' },
      headers: { 'x-forwarded-for': '192.0.2.2' },
    });
    for (const res of [wrong, unknown]) {
      assert.equal(res.status, 401, res.text);
      assert.deepEqual(res.body, local.body);
    }
    assert.match(tandem.logs(), /wrong password for uid=bob/);
    assert.match(tandem.logs(), /no entry under ou=people,dc=tandem,dc=test matches \(uid=mallory\)/);
    const refusals = await tandem.api<AuditView[]>('GET', '/api/v1/audit?action=session.create&actor=anonymous');
    assert.ok(
      refusals.body.some((e) => e.route === '/api/v1/login/ldap' && e.status === 401 && e.details?.username === 'bob'),
      JSON.stringify(refusals.body),
    );
  });

  test("repeated directory failures lock the account out from wherever, the local form's do not; the lockout ends", async () => {
    // Three wrong local passwords for erin (who has none): the local password's counter, not the directory's.
    for (const [i, from] of ['198.51.100.5', '198.51.100.6', '198.51.100.7'].entries()) {
      const local = await call(tandem.url, 'POST', '/api/v1/session', {
        as: null,
        body: { username: 'erin', password: `guess-local-${i}` },
        headers: { 'x-forwarded-for': from },
      });
      assert.equal(local.status, 401);
    }
    assert.equal(
      (await ldapSignIn('erin', 'erin-directory-pw', '198.51.100.8')).status,
      201,
      'the local form cannot lock a directory user out',
    );
    // Three failures of erin at the directory, from three addresses.
    assert.equal((await ldapSignIn('erin', 'guess-1', '198.51.100.1')).status, 401);
    assert.equal((await ldapSignIn('erin', 'guess-2', '198.51.100.2')).status, 401);
    assert.equal((await ldapSignIn('erin', 'guess-3', '198.51.100.3')).status, 401);
    // Locked: even the right password is refused before the directory is asked.
    const locked = await ldapSignIn('erin', 'erin-directory-pw', '198.51.100.4');
    assert.equal(locked.status, 429, locked.text);
    assert.match(locked.body.message ?? '', /too many failed sign-ins for account erin/);
    assert.ok(Number(locked.headers.get('retry-after')) >= 1);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const after = await ldapSignIn('erin', 'erin-directory-pw', '198.51.100.4');
    assert.equal(after.status, 201, after.text);
  });

  test('tandem login --ldap keeps a token of the directory user', async () => {
    const home = await mkdtemp(path.join(tmpdir(), 'tandem-ldap-cli-'));
    try {
      const env = cleanEnv({ TANDEM_SERVER: tandem.url, TANDEM_CONFIG_DIR: path.join(home, 'config') });
      const run = (args: string[], input = ''): Promise<CliResult> =>
        new Promise((resolve, reject) => {
          const child = spawn(process.execPath, [CLI, ...args], { cwd: home, env, stdio: ['pipe', 'pipe', 'pipe'] });
          let stdout = '';
          let stderr = '';
          child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
          child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          child.on('error', reject);
          child.on('close', (code) => resolve({ code, stdout, stderr }));
          child.stdin.end(input);
        });
      const login = await run(['login', '--ldap', '--username', 'alice', '--password-stdin'], 'alice-directory-pw\n');
      assert.equal(login.code, 0, login.stderr);
      assert.match(login.stdout, /Signed in to .* as alice/);
      const whoami = await run(['whoami']);
      assert.match(whoami.stdout, /^alice, by token/);
      const refused = await run(['login', '--ldap', '--username', 'alice', '--password-stdin'], 'wrong\n');
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /sign-in failed: 401 wrong username or password/);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  test('neither the bind password nor a typed password reaches the log', () => {
    const logs = tandem.logs();
    for (const secret of [SERVICE_PASSWORD, 'alice-directory-pw', 'not-bobs', 'guess-1'])
      assert.ok(!logs.includes(secret), `${secret} is in the log`);
  });

  test('a directory that cannot be reached is a 502, and not a failure of the account', async () => {
    await slapd.stop();
    const res = await ldapSignIn('bob', 'bob-directory-pw', '203.0.113.9');
    assert.equal(res.status, 502, res.text);
    assert.match(res.body.message ?? '', /LDAP login is not available/);
    assert.match(tandem.logs(), /cannot reach ldap:\/\/127\.0\.0\.1/);
    const counted = await tandem.server.ctx.store.db
      .selectFrom('login_failures')
      .select('failures')
      .where('key', '=', 'ldap:bob')
      .executeTakeFirst();
    assert.equal(counted?.failures, 1, 'only the wrong password of the earlier test counts');

    // The sign-in page's form says the same on the page, with the same status.
    const browser = new Browser();
    const page = await browser.visit(`${tandem.url}/login`);
    const formToken = /<input[^>]* name="form_token"[^>]* value="([^"]*)"/.exec(page.text)?.[1] ?? assert.fail(page.text);
    const form = new URLSearchParams({
      form_token: formToken,
      return: '/',
      provider: 'ldap',
      username: 'bob',
      password: 'bob-directory-pw',
    });
    const refused = await browser.visit(`${tandem.url}/login`, form);
    assert.equal(refused.status, 502, refused.text);
    assert.match(refused.text, /Not signed in: LDAP login is not available/);
  });
});
