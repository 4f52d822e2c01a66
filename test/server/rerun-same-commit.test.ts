import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TestTandem } from '../support/tandem.js';

let tandem: TestTandem;
before(async () => {
  tandem = await TestTandem.start({ agents: 1, concurrency: 1 });
});
after(() => tandem.close());

test('running a pipeline again for the same commit does not auto-cancel the earlier run', async () => {
  const { name } = await tandem.repo({ '.gitlab-ci.yml': 'work:\n  interruptible: true\n  script: [sleep 0.5]\n' });
  const first = await tandem.trigger(name);
  const second = await tandem.trigger(name);
  // One slot: the first run waits for nothing, the second waits for the first; both complete.
  assert.equal((await tandem.waitForPipeline(first)).status, 'success');
  assert.equal((await tandem.waitForPipeline(second)).status, 'success');
});
