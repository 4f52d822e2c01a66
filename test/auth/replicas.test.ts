// Two server replicas on one PostgreSQL database hold no authentication state of their own: a
// sign-in on one is valid on the other, a revocation on one is refused by the other at its next
// request, and failed sign-ins add up across both.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { postgresForFile, postgresSkipReason } from '../support/postgres.js';
import { call, type As, type Session } from './helpers.js';

const PASSWORD = 'shared cluster passphrase';

describe('authentication across replicas on PostgreSQL', { skip: postgresSkipReason() }, () => {
  const postgres = postgresForFile(after);
  let root: string;
  let a: RunningServer;
  let b: RunningServer;
  let admin: string;

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tandem-auth-replicas-'));
    const databaseUrl = await (await postgres()).createDatabase();
    await writeFile(path.join(root, 'master.key'), randomBytes(32).toString('base64'), { mode: 0o600 });
    const replica = (name: string) =>
      startServer(
        // Replicas share one master key, as operations.md asks of every replica of a cluster.
        loadConfig(
          {
            dataDir: path.join(root, name),
            databaseUrl,
            masterKeyFile: path.join(root, 'master.key'),
            port: 0,
            listen: '127.0.0.1',
            logLevel: 'silent',
            loginMaxFailures: 3,
            trustedProxies: '127.0.0.1',
          },
          {},
        ),
        pino({ level: 'silent' }),
      );
    a = await replica('a');
    b = await replica('b');
    admin = a.newAdminToken!;
    assert.equal(b.newAdminToken, null, 'one first admin for the cluster');
    assert.equal(
      (await call(a.url, 'POST', '/api/v1/users', { as: { token: admin }, body: { username: 'pat', password: PASSWORD } })).status,
      201,
    );
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await rm(root, { recursive: true, force: true });
  });

  const on = (server: RunningServer, method: string, url: string, as: As, body?: unknown) =>
    call<{ message?: string; token?: string; id?: number }>(server.url, method, url, { as, body });

  async function signIn(server: RunningServer, headers: Record<string, string> = {}): Promise<{ status: number; session: Session | null }> {
    const res = await call<{ csrfToken: string }>(server.url, 'POST', '/api/v1/session', {
      as: null,
      body: { username: 'pat', password: PASSWORD },
      headers,
    });
    const cookie = res.headers.get('set-cookie')?.split(';')[0];
    return { status: res.status, session: res.status === 201 && cookie ? { cookie, csrf: res.body.csrfToken } : null };
  }

  it('a session made on A works on B, changes included (its CSRF token too); signed out on B, A refuses it at the next request', async () => {
    const { session } = await signIn(a);
    assert.ok(session);
    assert.equal((await on(b, 'GET', '/api/v1/session', { session })).status, 200);
    const made = await on(b, 'POST', '/api/v1/tokens', { session }, { name: 'made on b' });
    assert.equal(made.status, 201, made.text);
    assert.equal((await on(a, 'GET', '/api/v1/session', { session })).status, 200);
    assert.equal((await on(b, 'DELETE', '/api/v1/session', { session })).status, 204);
    assert.equal((await on(a, 'GET', '/api/v1/session', { session })).status, 401);
  });

  it('a token made on A and revoked on B is refused by A at the next request', async () => {
    const made = await on(a, 'POST', '/api/v1/tokens', { token: admin }, { name: 'for pat', username: 'pat' });
    const token = made.body.token!;
    assert.equal((await on(a, 'GET', '/api/v1/session', { token })).status, 200);
    assert.equal((await on(b, 'DELETE', `/api/v1/tokens/${made.body.id}`, { token: admin })).status, 204);
    assert.equal((await on(a, 'GET', '/api/v1/session', { token })).status, 401);
  });

  it('failed sign-ins on A and B add up to one lockout', async () => {
    const wrong = (server: RunningServer, address: string) =>
      call(server.url, 'POST', '/api/v1/session', {
        as: null,
        body: { username: 'pat', password: 'wrong wrong wrong' },
        headers: { 'x-forwarded-for': address },
      });
    assert.equal((await wrong(a, '192.0.2.1')).status, 401);
    assert.equal((await wrong(b, '192.0.2.2')).status, 401);
    assert.equal((await wrong(a, '192.0.2.3')).status, 401);
    assert.equal((await signIn(b, { 'x-forwarded-for': '192.0.2.4' })).status, 429, 'locked on B after failures on both');
    assert.equal((await signIn(a, { 'x-forwarded-for': '192.0.2.4' })).status, 429);
  });

  it('the audit log names the replica of each change', async () => {
    const entries = await on(a, 'GET', '/api/v1/audit?action=token.create', { token: admin });
    const replicas = new Set((entries.body as unknown as { replica: string }[]).map((e) => e.replica));
    assert.deepEqual(replicas, new Set([a.ctx.replicaId, b.ctx.replicaId]));
  });
});
