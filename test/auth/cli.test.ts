// The auth commands as users run them: the compiled CLI against a live server, passwords on stdin,
// `tandem login` keeping a token in the config dir for later commands.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, cleanEnv, type CliResult } from '../cli/helpers.js';
import { AuthServer } from './helpers.js';

describe('tandem user, login, token, member, branch and audit', () => {
  let tandem: AuthServer;
  let home: string;

  before(async () => {
    tandem = await AuthServer.start();
    home = await mkdtemp(path.join(tmpdir(), 'tandem-cli-auth-'));
    await tandem.repo('shop');
  });
  after(async () => {
    await tandem.close();
    await rm(home, { recursive: true, force: true });
  });

  /** `tandem ...args` with this stdin; `asAdmin` passes the admin token, else the saved login is used. */
  function run(args: string[], opts: { input?: string; asAdmin?: boolean } = {}): Promise<CliResult> {
    const env = cleanEnv({
      TANDEM_SERVER: tandem.url,
      TANDEM_CONFIG_DIR: path.join(home, 'config'),
      ...(opts.asAdmin ? { TANDEM_TOKEN: tandem.adminToken } : {}),
    });
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, ...args], { cwd: home, env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
      child.stdin.end(opts.input ?? '');
    });
  }

  async function ok(args: string[], opts: { input?: string; asAdmin?: boolean } = {}): Promise<string> {
    const res = await run(args, opts);
    assert.equal(res.code, 0, `tandem ${args.join(' ')}: ${res.stderr}${res.stdout}`);
    return res.stdout;
  }

  test('an admin adds users (password from stdin), lists them, makes and unmakes admins; the first admin gets a password', async () => {
    assert.match(await ok(['user', 'add', 'dana', '--password-stdin'], { input: 'blue violin sunrise 7\n', asAdmin: true }), /Added dana/);
    assert.match(await ok(['user', 'add', 'sso-only'], { asAdmin: true }), /Added sso-only without a password/);
    const users = JSON.parse(await ok(['user', 'list', '--json'], { asAdmin: true })) as { username: string; hasPassword: boolean }[];
    assert.deepEqual(
      users.map((u) => [u.username, u.hasPassword]),
      [
        ['admin', false],
        ['dana', true],
        ['sso-only', false],
      ],
    );
    assert.match(await ok(['user', 'admin', 'sso-only'], { asAdmin: true }), /sso-only is now an instance admin/);
    assert.match(await ok(['user', 'admin', 'sso-only', '--revoke'], { asAdmin: true }), /no longer/);
    assert.match(
      await ok(['user', 'passwd', 'admin', '--password-stdin'], { input: 'orange kettle winter 9\n', asAdmin: true }),
      /Password of admin set/,
    );
    assert.match(await ok(['user', 'rm', 'sso-only'], { asAdmin: true }), /Removed sso-only/);
    const refused = await run(['user', 'add', 'x', '--password-stdin'], { input: 'short\n', asAdmin: true });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /password: at least 12 characters/);
    assert.ok(!refused.stderr.includes('short\n'));
  });

  test('tandem login keeps a token (0600) that later commands use; the session it used is ended; logout revokes the token', async () => {
    assert.match(await ok(['member', 'set', 'shop', 'dana', 'developer'], { asAdmin: true }), /dana is developer of shop/);
    const wrong = await run(['login', '--username', 'dana', '--password-stdin'], { input: 'not her password\n' });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /sign-in failed: 401 wrong username or password/);
    assert.match(
      await ok(['login', '--username', 'dana', '--password-stdin'], { input: 'blue violin sunrise 7\n' }),
      /Signed in to .* as dana; token #\d+ \(expires /,
    );
    const file = path.join(home, 'config', 'credentials.json');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const saved = JSON.parse(await readFile(file, 'utf8')) as { current: string; servers: Record<string, { token: string }> };
    assert.equal(saved.current, tandem.url);
    assert.match(saved.servers[tandem.url].token, /^tdm_/);
    assert.match(await ok(['whoami']), /^dana, by token with scopes api$/m);
    assert.deepEqual(
      JSON.parse(await ok(['member', 'list', 'shop', '--json'])).map((m: { username: string }) => m.username),
      ['admin', 'dana'],
    );
    const sessions = await tandem.server.ctx.store.db.selectFrom('sessions').selectAll().execute();
    assert.equal(sessions.length, 0, 'the sign-in session was only a step to the token');
    // Her own password takes the current one: new, then current, on stdin.
    assert.match(
      await ok(['user', 'passwd', 'dana', '--password-stdin'], { input: 'green piano sunset 8\nblue violin sunrise 7\n' }),
      /Password of dana set/,
    );
    assert.match(await ok(['logout']), /Signed out of .*; token #\d+ revoked/);
    const after = await run(['whoami']);
    assert.equal(after.code, 1);
    assert.match(after.stderr, /no API token for .*: run tandem login/);
    assert.equal(
      (await tandem.api('GET', '/api/v1/session', { as: { token: saved.servers[tandem.url].token } })).status,
      401,
      'the token is revoked',
    );
    await ok(['login', '--username', 'dana', '--password-stdin'], { input: 'green piano sunset 8\n' });
  });

  test('tokens: created (printed once), listed without secrets, revoked', async () => {
    const created = await run(['token', 'create', '--name', 'ci', '--scope', 'read_api', '--expires-in', '7d']);
    assert.equal(created.code, 0, created.stderr);
    const secret = created.stdout.trim();
    assert.match(secret, /^tdm_[\w-]{43}$/);
    assert.match(created.stderr, /Token #(\d+) "ci" of dana \(read_api\), expires .*: shown once/);
    const listed = await ok(['token', 'list', '--json']);
    assert.ok(!listed.includes(secret));
    const ci = (JSON.parse(listed) as { id: number; name: string; scopes: string[] }[]).find((t) => t.name === 'ci')!;
    assert.deepEqual(ci.scopes, ['read_api']);
    assert.equal((await tandem.api('GET', '/api/v1/repos', { as: { token: secret } })).status, 200);
    assert.match(await ok(['token', 'revoke', String(ci.id)]), new RegExp(`Revoked token #${ci.id}`));
    assert.equal((await tandem.api('GET', '/api/v1/repos', { as: { token: secret } })).status, 401);
  });

  test('protected branches and the audit log from the command line', async () => {
    assert.match(
      await ok(['branch', 'protect', 'shop', 'release/*', '--role', 'developer'], { asAdmin: true }),
      /branches matching release\/\* are protected \(pipelines and manual jobs: developer and above\)/,
    );
    assert.deepEqual(
      JSON.parse(await ok(['branch', 'list', 'shop', '--json'], { asAdmin: true })).map((p: { pattern: string }) => p.pattern),
      ['main', 'release/*'],
    );
    assert.match(await ok(['branch', 'unprotect', 'shop', 'release/*'], { asAdmin: true }), /no longer protected/);
    const denied = await run(['audit']);
    assert.equal(denied.code, 1, 'dana is no admin');
    assert.match(denied.stderr, /not allowed: missing permission audit\.read/);
    const entries = JSON.parse(await ok(['audit', '--json', '--action', 'member.set', '--since', '1h'], { asAdmin: true })) as {
      actor: string;
      details: { username: string; role: string };
    }[];
    assert.deepEqual(
      entries.map((e) => [e.actor, e.details.username, e.details.role]),
      [['admin', 'dana', 'developer']],
    );
    const byDana = JSON.parse(await ok(['audit', '--json', '--actor', 'dana'], { asAdmin: true })) as { action: string }[];
    assert.ok(byDana.some((e) => e.action === 'token.revoke'));
    assert.match(await ok(['audit', '--limit', '3'], { asAdmin: true }), /^AT +ACTOR +ADDRESS +ACTION/m);
  });
});
