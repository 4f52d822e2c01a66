// Authorization: every route the server serves, called by every kind of caller (nobody, an agent,
// a running job, an agent registration token, a user of another repository, guest to owner of the
// route's repository, an admin), must be refused (401/403) or let through exactly as the permission
// table says. A route missing from the table fails here (and at start).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify from 'fastify';
import { decide, repoPermissionsOf, ROLES, ROUTE_PERMISSIONS, ruleOf, type Role, type Rule } from '../../src/auth/permissions.js';
import type { AccessControl } from '../../src/server/auth.js';
import { buildApp } from '../../src/server/app.js';
import { RouteTable } from '../../src/server/http.js';
import type { JobPayload } from '../../src/api/protocol.js';
import type { PipelineView } from '../support/tandem.js';
import { AuthServer, call, type Reply } from './helpers.js';

type Caller = 'anonymous' | 'agent' | 'job' | 'registration' | 'outsider' | Role | 'admin';
const CALLERS: Caller[] = ['anonymous', 'agent', 'job', 'registration', 'outsider', ...ROLES, 'admin'];

/** What the table says a caller gets, worked out from the rule's data (not by the server's code). */
function expected(rule: Rule, caller: Caller): 'allowed' | 401 | 403 {
  if (rule.who === 'anyone') return 'allowed';
  if (caller === 'anonymous') return 401;
  if (rule.who === 'agent') return caller === 'agent' ? 'allowed' : 403;
  if (caller === 'agent') return 403;
  if (caller === 'job') return rule.who === 'member' && rule.jobToken === true ? 'allowed' : 403;
  if (caller === 'registration') return rule.who === 'admin' && rule.registrationToken === true ? 'allowed' : 403;
  if (caller === 'admin' || rule.who === 'user') return 'allowed';
  if (caller === 'outsider' || rule.who === 'admin') return 403;
  return ROLES.indexOf(caller) >= ROLES.indexOf(rule.role) ? 'allowed' : 403;
}

const WALK_FILE = `
hold:
  script: [sleep 600]
later:
  when: manual
  script: [echo later]
`;

