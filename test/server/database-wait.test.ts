// A server started while its PostgreSQL is down waits for it (not listening, so a load balancer's
// readiness check keeps it out) and serves once the database answers.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { postgresForFile, postgresSkipReason } from '../support/postgres.js';

describe('database unreachable at start', { skip: postgresSkipReason() }, () => {
  const postgres = postgresForFile(after);

  it('retries until the database answers, then becomes ready', async (t) => {
    const pg = await postgres();
    const databaseUrl = await pg.createDatabase();
    const dataDir = await mkdtemp(path.join(tmpdir(), 'tandem-dbwait-'));
    t.after(() => rm(dataDir, { recursive: true, force: true }));
    await pg.halt();

    const warnings: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) });
    let server: RunningServer | null = null;
    const starting = startServer(loadConfig({ dataDir, databaseUrl, port: 0, listen: '127.0.0.1' }, {}), log).then((s) => (server = s));
    t.after(async () => {
      await (server as RunningServer | null)?.close();
    });

    try {
      const deadline = Date.now() + 8000;
      while (!warnings.some((w) => /database unreachable; retrying/.test(w)) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      assert.ok(
        warnings.some((w) => /database unreachable; retrying/.test(w) && /ECONNREFUSED/.test(w)),
        `says why it waits: ${warnings.join('')}`,
      );
      assert.equal(server, null, 'not serving without its database');
    } finally {
      // Also when an assertion failed: the waiting server must be able to finish, or the file never ends.
      await pg.restart();
    }
    const started = await Promise.race([starting, new Promise<null>((r) => setTimeout(() => r(null), 20_000).unref())]);
    assert.ok(started, 'ready within 20 s of the database coming back');
    const ready = await fetch(`${started.url}/readyz`);
    assert.equal(ready.status, 200);
  });
});
