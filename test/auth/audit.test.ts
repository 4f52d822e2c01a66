// The audit log: every successful change is recorded by the route layer (who, what, when, from
// which address, on which replica), with the details routes add; filterable; append-only in the
// database itself.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { deliver, pushDelivery } from '../e2e/helpers.js';
import { AuthServer } from './helpers.js';

interface Entry {
  id: number;
  at: string;
  actor: string;
  actorKind: string;
  address: string;
  replica: string;
  action: string;
  method: string;
  route: string;
  params: Record<string, string> | null;
  status: number;
  details: Record<string, unknown> | null;
}

describe('audit log', () => {
  let tandem: AuthServer;
  let startedAt: number;
  let ivy: string;

  before(async () => {
    tandem = await AuthServer.start({ trustedProxies: '127.0.0.1' });
    startedAt = Date.now();
    await tandem.repo('shop', undefined, ['feature']);
    ivy = (await tandem.user('ivy')).token;
    await tandem.member('shop', 'ivy', 'developer');
    await tandem.api('POST', '/api/v1/repos/shop/pipelines', {
      as: { token: ivy },
      body: { ref: 'feature' },
      headers: { 'x-forwarded-for': '203.0.113.77' },
    });
    await tandem.api('GET', '/api/v1/repos/shop', { as: { token: ivy } });
    await tandem.api('DELETE', '/api/v1/repos/shop/members/nobody', { as: { token: ivy } });
  });
  after(() => tandem.close());

  const audit = (query = '') => tandem.api<Entry[]>('GET', `/api/v1/audit${query}`);

  test('a change is recorded with its actor, address, replica, route, parameters and status; reads and refusals are not', async () => {
    const entries = (await audit('?actor=ivy')).body;
    assert.equal(entries.length, 1, JSON.stringify(entries));
    const [trigger] = entries;
    assert.deepEqual(
      {
        actor: trigger.actor,
        actorKind: trigger.actorKind,
        address: trigger.address,
        action: trigger.action,
        method: trigger.method,
        route: trigger.route,
        params: trigger.params,
        status: trigger.status,
      },
      {
        actor: 'ivy',
        actorKind: 'user',
        address: '203.0.113.77',
        action: 'pipeline.create',
        method: 'POST',
        route: '/api/v1/repos/:name/pipelines',
        params: { name: 'shop' },
        status: 201,
      },
    );
    assert.equal(trigger.replica, tandem.server.ctx.replicaId);
    assert.ok(Date.parse(trigger.at) >= startedAt - 1000);
  });

  test('routes add what matters: the role granted and the one before, a token’s name and scopes (never the token)', async () => {
    await tandem.member('shop', 'ivy', 'maintainer');
    const [grant] = (await audit('?action=member.set&limit=1')).body;
    assert.deepEqual(grant.details, { username: 'ivy', role: 'maintainer', previous: 'developer' });
    assert.equal(grant.actor, 'admin');
    const token = await tandem.tokenFor('ivy', ['read_api']);
    const [made] = (await audit('?action=token.create&limit=1')).body;
    assert.equal(made.details?.username, 'ivy');
    assert.deepEqual(made.details?.scopes, ['read_api']);
    assert.ok(!JSON.stringify(made).includes(token));
  });

  test('filters: actor, action, a time window, limit and paging with before', async () => {
    const all = (await audit('?limit=1000')).body;
    assert.ok(all.length >= 6);
    assert.deepEqual(
      all.map((e) => e.id),
      [...all.map((e) => e.id)].sort((a, b) => b - a),
      'newest first',
    );
    const two = (await audit('?limit=2')).body;
    assert.deepEqual(
      two.map((e) => e.id),
      all.slice(0, 2).map((e) => e.id),
    );
    const next = (await audit(`?limit=2&before=${two[1].id}`)).body;
    assert.deepEqual(
      next.map((e) => e.id),
      all.slice(2, 4).map((e) => e.id),
    );
    const middle = all[Math.floor(all.length / 2)];
    const since = (await audit(`?since=${encodeURIComponent(middle.at)}&limit=1000`)).body;
    assert.ok(since.every((e) => e.at >= middle.at) && since.some((e) => e.id === middle.id));
    const until = (await audit(`?until=${Date.parse(middle.at)}&limit=1000`)).body;
    assert.ok(until.every((e) => e.at < middle.at));
    assert.equal(since.length + until.length, all.length);
    assert.deepEqual(
      (await audit('?action=user.create')).body.map((e) => e.details?.username),
      ['ivy'],
    );
    assert.equal((await audit('?since=yesterday')).status, 400);
    assert.equal((await audit('?limit=0')).status, 422);
  });

  test('a webhook delivery is recorded as an anonymous change; a refused one is not', async () => {
    const source = await tandem.repo('source');
    const sha = await source.commit({ 'README.md': 'next\n' }, 'next');
    await source.push('main');
    assert.equal(
      (await tandem.api('POST', '/api/v1/repos', { body: { name: 'hooked', url: source.bare, webhookSecret: 'a-webhook-secret' } })).status,
      201,
    );
    const push = { ref: 'refs/heads/main', before: '0'.repeat(40), after: sha, deliveryId: 'audit-1' };
    assert.equal((await deliver(tandem.url, 'gitlab', 'hooked', pushDelivery('gitlab', 'a-wrong-secret', push))).status, 401);
    assert.equal((await deliver(tandem.url, 'gitlab', 'hooked', pushDelivery('gitlab', 'a-webhook-secret', push))).status, 201);
    const recorded = (await audit('?action=webhook.receive')).body;
    assert.deepEqual(
      recorded.map((e) => [e.actor, e.route, e.params?.repo, e.status]),
      [['anonymous', '/api/v1/hooks/gitlab/:repo', 'hooked', 201]],
    );
  });

  test('the database refuses to change or delete audit entries', async () => {
    const db = tandem.server.ctx.store.db;
    await assert.rejects(db.updateTable('audit_log').set({ actor: 'someone else' }).execute(), /append-only/);
    await assert.rejects(db.deleteFrom('audit_log').execute(), /append-only/);
    await assert.rejects(sql`delete from audit_log where id = 1`.execute(db), /append-only/);
    assert.ok((await audit('?limit=1000')).body.length >= 6);
  });
});
