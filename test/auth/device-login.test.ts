// `tandem login --device` and `--web` against a real server: the compiled CLI polls while the test,
// as the browser, signs in on the server's sign-in form and approves or denies the code on the
// device page (fetch with a cookie jar, no JavaScript involved). Then the API's rules one by one:
// one token per code, slow_down, the CSRF token of the approval form, the lockout of the form.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { formatUserCode, normalizeUserCode } from '../../src/auth/device-login.js';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { CLI, cleanEnv, type CliResult } from '../cli/helpers.js';
import { freePort } from '../support/ports.js';
import { postgresForFile, postgresSkipReason } from '../support/postgres.js';
import { AuthServer, call } from './helpers.js';
import { Browser, type Visit } from './sso-browser.js';

const PASSWORD = 'amber falcon harbour 4';

type AuditView = { actor: string; action: string; route: string; status: number; details: Record<string, unknown> | null };
type DeviceCode = {
  deviceCode: string;
  userCode: string;
  verificationUri: string;
  verificationUriComplete: string;
  expiresIn: number;
  interval: number;
};
type Poll = {
  error?: string;
  message?: string;
  interval?: number;
  token?: string;
  tokenId?: number;
  username?: string;
  expiresAt?: string | null;
};

/** The value of a hidden field (or any input) of a page's form. */
function field(page: Visit, name: string): string {
  const found = new RegExp(`<input[^>]* name="${name}"[^>]* value="([^"]*)"`).exec(page.text);
  return found ? found[1] : assert.fail(`no field ${name} in the page: ${page.text}`);
}

