// Attack: an agent rewrites its own tags to receive jobs meant for other agents (a deploy job tagged
// for the production runner, with that environment's secrets). Defence: tags are set when the agent
// is registered (by an admin or registration token) and changed only by an admin; nothing an agent
// token sends (announcing itself again, registering again, a job request) changes them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TestTandem } from '../support/tandem.js';
import { registerAgent } from './agent-protocol.js';

let tandem: TestTandem;

before(async () => {
  tandem = await TestTandem.start({ agents: 0 });
});

after(async () => {
  await tandem.close();
});

const tagsOf = async (agentId: number): Promise<string[]> => {
  const list = (await tandem.api<{ id: number; tags: string[] }[]>('GET', '/api/v1/agents')).body;
  return list.find((a) => a.id === agentId)!.tags;
};

test('an agent cannot give itself the tags of another agent’s jobs; an admin can give them', async () => {
  const { name } = await tandem.repo({ '.gitlab-ci.yml': 'deploy:\n  tags: [production]\n  script:\n    - echo deploying\n' });
  await tandem.trigger(name);
  const rogue = await registerAgent(tandem, 'rogue', ['linux']);

  const announced = await rogue.call<{ tags: string[] }>('PUT', '/api/v1/agent/self', { name: 'rogue', tags: ['linux', 'production'] });
  assert.equal(announced.status, 200, announced.text);
  assert.deepEqual(announced.body.tags, ['linux'], 'the answer names the tags the server keeps');
  assert.deepEqual(await tagsOf(rogue.id), ['linux']);

  const reRegistered = await rogue.call('POST', '/api/v1/agents', { name: 'rogue-2', tags: ['production'] });
  assert.equal(reRegistered.status, 403, `an agent token cannot register agents: ${reRegistered.text}`);
  const patched = await rogue.call('PATCH', `/api/v1/agents/${rogue.id}`, { tags: ['production'] });
  assert.equal(patched.status, 403, `an agent token cannot set tags: ${patched.text}`);
  const smuggled = await rogue.call('POST', '/api/v1/agent/jobs/request', { waitMs: 0, tags: ['production'] });
  assert.equal(smuggled.status, 422, `a job request takes no tags: ${smuggled.text}`);

  assert.equal(await rogue.claim(1500), null, 'the production job is not handed to the rogue agent');
  assert.deepEqual(await tagsOf(rogue.id), ['linux']);

  // The admin's decision is what counts.
  const byAdmin = await tandem.api('PATCH', `/api/v1/agents/${rogue.id}`, { tags: ['linux', 'production'] });
  assert.equal(byAdmin.status, 200, byAdmin.text);
  const job = await rogue.claim();
  assert.equal(job?.job.name, 'deploy');
});
