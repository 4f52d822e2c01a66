// artifacts:reports:dotenv on a real server and agent: the report's variables reach the jobs that
// take the job's artifacts, above the job's own `variables:` and below project variables (GitLab's
// precedence), and a malformed report fails its job as GitLab refuses its upload.
// https://docs.gitlab.com/ee/ci/yaml/artifacts_reports.html#artifactsreportsdotenv
// https://docs.gitlab.com/ee/ci/variables/#cicd-variable-precedence
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { jobNamed, TestTandem } from '../support/tandem.js';

describe('artifacts:reports:dotenv', () => {
  let tandem: TestTandem;
  before(async () => {
    tandem = await TestTandem.start({ agents: 1, concurrency: 2 });
  });
  after(async () => {
    await tandem.close();
  });

  test('passes variables to later stages and needs, not to needs without artifacts; precedence as GitLab', async () => {
    const { name } = await tandem.repo({
      '.gitlab-ci.yml': `
stages: [build, test]
build:
  stage: build
  script:
    - echo "VERSION=1.2.3" > build.env
    - echo "FROM_JOB=dotenv" >> build.env
    - echo "FROM_PROJECT=dotenv" >> build.env
  artifacts:
    reports:
      dotenv: build.env
stage-order:
  stage: test
  variables: { FROM_JOB: job }
  script: [echo "v=$VERSION job=$FROM_JOB project=$FROM_PROJECT"]
early:
  stage: build
  needs: [build]
  script: [echo "early=$VERSION"]
blind:
  stage: test
  needs: [{ job: build, artifacts: false }]
  script:
    - 'echo "blind=[$VERSION]"'
`,
    });
    const res = await tandem.api('POST', `/api/v1/repos/${name}/variables`, { key: 'FROM_PROJECT', value: 'project' });
    assert.ok(res.status < 300, res.text);
    const p = await tandem.waitForPipeline(await tandem.trigger(name));
    assert.equal(p.status, 'success', JSON.stringify(p.jobs.map((j) => [j.name, j.status])));
    assert.match(await tandem.log(jobNamed(p, 'stage-order').id), /^v=1\.2\.3 job=dotenv project=project$/m);
    assert.match(await tandem.log(jobNamed(p, 'early').id), /^early=1\.2\.3$/m);
    assert.match(await tandem.log(jobNamed(p, 'blind').id), /^blind=\[\]$/m);
  });

  test('a malformed report fails its job; a missing one is a warning', async () => {
    const { name } = await tandem.repo({
      '.gitlab-ci.yml': `
broken:
  script: [printf 'A=1\\n\\nB=2\\n' > out.env]
  artifacts: { reports: { dotenv: out.env } }
missing:
  script: [echo fine]
  artifacts: { reports: { dotenv: nowhere.env } }
`,
    });
    const p = await tandem.waitForPipeline(await tandem.trigger(name));
    assert.equal(jobNamed(p, 'broken').status, 'failed');
    assert.match(await tandem.log(jobNamed(p, 'broken').id), /out\.env:2: not KEY=VALUE \(empty lines are not allowed\)/);
    assert.equal(jobNamed(p, 'missing').status, 'success');
    assert.match(await tandem.log(jobNamed(p, 'missing').id), /nowhere\.env: no matching files/);
  });
});
