// Attacks on authorization: privilege escalation (a developer at admin routes, members granting
// themselves more), one repository's credentials against another's resources (IDOR), security
// headers, oversized and malformed bodies, and secrets kept out of logs, responses and errors.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { PipelineView } from '../support/tandem.js';
import { AuthServer, call } from './helpers.js';

const PASSWORD = 'correct horse battery 1';

describe('security', () => {
  let tandem: AuthServer;
  let dev: string;
  let maintainer: string;
  let owner: string;
  let stranger: string;
  let theirPipeline: number;
  const secrets: string[] = [PASSWORD];

  before(async () => {
    tandem = await AuthServer.start({ maxRequestBytes: 64 * 1024 });
    await tandem.repo('shop', { '.gitlab-ci.yml': 'job:\n  when: manual\n  script: [echo hi]\n' }, ['feature']);
    await tandem.repo('theirs', { '.gitlab-ci.yml': 'job:\n  when: manual\n  script: [echo theirs]\n' });
    dev = (await tandem.user('dev', { password: PASSWORD })).token;
    maintainer = (await tandem.user('keeper')).token;
    owner = (await tandem.user('boss')).token;
    stranger = (await tandem.user('stranger')).token;
    secrets.push(tandem.adminToken, dev, maintainer, owner, stranger);
    await tandem.member('shop', 'dev', 'developer');
    await tandem.member('shop', 'keeper', 'maintainer');
    await tandem.member('shop', 'boss', 'owner');
    await tandem.member('theirs', 'stranger', 'owner');
    theirPipeline = (await tandem.api<{ id: number }>('POST', '/api/v1/repos/theirs/pipelines', { as: { token: stranger }, body: {} })).body
      .id;
  });
  after(() => tandem.close());

  const as = (token: string) => ({ as: { token } });

  test('a developer reaches no admin route and cannot raise its own rights', async () => {
    const attempts: [string, string, unknown?][] = [
      ['POST', '/api/v1/users', { username: 'sock', password: 'sock puppet passphrase' }],
      ['PATCH', '/api/v1/users/dev', { admin: true }],
      ['GET', '/api/v1/users'],
      ['GET', '/api/v1/audit'],
      ['POST', '/api/v1/repos', { name: 'mine', url: '/etc' }],
      ['DELETE', '/api/v1/users/admin'],
      ['PUT', '/api/v1/users/admin/password', { password: 'taken over passphrase' }],
      ['POST', '/api/v1/tokens', { name: 'as admin', username: 'admin' }],
      ['POST', '/api/v1/tokens', { name: 'agents', scopes: ['register_agent'] }],
      ['POST', '/api/v1/agents', { name: 'rogue' }],
      ['PUT', '/api/v1/repos/shop/members/dev', { role: 'maintainer' }],
      ['GET', '/api/v1/repos/shop/variables'],
      ['DELETE', '/api/v1/repos/shop'],
    ];
    for (const [method, url, body] of attempts) {
      const res = await tandem.api<{ message: string }>(method, url, { ...as(dev), body });
      assert.equal(res.status, 403, `${method} ${url}: ${res.text}`);
      assert.match(res.body.message, /missing permission [\w.]+/);
    }
    const me = await tandem.api<{ user: { admin: boolean } }>('GET', '/api/v1/session', as(dev));
    assert.equal(me.body.user.admin, false);
  });

  test('owners are made and unmade by owners; a repository keeps one owner', async () => {
    const grant = await tandem.api<{ message: string }>('PUT', '/api/v1/repos/shop/members/keeper', {
      ...as(maintainer),
      body: { role: 'owner' },
    });
    assert.equal(grant.status, 403);
    assert.match(grant.body.message, /owner role needs an owner/);
    assert.equal(
      (await tandem.api('PUT', '/api/v1/repos/shop/members/boss', { ...as(maintainer), body: { role: 'guest' } })).status,
      403,
      'a maintainer cannot demote an owner',
    );
    assert.equal(
      (await tandem.api('PUT', '/api/v1/repos/shop/members/dev', { ...as(maintainer), body: { role: 'reporter' } })).status,
      200,
    );
    assert.equal(
      (await tandem.api('PUT', '/api/v1/repos/shop/members/dev', { ...as(maintainer), body: { role: 'developer' } })).status,
      200,
    );
    // The admin registered shop and owns it too; with boss there are two owners.
    assert.equal((await tandem.api('DELETE', '/api/v1/repos/shop/members/admin', as(owner))).status, 204);
    const last = await tandem.api<{ message: string }>('DELETE', '/api/v1/repos/shop/members/boss', as(owner));
    assert.equal(last.status, 409);
    assert.match(last.body.message, /no owner left/);
    const members = await tandem.api<{ username: string; role: string }[]>('GET', '/api/v1/repos/shop/members', as(dev));
    assert.deepEqual(
      members.body.map((m) => `${m.username}:${m.role}`),
      ['boss:owner', 'dev:developer', 'keeper:maintainer'],
    );
  });

  test('the last instance admin cannot be removed or demoted', async () => {
    const demote = await tandem.api<{ message: string }>('PATCH', '/api/v1/users/admin', { body: { admin: false } });
    assert.equal(demote.status, 409);
    assert.match(demote.body.message, /no instance administrator/);
    assert.equal((await tandem.api('DELETE', '/api/v1/users/admin')).status, 409);
  });

  test("one repository's members and tokens reach nothing of another (IDOR), and listings show only their own", async () => {
    const theirs = (await tandem.api<PipelineView>('GET', `/api/v1/pipelines/${theirPipeline}`, as(stranger))).body;
    const theirJob = theirs.jobs[0].id;
    for (const [method, url] of [
      ['GET', `/api/v1/pipelines/${theirPipeline}`],
      ['POST', `/api/v1/pipelines/${theirPipeline}/cancel`],
      ['GET', `/api/v1/jobs/${theirJob}/log`],
      ['POST', `/api/v1/jobs/${theirJob}/play`],
      ['GET', `/api/v1/jobs/${theirJob}/artifacts`],
      ['GET', '/api/v1/repos/theirs'],
      ['GET', '/api/v1/repos/theirs/members'],
      ['POST', '/api/v1/repos/theirs/pipelines'],
    ]) {
      const res = await tandem.api<{ message: string }>(method, url, { ...as(owner), body: method === 'POST' ? {} : undefined });
      assert.equal(res.status, 403, `${method} ${url}: ${res.text}`);
      assert.match(res.body.message, /on repository theirs \(you are not a member\)/);
    }
    const mine = await tandem.api<{ name: string }[]>('GET', '/api/v1/repos', as(dev));
    assert.deepEqual(
      mine.body.map((r) => r.name),
      ['shop'],
    );
    const all = await tandem.api<{ name: string }[]>('GET', '/api/v1/repos');
    assert.deepEqual(
      all.body.map((r) => r.name),
      ['shop', 'theirs'],
    );
    // The dashboard's list of recent pipelines holds a signed-in user's repositories only, and nothing for anonymous callers.
    const { session } = await tandem.signIn('dev', PASSWORD);
    const recent = await call(tandem.url, 'GET', '/api/v1/pipelines', { as: { headers: { cookie: session!.cookie } } });
    assert.equal(recent.status, 200);
    assert.ok(!(JSON.parse(recent.text) as { repo: string }[]).some((p) => p.repo === 'theirs'), recent.text);
    const everything = await tandem.api<{ repo: string }[]>('GET', '/api/v1/pipelines');
    assert.ok(
      everything.body.some((p) => p.repo === 'theirs'),
      "an admin sees every repository's pipelines",
    );
    const anonymous = await call(tandem.url, 'GET', '/api/v1/pipelines', { as: null });
    assert.equal(anonymous.status, 401);
  });

  test('security headers on every response', async () => {
    for (const url of ['/healthz', '/api/v1/repos', '/']) {
      const res = await call(tandem.url, 'GET', url, { as: null });
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', url);
      assert.equal(res.headers.get('x-frame-options'), 'SAMEORIGIN', url);
      assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/, url);
      assert.match(res.headers.get('strict-transport-security') ?? '', /max-age=\d+/, url);
      assert.equal(res.headers.get('referrer-policy'), 'no-referrer', url);
      assert.equal(res.headers.get('x-powered-by'), null, url);
    }
  });

  test('oversized, malformed and mistyped bodies are refused with a clear status, changing nothing', async () => {
    const big = await tandem.api<{ message: string }>('POST', '/api/v1/users', {
      body: { username: 'big', password: 'v'.repeat(100 * 1024) },
    });
    assert.equal(big.status, 413);
    // The variables route takes bulk bodies; its value has a limit of its own.
    const bigValue = await tandem.api<{ message: string }>('POST', '/api/v1/repos/shop/variables', {
      body: { key: 'BIG', value: 'v'.repeat(100 * 1024) },
    });
    assert.equal(bigValue.status, 422);
    const broken = await tandem.api<{ message: string }>('POST', '/api/v1/users', {
      body: '{"username": "x", "password": ',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(broken.status, 400);
    assert.match(broken.body.message, /not valid JSON/);
    const typed = await tandem.api<{ message: string }>('PUT', '/api/v1/repos/shop/members/dev', { body: { role: 'superuser' } });
    assert.equal(typed.status, 422);
    assert.match(typed.body.message, /^invalid request body: role: /);
    const array = await tandem.api('POST', '/api/v1/tokens', { body: [{ name: 'x' }] });
    assert.equal(array.status, 422);
    assert.equal((await tandem.api('GET', '/api/v1/repos/shop/variables')).body instanceof Array, true);
    assert.ok(!(await tandem.api('GET', '/api/v1/repos/shop/variables')).text.includes('BIG'));
  });

  test('secrets stay out of the log, the audit log, listings and error messages', async () => {
    const masked = 'masked-variable-value-42';
    assert.equal(
      (
        await tandem.api('POST', '/api/v1/repos/shop/variables', {
          as: { token: maintainer },
          body: { key: 'SECRET', value: masked, masked: true },
        })
      ).status,
      201,
    );
    secrets.push(masked);
    const created = await tandem.api<{ token: string }>('POST', '/api/v1/tokens', { as: { token: dev }, body: { name: 'ci' } });
    secrets.push(created.body.token);
    const wrongCurrent = await tandem.api<{ message: string }>('PUT', '/api/v1/users/dev/password', {
      as: { token: dev },
      body: { password: 'another horse battery 2', currentPassword: 'wrong current passphrase' },
    });
    assert.equal(wrongCurrent.status, 403);
    assert.equal(wrongCurrent.body.message, 'currentPassword: wrong password');
    secrets.push('another horse battery 2', 'wrong current passphrase');
    // Requests that fail in every way, carrying secrets.
    await call(tandem.url, 'GET', '/api/v1/repos', { as: { token: created.body.token + 'x' } });
    await call(tandem.url, 'POST', '/api/v1/session', { as: null, body: { username: 'dev', password: PASSWORD, extra: masked } });
    const audit = await tandem.api('GET', '/api/v1/audit?limit=1000');
    const tokens = await tandem.api('GET', '/api/v1/tokens?all=true');
    const variables = await tandem.api('GET', '/api/v1/repos/shop/variables');
    const openapi = await call(tandem.url, 'GET', '/api/v1/openapi.json', { as: null });
    assert.ok(tandem.logs().includes('server started'), 'the log is captured');
    for (const [where, text] of [
      ['the server log', tandem.logs()],
      ['the audit log', audit.text],
      ['the token listing', tokens.text],
      ['the variable listing', variables.text],
      ['the OpenAPI document', openapi.text],
    ]) {
      for (const secret of secrets) assert.ok(!text.includes(secret), `${where} holds a secret (${secret.slice(0, 6)}...)`);
    }
    const variableAudit = (audit.body as { action: string; params: Record<string, string>; details: unknown }[]).find(
      (e) => e.action === 'variable.write',
    );
    assert.deepEqual(variableAudit?.params, { name: 'shop' }, 'a variable change is recorded without its value');
  });
});
