// The replica's copy of its agents' tokens and tags, over an agents table kept in memory: one read
// per token however many requests race, removals and tag changes applied at the re-read (and the
// agent's waits released), idle agents forgotten so memory follows the agents that talk.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hashToken } from '../../src/auth/index.js';
import { AgentDirectory } from '../../src/server/agent-directory.js';
import type { AgentCredentials } from '../../src/scheduler/index.js';

function directoryOver(table: Map<number, AgentCredentials>) {
  let clock = 0;
  const lookups: string[] = [];
  const changed: number[] = [];
  const directory = new AgentDirectory({
    lookup: async (tokenHash) => {
      lookups.push(tokenHash);
      await new Promise((r) => setTimeout(r, 5));
      return [...table.values()].find((a) => a.tokenHash === tokenHash);
    },
    reread: async (ids) => ids.map((id) => table.get(id)).filter((a) => a !== undefined),
    onChange: (agentId) => changed.push(agentId),
    onError: (err) => assert.fail(err as Error),
    now: () => clock,
    refreshMs: 3_600_000,
    forgetAfterMs: 60_000,
  });
  return { directory, lookups, changed, advance: (ms: number) => (clock += ms) };
}

const agent = (id: number, token: string, tags: string[]): AgentCredentials => ({ id, tokenHash: hashToken(token), tags });

describe('AgentDirectory', () => {
  test('a token is read once, however many requests race for it; an unknown token is refused', async () => {
    const table = new Map([[1, agent(1, 'tda_one', ['linux'])]]);
    const { directory, lookups } = directoryOver(table);
    const principals = await Promise.all([1, 2, 3].map(() => directory.principal('tda_one')));
    assert.deepEqual(
      principals,
      [1, 2, 3].map(() => ({ kind: 'agent', agentId: 1 })),
    );
    await directory.principal('tda_one');
    assert.equal(lookups.length, 1);
    assert.deepEqual(directory.tags(1), ['linux']);
    await assert.rejects(directory.principal('tda_nobody'), /unknown or revoked agent token/);
    directory.stop();
  });

  test('the re-read applies removals and new tags, and tells whose waits to end', async () => {
    const table = new Map([
      [1, agent(1, 'tda_one', ['a'])],
      [2, agent(2, 'tda_two', ['b'])],
      [3, agent(3, 'tda_three', [])],
    ]);
    const { directory, changed, lookups } = directoryOver(table);
    for (const token of ['tda_one', 'tda_two', 'tda_three']) await directory.principal(token);
    table.delete(1);
    table.set(2, agent(2, 'tda_two', ['b', 'gpu']));
    await directory.refresh();
    assert.deepEqual(changed.sort(), [1, 2]);
    await assert.rejects(directory.principal('tda_one'), /revoked/, 'a removed agent is refused');
    await directory.principal('tda_two');
    assert.deepEqual(directory.tags(2), ['b', 'gpu'], 'read again with its new tags');
    assert.equal(lookups.length, 5, 'the unchanged agent was not read again');
    directory.stop();
  });

  test('forget drops an agent at once (a hub event); idle agents leave the copy at the re-read', async () => {
    const table = new Map([
      [1, agent(1, 'tda_one', [])],
      [2, agent(2, 'tda_two', [])],
    ]);
    const { directory, advance, changed } = directoryOver(table);
    await directory.principal('tda_one');
    await directory.principal('tda_two');
    directory.forget(1);
    assert.equal(directory.tags(1), undefined);
    assert.equal(directory.size, 1);
    advance(61_000);
    await directory.refresh();
    assert.equal(directory.size, 0, 'not heard from for a minute: forgotten');
    assert.deepEqual(changed, [], 'forgetting an idle agent changes nothing about it');
    directory.stop();
  });
});