describe('every route with every caller', () => {
  let tandem: AuthServer;
  const tokens = new Map<Caller, string>();
  let pipelineId = 0;
  let jobId = 0;
  let scheduleId = 0;

  before(async () => {
    // Long leases and grace: the claimed job (and so its job token) must stay running for the whole walk.
    tandem = await AuthServer.start({ leaseSeconds: 600, agentDisconnectGraceSeconds: 3600 });
    await tandem.repo('walk', { '.gitlab-ci.yml': WALK_FILE }, ['feature']);
    await tandem.repo('other');
    tokens.set('admin', tandem.adminToken);
    for (const role of ROLES) {
      tokens.set(role, (await tandem.user(role)).token);
      await tandem.member('walk', role, role);
    }
    tokens.set('outsider', (await tandem.user('outsider')).token);
    await tandem.member('other', 'outsider', 'owner');
    tokens.set('registration', await tandem.tokenFor('admin', ['register_agent']));
    const agent = await tandem.api<{ token: string }>('POST', '/api/v1/agents', { body: { name: 'walker' } });
    tokens.set('agent', agent.body.token);
    // A pipeline on an unprotected branch (protected ones add rules of their own, tested below).
    const held = await tandem.api<{ id: number }>('POST', '/api/v1/repos/walk/pipelines', { body: { ref: 'feature' } });
    assert.equal(held.status, 201, held.text);
    const claimed = await call<JobPayload>(tandem.url, 'POST', '/api/v1/agent/jobs/request', {
      as: { token: agent.body.token },
      body: { waitMs: 5000 },
    });
    assert.equal(claimed.status, 200, claimed.text);
    tokens.set('job', claimed.body.variables.find((v) => v.key === 'CI_JOB_TOKEN')!.value);
    const target = await tandem.api<PipelineView>('GET', `/api/v1/pipelines/${held.body.id}`);
    pipelineId = target.body.id;
    jobId = target.body.jobs.find((j) => j.name === 'later')!.id;
    const schedule = await tandem.api<{ id: number }>('POST', '/api/v1/repos/walk/schedules', {
      body: { cron: '0 3 * * *', ref: 'feature' },
    });
    assert.equal(schedule.status, 201, schedule.text);
    scheduleId = schedule.body.id;
  });
  after(() => tandem.close());

  /** The route's URL with real values: the walk repository, its pipeline and job, and ids of nothing for deletions. */
  function concrete(url: string): string {
    const values: Record<string, string> = {
      name: 'walk',
      repo: 'no-such-repo',
      env: 'production',
      key: 'NO_SUCH_VARIABLE',
      username: 'nobody',
      digest: 'not-a-digest',
    };
    const [, prefix] = /^\/api\/v1\/(\w+)/.exec(url) ?? [];
    const ids: Record<string, number> = { pipelines: pipelineId, jobs: jobId, schedules: scheduleId };
    return url
      .replace(/:id/g, String(ids[prefix] ?? 999999))
      .replace(/:(\w+)/g, (_, p: string) => values[p] ?? 'x')
      .replace(/\*$/, 'file.txt');
  }

  async function request(method: string, url: string, caller: Caller): Promise<Reply<{ message?: string }>> {
    const token = tokens.get(caller);
    const abort = new AbortController();
    // Streams stay open: the status and headers are all this needs.
    const res = await fetch(tandem.url + url, {
      method,
      signal: abort.signal,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(method === 'GET' ? {} : { 'content-type': 'application/json' }),
      },
      // A body no route accepts: a let-through request stops at validation (422) and changes nothing.
      body: method === 'GET' ? undefined : '"walk"',
    });
    const streaming = (res.headers.get('content-type') ?? '').includes('event-stream');
    const text = streaming ? '' : await res.text();
    abort.abort();
    let body: { message?: string } = {};
    if (text.startsWith('{')) body = JSON.parse(text) as { message?: string };
    return { status: res.status, body, text, headers: res.headers };
  }

  test('the table lists exactly the routes the server serves', async () => {
    const { routes, app } = buildApp(tandem.server.ctx);
    await app.close();
    const served = routes.routes.map((r) => `${r.method} ${r.url}`).sort();
    assert.deepEqual(served, Object.keys(ROUTE_PERMISSIONS).sort());
  });

  test('each caller is refused or let through as the table says', { timeout: 120_000 }, async () => {
    const keys = Object.keys(ROUTE_PERMISSIONS);
    // Deleting the walk repository goes last: everything else needs it.
    keys.sort((a, b) => Number(a === 'DELETE /api/v1/repos/:name') - Number(b === 'DELETE /api/v1/repos/:name'));
    const mismatches: string[] = [];
    let checked = 0;
    for (const key of keys) {
      const [method, url] = key.split(' ');
      const permission = ROUTE_PERMISSIONS[key];
      const rule = ruleOf(permission);
      for (const caller of CALLERS) {
        const want = expected(rule, caller);
        const got = await request(method, concrete(url), caller);
        checked++;
        const refused = got.status === 401 || got.status === 403;
        if (want === 'allowed' ? refused : got.status !== want) {
          mismatches.push(`${key} as ${caller}: expected ${want}, got ${got.status} ${got.text.slice(0, 160)}`);
        } else if (got.status === 403 && !got.body.message?.includes(permission)) {
          mismatches.push(`${key} as ${caller}: the 403 does not name ${permission}: ${got.body.message}`);
        }
      }
    }
    assert.deepEqual(mismatches, []);
    assert.equal(checked, keys.length * CALLERS.length);
  });
});