/** `tandem login ...` running in the background with its own config dir, its stderr watched for the code. */
class LoginProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  private readonly exited: Promise<CliResult>;

  constructor(
    server: string,
    readonly configDir: string,
    args: string[],
    env: Record<string, string> = {},
  ) {
    this.child = spawn(process.execPath, [CLI, 'login', ...args], {
      env: cleanEnv({ TANDEM_SERVER: server, TANDEM_CONFIG_DIR: configDir, ...env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 20_000);
      this.child.on('error', reject);
      this.child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout: this.stdout, stderr: this.stderr });
      });
    });
  }

  /** The user code the CLI printed. */
  async code(): Promise<string> {
    for (let waited = 0; waited < 10_000; waited += 25) {
      const found = /enter the code ([A-Z]{4}-[A-Z]{4})\n/.exec(this.stderr);
      if (found) return found[1];
      if (this.child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    return assert.fail(`the CLI printed no code: ${this.stderr}${this.stdout}`);
  }

  done(): Promise<CliResult> {
    return this.exited;
  }
}

describe('signing in a device through a browser', () => {
  let tandem: AuthServer;
  let home: string;
  const logins: LoginProcess[] = [];

  before(async () => {
    // OpenID Connect is configured (its provider is never reached here): the sign-in forms offer it.
    tandem = await AuthServer.start({
      oidc: { issuer: `http://127.0.0.1:${await freePort()}`, clientId: 'tandem', clientSecret: 'device-test-secret' },
    });
    home = await mkdtemp(path.join(tmpdir(), 'tandem-device-login-'));
    for (const name of ['dana', 'erin', 'frank', 'gus', 'hana']) await tandem.user(name, { password: PASSWORD });
  });
  after(async () => {
    for (const login of logins) if (login.child.exitCode === null) login.child.kill('SIGKILL');
    await tandem?.close();
    if (home) await rm(home, { recursive: true, force: true });
  });

  function startLogin(name: string, args: string[], env: Record<string, string> = {}): LoginProcess {
    const login = new LoginProcess(tandem.url, path.join(home, name), args, env);
    logins.push(login);
    return login;
  }

  /** A browser that went to the device page signed out, signed in on its form, and came back to the page. */
  async function signedIn(username: string, userCode: string, password = PASSWORD): Promise<{ browser: Browser; page: Visit }> {
    const browser = new Browser();
    const signInPage = await browser.visit(`${tandem.url}/login/device?code=${userCode}`);
    assert.equal(signInPage.status, 200, signInPage.text);
    // Back to the page of the code as typed, written as the device shows it.
    const returnTo = `/login/device?code=${formatUserCode(normalizeUserCode(userCode)!)}`;
    assert.equal(field(signInPage, 'return'), returnTo);
    const posted = await browser.visit(
      `${tandem.url}/login`,
      new URLSearchParams({ form_token: field(signInPage, 'form_token'), return: returnTo, username, password }),
    );
    assert.equal(posted.status, 303, posted.text);
    assert.equal(posted.location, tandem.url + returnTo);
    assert.ok(browser.cookies.has('tandem_session'));
    return { browser, page: await browser.visit(posted.location) };
  }

  /** Approves or denies on the device page's form, with the session's CSRF token from the page. */
  function decide(browser: Browser, page: Visit, decision: 'approve' | 'deny'): Promise<Visit> {
    return browser.visit(
      `${tandem.url}/login/device`,
      new URLSearchParams({ csrf_token: field(page, 'csrf_token'), code: field(page, 'code'), decision }),
    );
  }

  const startDevice = (name = 'a test device') => call<DeviceCode>(tandem.url, 'POST', '/api/v1/login/device', { body: { name } });
  const poll = (deviceCode: string) => call<Poll>(tandem.url, 'POST', '/api/v1/login/device/token', { body: { deviceCode } });

  describe('tandem login', { concurrency: true }, () => {
    test("--device: approved in a browser after signing in on the form; the saved token is the approver's", async () => {
      const login = startLogin('dana', ['--device', '--json']);
      const userCode = await login.code();
      assert.match(login.stderr, new RegExp(`open ${tandem.url}/login/device in a browser and enter the code ${userCode}`));
      assert.doesNotMatch(login.stderr, /Opening/, '--device opens nothing');

      const { browser, page } = await signedIn('dana', userCode);
      assert.equal(page.status, 200, page.text);
      assert.ok(page.text.includes(userCode));
      assert.ok(page.text.includes(`tandem CLI on ${hostname()}`), page.text);
      assert.match(page.text, /from address 127\.0\.0\.1/);
      assert.match(page.text, /scope api that expires in 90 days/);
      assert.equal(page.headers.get('cache-control'), 'no-store');
      assert.match(page.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
      const approved = await decide(browser, page, 'approve');
      assert.equal(approved.status, 200, approved.text);
      assert.match(approved.text, /Device approved/);

      const result = await login.done();
      assert.equal(result.code, 0, result.stderr);
      const printed = JSON.parse(result.stdout) as { server: string; username: string; tokenId: number; expiresAt: string };
      assert.equal(printed.username, 'dana');
      assert.equal(printed.server, tandem.url);
      assert.ok(Math.abs(Date.parse(printed.expiresAt) - Date.now() - 90 * 86_400_000) < 60_000, printed.expiresAt);
      const saved = JSON.parse(await readFile(path.join(login.configDir, 'credentials.json'), 'utf8')) as {
        servers: Record<string, { token: string; tokenId: number }>;
      };
      const me = await tandem.api<{ user: { username: string }; via: string; scopes: string[]; tokenId: number }>(
        'GET',
        '/api/v1/session',
        { as: { token: saved.servers[tandem.url].token } },
      );
      assert.equal(me.status, 200, me.text);
      assert.deepEqual([me.body.user.username, me.body.via, me.body.scopes, me.body.tokenId], ['dana', 'token', ['api'], printed.tokenId]);

      const audit = await tandem.api<AuditView[]>('GET', '/api/v1/audit?actor=dana');
      const actions = audit.body.map((e) => [e.action, e.route, e.details?.decision ?? null]);
      assert.deepEqual(actions, [
        ['device_login.token', '/api/v1/login/device/token', null],
        ['device_login.approve', '/login/device', 'approved'],
        ['session.create', '/login', null],
      ]);
    });

    test('--web: the page with the code is opened ($BROWSER); denied there, the CLI exits 1 saying so and saves nothing', async () => {
      const opened = path.join(home, 'opened-url');
      const browserCommand = path.join(home, 'browser.sh');
      await writeFile(browserCommand, `#!/bin/sh\nprintf '%s' "$1" > '${opened}'\n`);
      await chmod(browserCommand, 0o755);
      const login = startLogin('erin', ['--web'], { BROWSER: browserCommand });
      const userCode = await login.code();
      let url = '';
      for (let waited = 0; url === '' && waited < 5000; waited += 25) {
        url = await readFile(opened, 'utf8').catch(() => '');
        if (url === '') await new Promise((r) => setTimeout(r, 25));
      }
      assert.equal(url, `${tandem.url}/login/device?code=${userCode}`);
      // The CLI says so once the browser command has started, which may be after the command wrote its file.
      for (let waited = 0; !login.stderr.includes(`Opening ${url}`) && waited < 5000; waited += 25) {
        await new Promise((r) => setTimeout(r, 25));
      }
      assert.ok(login.stderr.includes(`Opening ${url}`), login.stderr);

      const { browser, page } = await signedIn('erin', userCode);
      const denied = await decide(browser, page, 'deny');
      assert.equal(denied.status, 200, denied.text);
      assert.match(denied.text, /Device denied/);
      const result = await login.done();
      assert.equal(result.code, 1);
      assert.match(result.stderr, /the sign-in was denied in the browser: no token from http:\/\/127\.0\.0\.1:\d+/);
      await assert.rejects(readFile(path.join(login.configDir, 'credentials.json')), { code: 'ENOENT' });
    });

    test('a code that expires before anyone approves it: the CLI exits 1 saying so; the page says it expired', async () => {
      const login = startLogin('frank', ['--device']);
      const userCode = await login.code();
      await tandem.server.ctx.store.db
        .updateTable('device_logins')
        .set({ expires_at: Date.now() - 1 })
        .where('user_code', '=', normalizeUserCode(userCode)!)
        .execute();
      const result = await login.done();
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`code ${userCode} expired before it was approved: run tandem login --device again`));
      const { page } = await signedIn('frank', userCode);
      assert.equal(page.status, 410, page.text);
      assert.match(page.text, /expired: start the sign-in on the device again/);
    });
  });

  test('a code gives one token, once: a second poll gets none and the page says it was approved already', async () => {
    const started = await startDevice('<script>alert(1)</script> laptop');
    assert.equal(started.status, 200, started.text);
    const { deviceCode, userCode, verificationUri, verificationUriComplete, expiresIn, interval } = started.body;
    assert.match(userCode, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    assert.deepEqual(
      [verificationUri, verificationUriComplete, expiresIn, interval],
      [`${tandem.url}/login/device`, `${tandem.url}/login/device?code=${userCode}`, 600, 5],
    );
    const stored = await tandem.server.ctx.store.db.selectFrom('device_logins').select('device_code_hash').execute();
    assert.ok(
      stored.every((r) => r.device_code_hash !== deviceCode),
      'the device code is stored hashed',
    );

    // Typed in lower case without the dash: the same code.
    const { browser, page } = await signedIn('gus', userCode.toLowerCase().replace('-', ''));
    assert.ok(page.text.includes('&#60;script&#62;alert(1)&#60;/script&#62; laptop'), 'the device name is escaped');
    assert.ok(!page.text.includes('<script>'));
    assert.equal((await decide(browser, page, 'approve')).status, 200);
    const again = await browser.visit(`${tandem.url}/login/device?code=${userCode}`);
    assert.equal(again.status, 409, again.text);
    assert.match(again.text, /was approved already/);

    const first = await poll(deviceCode);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.headers.get('cache-control'), 'no-store');
    assert.equal(first.body.username, 'gus');
    const second = await poll(deviceCode);
    assert.deepEqual([second.status, second.body.error], [400, 'invalid_grant']);
    assert.equal((await tandem.api('GET', '/api/v1/session', { as: { token: first.body.token! } })).status, 200);
    assert.equal(
      (
        await tandem.server.ctx.store.db
          .selectFrom('device_logins')
          .select('id')
          .where('user_code', '=', normalizeUserCode(userCode)!)
          .execute()
      ).length,
      0,
      'the request is gone',
    );
  });

  test('polling faster than the interval gets slow_down, and the interval grows', async () => {
    const { deviceCode } = (await startDevice()).body;
    const first = await poll(deviceCode);
    assert.deepEqual([first.status, first.body.error], [400, 'authorization_pending']);
    const tooSoon = await poll(deviceCode);
    assert.deepEqual([tooSoon.status, tooSoon.body.error, tooSoon.body.interval], [400, 'slow_down', 10]);
    assert.match(tooSoon.body.message ?? '', /wait 10 s between polls/);
    assert.deepEqual([(await poll(deviceCode)).body.error, (await poll('no-such-device-code')).body.error], ['slow_down', 'invalid_grant']);
  });

  test("the approval form without the session's CSRF token, or with another session's, is refused and decides nothing", async () => {
    const { deviceCode, userCode } = (await startDevice()).body;
    const { browser, page } = await signedIn('hana', userCode);
    const other = await signedIn('dana', userCode);
    const code = field(page, 'code');
    const forms: Record<string, string>[] = [
      { code, decision: 'approve' },
      { code, decision: 'approve', csrf_token: field(other.page, 'csrf_token') },
    ];
    for (const form of forms) {
      const refused = await browser.visit(`${tandem.url}/login/device`, new URLSearchParams(form));
      assert.equal(refused.status, 403, refused.text);
      assert.match(refused.text, /CSRF token missing or wrong/);
    }
    assert.equal((await poll(deviceCode)).body.error, 'authorization_pending');
    // A sign-in form this server did not serve to the browser (another site's) signs no one in.
    const forged = new Browser();
    const res = await forged.visit(
      `${tandem.url}/login`,
      new URLSearchParams({ form_token: 'x'.repeat(32), return: '/', username: 'hana', password: PASSWORD }),
    );
    assert.equal(res.status, 403, res.text);
    assert.ok(!forged.cookies.has('tandem_session'));
  });

  test("the sign-in form is POST /api/v1/session's sign-in: wrong passwords lock the account out; SSO buttons return to the page", async () => {
    const browser = new Browser();
    const page = await browser.visit(`${tandem.url}/login?return=${encodeURIComponent('/login/device?code=BCDF-GHJK')}`);
    const oidc = /href="(\/api\/v1\/login\/oidc\?return=[^"]+)"/.exec(page.text)?.[1] ?? assert.fail(page.text);
    assert.equal(oidc, '/api/v1/login/oidc?return=%2Flogin%2Fdevice%3Fcode%3DBCDF-GHJK');
    assert.ok(!page.text.includes('/api/v1/login/saml'), 'SAML is not configured');
    // The provider is down: the start of its login fails there, after the return path was accepted.
    assert.equal((await browser.visit(tandem.url + oidc)).status, 502);

    const post = (password: string) =>
      browser.visit(
        `${tandem.url}/login`,
        new URLSearchParams({ form_token: field(page, 'form_token'), return: '/', username: 'frank', password }),
      );
    for (let i = 0; i < 5; i++) {
      const wrong = await post('not the password');
      assert.equal(wrong.status, 401, wrong.text);
      assert.match(wrong.text, /Not signed in: wrong username or password/);
      assert.equal(field(wrong, 'username'), 'frank');
    }
    const locked = await post(PASSWORD);
    assert.equal(locked.status, 429, locked.text);
    assert.match(locked.text, /too many failed sign-ins for account frank/);
    assert.ok(Number(locked.headers.get('retry-after')) > 0);
    assert.ok(!browser.cookies.has('tandem_session'));
    const refusals = await tandem.api<AuditView[]>('GET', '/api/v1/audit?action=session.create&actor=anonymous');
    assert.equal(refusals.body.filter((e) => e.route === '/login' && e.details?.username === 'frank').length, 6);
  });

  test('one address may keep 20 codes waiting; the next is refused with 429', async () => {
    await tandem.server.ctx.store.db.deleteFrom('device_logins').execute();
    for (let i = 0; i < 20; i++) assert.equal((await startDevice(`device ${i}`)).status, 200);
    const refused = await startDevice('one too many');
    assert.equal(refused.status, 429, refused.text);
    assert.match(refused.text, /too many sign-in codes waiting for approval from address 127\.0\.0\.1/);
  });
});

