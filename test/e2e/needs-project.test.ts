// needs:project between repositories registered in one Tandem (GitLab's
// https://docs.gitlab.com/ci/yaml/#needsproject): a job downloads the artifacts of a job of the
// latest successful pipeline of another repository on a ref, without waiting for that pipeline.
// When there is no such job, GitLab fails the job at its start; so does Tandem, with the reason in
// its log. The access rule is include:project's (docs/security.md).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TestTandem } from '../support/tandem.js';
import { addOutsider } from './helpers.js';

let tandem: TestTandem;
before(async () => {
  tandem = await TestTandem.start({ agents: 1 });
  await tandem.repo(
    {
      '.gitlab-ci.yml':
        'build-1:\n  script:\n    - mkdir -p out\n    - echo "built by $CI_PROJECT_PATH at $CI_COMMIT_REF_NAME" > out/result.txt\n  artifacts:\n    paths: [out/]\n',
    },
    { name: 'other' },
  );
  const patched = await tandem.api('PATCH', '/api/v1/repos/other', { path: 'group/other' });
  assert.equal(patched.status, 200, patched.text);
  const upstream = await tandem.waitForPipeline(await tandem.trigger('other'));
  assert.equal(upstream.status, 'success', JSON.stringify(upstream.jobs));
});
after(() => tandem.close());

const jobOf = (p: { jobs: { id: number; name: string; status: string }[] }, name: string) => {
  const job = p.jobs.find((j) => j.name === name);
  assert.ok(job, `no job ${name}`);
  return job;
};

test("a job reads the artifacts of another repository's job on a ref; artifacts: false downloads none", async () => {
  const { name } = await tandem.repo({
    '.gitlab-ci.yml': [
      'use:',
      '  script: cat out/result.txt',
      '  needs:',
      '    - project: group/other',
      '      job: build-1',
      '      ref: $CI_COMMIT_REF_NAME',
      '      artifacts: true',
      'without:',
      '  script: test ! -e out/result.txt && echo "no artifacts"',
      '  needs:',
      '    - project: group/other',
      '      job: build-1',
      '      ref: main',
      '      artifacts: false',
      '',
    ].join('\n'),
  });
  const p = await tandem.waitForPipeline(await tandem.trigger(name));
  assert.equal(p.status, 'success', p.error ?? JSON.stringify(p.jobs));
  assert.match(await tandem.log(jobOf(p, 'use').id), /built by group\/other at main/);
  assert.match(await tandem.log(jobOf(p, 'without').id), /no artifacts/);
});

test('no successful pipeline on the ref fails the job at its start with the reason', async () => {
  const { name } = await tandem.repo({
    '.gitlab-ci.yml': 'use:\n  script: echo ran\n  needs:\n    - project: group/other\n      job: build-1\n      ref: release\n',
  });
  const p = await tandem.waitForPipeline(await tandem.trigger(name));
  assert.equal(p.status, 'failed');
  const use = jobOf(p, 'use');
  assert.equal(use.status, 'failed');
  const log = await tandem.log(use.id);
  assert.match(log, /no successful job `build-1` in the latest successful pipeline of group\/other on release/);
  assert.doesNotMatch(log, /ran/);
});

test('a repository with a member who is not one of the other fails the job: its artifacts are not handed out', async () => {
  const { name } = await tandem.repo({
    '.gitlab-ci.yml': 'use:\n  script: cat out/result.txt\n  needs:\n    - project: group/other\n      job: build-1\n      ref: main\n',
  });
  await addOutsider(tandem, name);
  const p = await tandem.waitForPipeline(await tandem.trigger(name));
  assert.equal(p.status, 'failed');
  const log = await tandem.log(jobOf(p, 'use').id);
  assert.match(log, /members who are not members of `other`, so its pipelines may not read its artifacts/);
  assert.doesNotMatch(log, /built by/);
});
