import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jobNamed, TestTandem } from '../support/tandem.js';

let tandem: TestTandem;
before(async () => {
  tandem = await TestTandem.start({ agents: 1 });
});
after(() => tandem.close());

test('a pushed repository builds through stages with artifacts passed along needs', async () => {
  const { name, sha } = await tandem.repo({
    '.gitlab-ci.yml': `
stages: [build, test]
build:
  stage: build
  script:
    - mkdir -p out && echo "built $CI_COMMIT_SHA" > out/result.txt
  artifacts:
    name: result-$CI_COMMIT_SHORT_SHA
    paths: [out/]
check:
  stage: test
  needs: [build]
  script:
    - cat out/result.txt
    - test "$(cat out/result.txt)" = "built $CI_COMMIT_SHA"
`,
  });
  const id = await tandem.trigger(name);
  const p = await tandem.waitForPipeline(id);
  assert.equal(p.status, 'success', JSON.stringify(p.jobs));
  assert.equal(p.sha, sha);
  const check = jobNamed(p, 'check');
  assert.ok(new Date(check.startedAt!) >= new Date(jobNamed(p, 'build').finishedAt!));
  assert.match(await tandem.log(check.id), new RegExp(`built ${sha}`));
  const file = await tandem.api('GET', `/api/v1/jobs/${jobNamed(p, 'build').id}/artifacts/out/result.txt`);
  assert.equal(file.status, 200);
  assert.equal(file.text, `built ${sha}\n`);
  const archive = await tandem.api('GET', `/api/v1/jobs/${jobNamed(p, 'build').id}/artifacts`);
  assert.equal(archive.status, 200);
  assert.equal(archive.headers.get('content-disposition'), `attachment; filename="result-${sha.slice(0, 8)}.tar.gz"`);
});
