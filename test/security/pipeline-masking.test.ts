// A masked (or protected) variable expanded into workflow:name, environment:name, resource_group,
// artifacts:name or an include path was stored in clear and shown to everyone who can read the
// pipeline, guests included. Those fields and the compiler's errors now show [MASKED] instead.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TestTandem } from '../support/tandem.js';

const SECRET = 's3cr3t-Value-42';
const PROTECTED = 'protected-value-77';

let tandem: TestTandem;
before(async () => {
  tandem = await TestTandem.start({ agents: 0 });
});
after(async () => {
  await tandem.close();
});

async function repoWithSecrets(file: string): Promise<string> {
  const { name } = await tandem.repo({ '.gitlab-ci.yml': file });
  for (const variable of [
    { key: 'SECRET', value: SECRET, masked: true, protected: false },
    { key: 'GUARDED', value: PROTECTED, masked: false, protected: true },
    { key: 'PLAIN', value: 'plain-value', masked: false, protected: false },
  ]) {
    const res = await tandem.api('POST', `/api/v1/repos/${name}/variables`, variable);
    assert.equal(res.status, 201, res.text);
  }
  return name;
}

test('masked and protected values in workflow:name, environment, resource_group and artifacts:name are stored as [MASKED]', async () => {
  const repo = await repoWithSecrets(
    [
      'workflow:',
      '  name: "release $SECRET $PLAIN"',
      'deploy:',
      '  script: [echo]',
      '  environment:',
      '    name: review/$SECRET',
      '    url: https://$GUARDED.example.com',
      '  resource_group: lock-$SECRET',
      '  artifacts:',
      '    name: bundle-$GUARDED',
      '    paths: [out]',
      '  cache:',
      '    key: cache-$SECRET',
      '    paths: [c]',
      '',
    ].join('\n'),
  );
  const id = await tandem.trigger(repo);
  const pipeline = await tandem.pipeline(id);
  const shown = JSON.stringify(pipeline) + JSON.stringify((await tandem.api('GET', `/api/v1/jobs/${pipeline.jobs[0].id}`)).body);
  assert.ok(!shown.includes(SECRET), 'the masked value is not shown');
  assert.ok(!shown.includes(PROTECTED), 'the protected value is not shown');
  assert.match(shown, /release \[MASKED\] plain-value/);
  assert.match(shown, /review\/\[MASKED\]/);
  assert.match(shown, /lock-\[MASKED\]/);
});

test('an include path built from a masked variable is not echoed in the pipeline error', async () => {
  const repo = await repoWithSecrets('include: "ci/$SECRET.yml"\nj:\n  script: [echo]\n');
  const id = await tandem.trigger(repo);
  const pipeline = await tandem.pipeline(id);
  assert.equal(pipeline.status, 'failed');
  const shown = JSON.stringify(pipeline);
  assert.ok(!shown.includes(SECRET), shown);
  assert.match(shown, /ci\/\[MASKED\]\.yml/);
});
