// An agent's last_seen_at (what shows it online) is written at most once per `everyMs`: an agent
// claiming short jobs back to back no longer rewrites its row once per job. On SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { claimingAgent, markAgentSeen, registerAgent } from '../../src/scheduler/index.js';
import { backends } from '../store/helpers.js';
import { freshTestDb, T0 } from './helpers.js';

for (const backend of backends()) {
  describe(`agent last seen (${backend.name})`, { skip: backend.skip }, () => {
    const db = freshTestDb(backend);

    const lastSeen = async (id: number) =>
      (await db.store.db.selectFrom('agents').select('last_seen_at').where('id', '=', id).executeTakeFirstOrThrow()).last_seen_at;

    it('is rewritten once everyMs passed, not before, and only for that agent', async () => {
      const agent = await registerAgent(db.store.db, { name: 'a', tokenHash: 'h1', tags: [], concurrency: 1, version: 'v', now: T0 });
      const other = await registerAgent(db.store.db, { name: 'b', tokenHash: 'h2', tags: [], concurrency: 1, version: 'v', now: T0 });
      await markAgentSeen(db.store.db, { agentId: agent, now: T0 + 999, everyMs: 1000 });
      assert.equal(Number(await lastSeen(agent)), T0, 'seen less than everyMs ago: no write');
      await markAgentSeen(db.store.db, { agentId: agent, now: T0 + 1000, everyMs: 1000 });
      assert.equal(Number(await lastSeen(agent)), T0 + 1000);
      await markAgentSeen(db.store.db, { agentId: agent, now: T0 + 1500, everyMs: 1000 });
      assert.equal(Number(await lastSeen(agent)), T0 + 1000);
      assert.equal(Number(await lastSeen(other)), T0);
      assert.deepEqual(await claimingAgent(db.store.db, agent), { tags: [], lastSeenAt: T0 + 1000 });
    });

    it('is written when the agent was never seen', async () => {
      const agent = await registerAgent(db.store.db, { name: 'a', tokenHash: 'h1', tags: [], concurrency: 1, version: 'v', now: T0 });
      await db.store.db.updateTable('agents').set({ last_seen_at: null }).where('id', '=', agent).execute();
      await markAgentSeen(db.store.db, { agentId: agent, now: T0 + 10, everyMs: 1000 });
      assert.equal(Number(await lastSeen(agent)), T0 + 10);
    });
  });
}