describe('device sign-in across two replicas on PostgreSQL', { skip: postgresSkipReason() }, () => {
  const postgres = postgresForFile(after);
  let root: string;
  let a: RunningServer;
  let b: RunningServer;

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tandem-device-replicas-'));
    // Replicas share the key of secrets at rest.
    const settings = {
      databaseUrl: await (await postgres()).createDatabase(),
      masterKey: randomBytes(32).toString('base64'),
      listen: '127.0.0.1',
      logLevel: 'silent',
      port: 0,
    };
    a = await startServer(loadConfig({ ...settings, dataDir: path.join(root, 'a') }, {}), pino({ level: 'silent' }));
    b = await startServer(loadConfig({ ...settings, dataDir: path.join(root, 'b') }, {}), pino({ level: 'silent' }));
    const created = await call(a.url, 'POST', '/api/v1/users', {
      as: { token: a.newAdminToken! },
      body: { username: 'ivy', password: PASSWORD },
    });
    assert.equal(created.status, 201, created.text);
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    if (root) await rm(root, { recursive: true, force: true });
  });

  test('started on A, approved on B, polled on both at once: one token, on one of them', async () => {
    const started = await call<DeviceCode>(a.url, 'POST', '/api/v1/login/device', { body: { name: 'replica test' } });
    assert.equal(started.status, 200, started.text);
    const browser = new Browser();
    const signInPage = await browser.visit(`${b.url}/login/device?code=${started.body.userCode}`);
    const posted = await browser.visit(
      `${b.url}/login`,
      new URLSearchParams({
        form_token: field(signInPage, 'form_token'),
        return: field(signInPage, 'return'),
        username: 'ivy',
        password: PASSWORD,
      }),
    );
    assert.equal(posted.status, 303, posted.text);
    const page = await browser.visit(posted.location!);
    const approved = await browser.visit(
      `${b.url}/login/device`,
      new URLSearchParams({ csrf_token: field(page, 'csrf_token'), code: field(page, 'code'), decision: 'approve' }),
    );
    assert.equal(approved.status, 200, approved.text);

    const polls = await Promise.all(
      [a.url, b.url, a.url, b.url].map((url) =>
        call<Poll>(url, 'POST', '/api/v1/login/device/token', { body: { deviceCode: started.body.deviceCode } }),
      ),
    );
    const tokens = polls.filter((p) => p.status === 200);
    assert.equal(tokens.length, 1, JSON.stringify(polls.map((p) => p.body)));
    assert.ok(
      polls.every((p) => p.status === 200 || ['slow_down', 'invalid_grant'].includes(p.body.error ?? '')),
      JSON.stringify(polls.map((p) => p.body)),
    );
    const me = await call<{ user: { username: string } }>(b.url, 'GET', '/api/v1/session', { as: { token: tokens[0].body.token! } });
    assert.deepEqual([me.status, me.body.user.username], [200, 'ivy']);
    const made = await a.ctx.store.db.selectFrom('tokens').select('id').where('name', '=', 'replica test').execute();
    assert.equal(made.length, 1);
  });
});
