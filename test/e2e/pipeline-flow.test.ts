// How a pipeline file becomes jobs and in which order they run: needs (DAG) versus stages, rules,
// workflow rules, parallel and matrix jobs, extends and local includes, variable precedence and
// the predefined CI_* variables, all through a real server, real git and real agents.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jobNamed, TestTandem, type PipelineView } from '../support/tandem.js';
import { deliver, pushDelivery } from './helpers.js';

let tandem: TestTandem;
before(async () => {
  tandem = await TestTandem.start({ agents: 1, concurrency: 3 });
});
after(() => tandem.close());

const ms = (iso: string | null) => {
  assert.ok(iso, 'timestamp expected');
  return new Date(iso).getTime();
};

async function run(files: Record<string, string>): Promise<{ p: PipelineView; name: string }> {
  const { name } = await tandem.repo(files);
  const p = await tandem.waitForPipeline(await tandem.trigger(name));
  return { p, name };
}

test('needs: [] starts a later-stage job before an earlier stage ends; stages otherwise run in order', async () => {
  const { p } = await run({
    '.gitlab-ci.yml': `
stages: [build, test, deploy]
build:
  stage: build
  script: [sleep 1.2, echo built]
lint:
  stage: test
  needs: []
  script: [echo linted]
unit:
  stage: test
  script: [echo unit]
ship:
  stage: deploy
  script: [echo shipped]
`,
  });
  assert.equal(p.status, 'success', JSON.stringify(p.jobs));
  const [build, lint, unit, ship] = ['build', 'lint', 'unit', 'ship'].map((n) => jobNamed(p, n));
  assert.ok(
    ms(lint.startedAt) < ms(build.finishedAt),
    `lint (needs: []) must start while build runs: ${lint.startedAt} vs ${build.finishedAt}`,
  );
  assert.ok(ms(lint.finishedAt) < ms(build.finishedAt), 'lint finishes during build');
  assert.ok(ms(unit.startedAt) >= ms(build.finishedAt), 'unit follows stage order');
  assert.ok(ms(ship.startedAt) >= ms(unit.finishedAt), 'deploy stage after test stage');
  assert.ok(ms(ship.startedAt) >= ms(lint.finishedAt));
});

test('workflow rules can refuse a pipeline (422 with the reason) and rules:if selects jobs by branch', async () => {
  const files = {
    '.gitlab-ci.yml': `
workflow:
  rules:
    - if: $CI_COMMIT_BRANCH == "wip"
      when: never
    - when: always
on-main:
  script: [echo main-only]
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
on-feature:
  script: [echo feature-only]
  rules:
    - if: $CI_COMMIT_BRANCH == "feature"
always:
  script: [echo always]
`,
  };
  const { name, remote } = await tandem.repo(files);
  await remote.push('main:wip', 'main:feature');

  const refused = await tandem.api<{ message: string }>('POST', `/api/v1/repos/${name}/pipelines`, { ref: 'wip' });
  assert.equal(refused.status, 422);
  assert.match(refused.body.message, /pipeline not created/);
  const list = await tandem.api<unknown[]>('GET', `/api/v1/repos/${name}/pipelines`);
  assert.equal(list.body.length, 0, 'a pipeline refused by workflow rules leaves no record');

  const onMain = await tandem.waitForPipeline(await tandem.trigger(name, { ref: 'main' }));
  assert.deepEqual(onMain.jobs.map((j) => j.name).sort(), ['always', 'on-main']);
  const onFeature = await tandem.waitForPipeline(await tandem.trigger(name, { ref: 'feature' }));
  assert.deepEqual(onFeature.jobs.map((j) => j.name).sort(), ['always', 'on-feature']);
  assert.equal(onFeature.status, 'success');
  assert.match(await tandem.log(jobNamed(onFeature, 'on-feature').id), /feature-only/);
});

test('rules:changes looks at the files changed by a push', async () => {
  const secret = 'changes-secret-123';
  const {
    name,
    remote,
    sha: first,
  } = await tandem.repo(
    {
      '.gitlab-ci.yml': `
code:
  script: [echo code changed]
  rules:
    - changes: ["src/**/*"]
docs:
  script: [echo docs changed]
  rules:
    - changes: ["docs/*.md"]
`,
      'src/app.js': 'console.log(1)\n',
      'docs/index.md': '# docs\n',
    },
    { webhookSecret: secret },
  );
  const second = await remote.commit({ 'docs/index.md': '# docs, edited\n' }, 'edit docs');
  await remote.push('main');
  const res = await deliver(
    tandem.url,
    'github',
    name,
    pushDelivery('github', secret, { ref: 'refs/heads/main', before: first, after: second, deliveryId: 'changes-1' }),
  );
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const p = await tandem.waitForPipeline(res.body.pipelineId as number);
  assert.equal(p.sha, second);
  assert.deepEqual(
    p.jobs.map((j) => j.name),
    ['docs'],
    'only the job whose files changed runs',
  );
});

test('parallel: matrix expands to named jobs with their variables; parallel: N sets CI_NODE_INDEX/TOTAL', async () => {
  const { p } = await run({
    '.gitlab-ci.yml': `
test:
  parallel:
    matrix:
      - OS: [linux, mac]
        ARCH: [x64]
  script: [echo "os=$OS arch=$ARCH"]
shard:
  parallel: 2
  script: [echo "node=$CI_NODE_INDEX/$CI_NODE_TOTAL"]
`,
  });
  assert.equal(p.status, 'success', JSON.stringify(p.jobs));
  assert.deepEqual(p.jobs.map((j) => j.name).sort(), ['shard 1/2', 'shard 2/2', 'test: [linux, x64]', 'test: [mac, x64]']);
  assert.match(await tandem.log(jobNamed(p, 'test: [linux, x64]').id), /os=linux arch=x64/);
  assert.match(await tandem.log(jobNamed(p, 'test: [mac, x64]').id), /os=mac arch=x64/);
  assert.match(await tandem.log(jobNamed(p, 'shard 1/2').id), /node=1\/2/);
  assert.match(await tandem.log(jobNamed(p, 'shard 2/2').id), /node=2\/2/);
});

