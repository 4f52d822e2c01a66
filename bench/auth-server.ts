// The server of the auth benchmark, in a process of its own that bench/auth.ts pins to one core
// (taskset). It serves the same routes twice: on one port with Tandem's access control (token
// lookup, repository role, audit record), on another with none (every request is an admin's, no
// lookup, no record), so the difference is what authentication and authorization cost.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { createPersonalToken } from '../src/auth/tokens.js';
import { createUser } from '../src/auth/users.js';
import { loadConfig } from '../src/config/index.js';
import { buildApp } from '../src/server/app.js';
import type { AccessControl } from '../src/server/auth.js';
import { startServer } from '../src/server/index.js';

export interface AuthServerReady {
  withAuth: string;
  withoutAuth: string;
  /** A developer of repository `bench`: a request of theirs takes a token lookup and a role lookup. */
  token: string;
  username: string;
  password: string;
  dataDir: string;
}

const PASSWORD = 'benchmark passphrase 1';

async function main(): Promise<void> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'tandem-bench-auth-'));
  const config = loadConfig({ dataDir, port: 0, listen: '127.0.0.1', logLevel: 'warn', loginMaxFailuresPerAddress: 1_000_000 }, {});
  const server = await startServer(config, pino({ level: 'warn' }));
  const db = server.ctx.store.db;
  const now = Date.now();
  const user = await createUser(db, { username: 'dev', password: PASSWORD, now, passwordMinLength: config.passwordMinLength });
  const repo = await db
    .insertInto('repos')
    .values({
      name: 'bench',
      url: '/nonexistent',
      default_branch: 'main',
      poll_interval_seconds: 0,
      webhook_secret: null,
      branch_filter: null,
      tag_filter: null,
      known_refs: '{}',
      last_polled_at: null,
      created_at: now,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  await db
    .insertInto('memberships')
    .values({ repo_id: repo.id, user_id: user.id, role: 'maintainer', source: 'manual', created_at: now, updated_at: now })
    .execute();
  const { token } = await createPersonalToken(db, { userId: user.id, name: 'bench', scopes: ['api'], expiresAt: null, now });

  const admin = await db.selectFrom('users').select('id').where('username', '=', 'admin').executeTakeFirstOrThrow();
  const none: AccessControl = {
    check: async () => ({
      kind: 'user',
      userId: admin.id,
      username: 'admin',
      admin: true,
      scopes: ['api'],
      sessionId: null,
      tokenId: null,
    }),
    audit: async () => undefined,
  };
  const { app } = buildApp(server.ctx, { access: none });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const ready: AuthServerReady = {
    withAuth: server.url,
    withoutAuth: `http://127.0.0.1:${port}`,
    token,
    username: 'dev',
    password: PASSWORD,
    dataDir,
  };
  process.send?.(ready);
  process.on('disconnect', () => {
    void app
      .close()
      .then(() => server.close())
      .then(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  console.error(`auth bench server: ${(err as Error).message}`);
  process.exit(1);
});