describe('the table itself', () => {
  test('sane policies: changes need a role, admin routes stay admin, agents only speak the agent protocol, job tokens only read', () => {
    for (const [key, permission] of Object.entries(ROUTE_PERMISSIONS)) {
      const [method, url] = key.split(' ');
      const rule = ruleOf(permission);
      if (method !== 'GET' && rule.who === 'anyone')
        assert.ok(
          ['session.create', 'device_login.start', 'device_login.token', 'webhook.receive'].includes(permission),
          `${key} is open to anyone`,
        );
      assert.equal(rule.who === 'agent', url.startsWith('/api/v1/agent/'), `${key}: agent routes and only they are under /api/v1/agent/`);
      if (rule.who === 'member' && rule.jobToken) assert.equal(method, 'GET', `${key}: job tokens only read`);
      if (rule.who === 'member' && method !== 'GET' && !url.startsWith('/api/v1/repos/:name/environments')) {
        assert.ok(ROLES.indexOf(rule.role) >= ROLES.indexOf('developer'), `${key}: a change needs at least developer`);
      }
    }
    const need = (key: string) => ruleOf(ROUTE_PERMISSIONS[key]);
    assert.deepEqual(need('DELETE /api/v1/repos/:name'), { who: 'member', role: 'owner' });
    assert.deepEqual(need('GET /api/v1/repos/:name/variables'), { who: 'member', role: 'maintainer' });
    assert.deepEqual(need('PUT /api/v1/repos/:name/members/:username'), { who: 'member', role: 'maintainer' });
    for (const key of [
      'POST /api/v1/users',
      'GET /api/v1/audit',
      'POST /api/v1/repos',
      'GET /api/v1/agents',
      'PATCH /api/v1/users/:username',
    ])
      assert.equal(need(key).who, 'admin', key);
  });

  test('decisions: read_api reads (HEAD too), job tokens read only their repository, scopes add up', () => {
    const shop = { repoId: 1, repoName: 'shop', role: 'reporter' as const };
    const reader = { kind: 'user' as const, admin: false, scopes: ['read_api' as const] };
    assert.equal(decide('pipeline.read', 'HEAD', reader, shop).allowed, true);
    assert.equal(decide('pipeline.cancel', 'POST', reader, shop).allowed, false);
    const job = { kind: 'job' as const, repoId: 1 };
    assert.equal(decide('artifact.read', 'HEAD', job, shop).allowed, true);
    assert.equal(decide('artifact.read', 'GET', job, { ...shop, repoId: 2 }).allowed, false);
    const both = { kind: 'user' as const, admin: true, scopes: ['register_agent' as const, 'read_api' as const] };
    assert.equal(decide('agent.register', 'POST', both, null).allowed, true);
    assert.equal(decide('agent.list', 'GET', both, null).allowed, true);
    assert.equal(decide('agent.delete', 'DELETE', both, null).allowed, false);
    const registrationOfAFormerAdmin = { kind: 'user' as const, admin: false, scopes: ['register_agent' as const] };
    assert.deepEqual(decide('agent.register', 'POST', registrationOfAFormerAdmin, null), {
      allowed: false,
      status: 403,
      message: 'missing permission agent.register: it needs an instance administrator',
    });
  });

  test('registering a route missing from the table, or declaring other access than its permission’s, fails', async () => {
    const app = Fastify();
    const allowAll: AccessControl = { check: async () => ({ kind: 'anonymous' }), audit: async () => undefined };
    const table = new RouteTable(app, allowAll);
    assert.throws(
      () => table.add({ method: 'GET', url: '/api/v1/unlisted', summary: 'x', tag: 'x', access: 'user', handler: async () => null }),
      /route GET \/api\/v1\/unlisted is missing from ROUTE_PERMISSIONS in src\/auth\/permissions\.ts/,
    );
    assert.throws(
      () => table.add({ method: 'GET', url: '/api/v1/audit', summary: 'x', tag: 'x', access: 'public', handler: async () => null }),
      /declares access "public" but its permission audit\.read is for an instance administrator/,
    );
    await app.close();
  });
});

describe('repoPermissionsOf (what the web UI may offer)', () => {
  const standing = (role: Role | null) => ({ repoId: 1, repoName: 'shop', role });
  const user = { kind: 'user' as const, admin: false, scopes: ['api' as const] };

  test('follows the role: a guest may not roll back, a developer may, only a maintainer approves', () => {
    const guest = repoPermissionsOf(user, standing('guest'));
    assert.ok(guest.includes('pipeline.read') && !guest.includes('environment.rollback') && !guest.includes('log.read'));
    const developer = repoPermissionsOf(user, standing('developer'));
    assert.ok(developer.includes('environment.rollback') && developer.includes('job.retry') && !developer.includes('deployment.approve'));
    assert.ok(repoPermissionsOf(user, standing('maintainer')).includes('deployment.approve'));
    assert.deepEqual(repoPermissionsOf(user, standing(null)), []);
  });

  test('a read_api token reads but changes nothing; an admin holds everything', () => {
    const reader = repoPermissionsOf({ ...user, scopes: ['read_api'] }, standing('owner'));
    assert.ok(reader.includes('log.read') && !reader.includes('pipeline.create'));
    const admin = repoPermissionsOf({ ...user, admin: true }, standing(null));
    assert.ok(admin.includes('repo.delete') && admin.includes('deployment.approve'));
  });
});