test('extends a template from an include: local file of the repository', async () => {
  const { p } = await run({
    'ci/templates.yml': `
.base:
  before_script: [echo from-template-before]
  variables:
    FLAVOUR: template
`,
    '.gitlab-ci.yml': `
include:
  - local: ci/templates.yml
job:
  extends: .base
  script: [echo "flavour=$FLAVOUR"]
`,
  });
  assert.equal(p.status, 'success', JSON.stringify(p.jobs));
  const log = await tandem.log(jobNamed(p, 'job').id);
  assert.match(log, /from-template-before/);
  assert.match(log, /flavour=template/);
});

test('a repository variable beats the file’s global and job variables', async () => {
  const { name } = await tandem.repo({
    '.gitlab-ci.yml': `
variables:
  GLOBAL_WHO: file-global
  KEEP: from-file
job:
  variables:
    JOB_WHO: file-job
  script: [echo "global=$GLOBAL_WHO job=$JOB_WHO keep=$KEEP"]
`,
  });
  for (const key of ['GLOBAL_WHO', 'JOB_WHO']) {
    const res = await tandem.api('POST', `/api/v1/repos/${name}/variables`, { key, value: `repo-${key}` });
    assert.equal(res.status, 201, res.text);
  }
  const p = await tandem.waitForPipeline(await tandem.trigger(name));
  assert.match(await tandem.log(jobNamed(p, 'job').id), /global=repo-GLOBAL_WHO job=repo-JOB_WHO keep=from-file/);
});

test('predefined variables name the commit, pipeline and job; CI_PROJECT_DIR is the job’s working directory', async () => {
  const { p } = await run({
    '.gitlab-ci.yml': `
job:
  script:
    - echo "sha=$CI_COMMIT_SHA pipeline=$CI_PIPELINE_ID job=$CI_JOB_ID branch=$CI_COMMIT_BRANCH"
    - test "$(pwd -P)" = "$(cd "$CI_PROJECT_DIR" && pwd -P)" && echo cwd-is-project-dir
    - test -f .gitlab-ci.yml && echo checkout-present
    - echo "title=$CI_COMMIT_TITLE author=$CI_COMMIT_AUTHOR at=$CI_COMMIT_TIMESTAMP message=$CI_COMMIT_MESSAGE"
    - echo "job-url=$CI_JOB_URL node-total=$CI_NODE_TOTAL"
    - echo "name=$CI_PIPELINE_NAME project-id=$CI_PROJECT_ID protected=$CI_COMMIT_REF_PROTECTED"
workflow:
  name: "Train $CI_COMMIT_BRANCH"
`,
  });
  assert.equal(p.status, 'success', JSON.stringify(p.jobs));
  const job = jobNamed(p, 'job');
  const log = await tandem.log(job.id);
  assert.match(log, new RegExp(`sha=${p.sha} pipeline=${p.id} job=${job.id} branch=main`));
  // GitLab's CI_COMMIT_*: read from git when the pipeline was made, stored and shown with it.
  assert.ok(p.commit, 'the pipeline records its commit');
  assert.equal(p.commit.title, 'initial');
  assert.equal(p.commit.author, 'Tandem Test <test@tandem.invalid>');
  assert.match(p.commit.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/);
  assert.match(
    log,
    new RegExp(`title=initial author=Tandem Test <test@tandem.invalid> at=${p.commit.timestamp.replace('+', '\\+')} message=initial`),
  );
  assert.match(log, new RegExp(`job-url=\\S+/jobs/${job.id} node-total=1`));
  assert.match(log, /^cwd-is-project-dir$/m);
  assert.match(log, /^checkout-present$/m);
  // The workflow:name, the repository's id and true: the default branch is protected unless
  // configured otherwise, as in GitLab.
  assert.match(log, /^name=Train main project-id=\d+ protected=true$/m);
});

// GitLab: a commit message with [skip ci] or [ci skip] (any case) makes no push pipeline, while a
// pipeline run by hand at that commit still runs. https://docs.gitlab.com/ci/pipelines/#skip-a-pipeline
test('a push whose commit message says [skip ci] makes no pipeline; a run by hand does', async () => {
  const secret = 'skip-ci-secret';
  const { name, remote, sha: first } = await tandem.repo({ '.gitlab-ci.yml': 'job:\n  script: [echo ran]\n' }, { webhookSecret: secret });
  const skipped = await remote.commit({ 'README.md': 'typo\n' }, 'Fix a typo [CI SKIP]');
  await remote.push('main');
  const res = await deliver(
    tandem.url,
    'gitlab',
    name,
    pushDelivery('gitlab', secret, { ref: 'refs/heads/main', before: first, after: skipped, deliveryId: 'skip-ci-1' }),
  );
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.match(String(res.body.reason), /skip CI/);
  const list = await tandem.api<unknown[]>('GET', `/api/v1/repos/${name}/pipelines`);
  assert.equal(list.body.length, 0);

  const byHand = await tandem.waitForPipeline(await tandem.trigger(name, { ref: 'main' }));
  assert.equal(byHand.sha, skipped);
  assert.equal(byHand.status, 'success');
});
