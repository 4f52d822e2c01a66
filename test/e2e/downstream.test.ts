// Downstream pipelines through a real server, real git and a real agent
// (https://docs.gitlab.com/ee/ci/pipelines/downstream_pipelines.html): child pipelines from files
// of the commit and from an artifact (dynamic), `strategy: depend`, variables handed down,
// multi-project pipelines, and cancelling a parent.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jobNamed, TestTandem, type PipelineView } from '../support/tandem.js';

let tandem: TestTandem;
before(async () => {
  tandem = await TestTandem.start({ agents: 1, concurrency: 3 });
});
after(() => tandem.close());

const FINAL = new Set(['success', 'failed', 'canceled', 'skipped']);

async function childOf(parent: PipelineView, index = 0): Promise<PipelineView> {
  const link = parent.downstream[index];
  assert.ok(link, `pipeline ${parent.id} has no downstream pipeline: ${JSON.stringify(parent.jobs.map((j) => [j.name, j.status]))}`);
  return tandem.waitForPipeline(link.id);
}

test('a child pipeline runs the included file; with depend the trigger job mirrors it and later stages wait', async () => {
  const { name } = await tandem.repo({
    '.gitlab-ci.yml': `
stages: [build, child, after]
variables:
  GLOBAL: from-parent
build:
  stage: build
  script: [echo built]
kid:
  stage: child
  variables:
    PARENT_PIPELINE_ID: $CI_PIPELINE_ID
  trigger:
    include: ci/child.yml
    strategy: depend
done:
  stage: after
  script: [echo done]
`,
    'ci/child.yml': `
inner:
  script:
    - echo "source=$CI_PIPELINE_SOURCE parent=$PARENT_PIPELINE_ID global=$GLOBAL"
  rules:
    - if: $CI_PIPELINE_SOURCE == "parent_pipeline"
never-here:
  script: [echo no]
  rules:
    - if: $CI_PIPELINE_SOURCE == "push"
`,
  });
  const parentId = await tandem.trigger(name);
  const parent = await tandem.waitForPipeline(parentId);
  assert.equal(parent.status, 'success', JSON.stringify(parent.jobs.map((j) => [j.name, j.status])));
  const child = await childOf(parent);
  assert.equal(child.status, 'success');
  assert.equal(child.source, 'parent_pipeline');
  assert.deepEqual(
    child.jobs.map((j) => j.name),
    ['inner'],
  );
  assert.deepEqual(child.parent, {
    id: parentId,
    repo: name,
    status: 'success',
    source: 'api',
    ref: 'main',
    triggerJob: { id: jobNamed(parent, 'kid').id, name: 'kid' },
  });
  assert.deepEqual(
    parent.downstream.map((d) => [d.id, d.repo, d.source, d.triggerJob?.name]),
    [[child.id, name, 'parent_pipeline', 'kid']],
  );
  const log = await tandem.log(jobNamed(child, 'inner').id);
  assert.match(log, new RegExp(`source=parent_pipeline parent=${parentId} global=from-parent`));
  // The trigger job ended with the child, and `done` started after it.
  const kid = jobNamed(parent, 'kid');
  assert.ok(new Date(kid.finishedAt!).getTime() >= new Date(child.finishedAt!).getTime() - 5);
  assert.ok(new Date(jobNamed(parent, 'done').startedAt!).getTime() >= new Date(kid.finishedAt!).getTime());
});

test('with depend a failing child fails the trigger job and the parent; without it the trigger job succeeds', async () => {
  const { name } = await tandem.repo({
    '.gitlab-ci.yml': `
depends:
  trigger:
    include: [{ local: child.yml }]
    strategy: depend
fire-and-forget:
  trigger:
    include: child.yml
`,
    'child.yml': 'boom:\n  script: [exit 3]\n',
  });
  const parent = await tandem.waitForPipeline(await tandem.trigger(name), (p) => p.status === 'failed' && p.downstream.length === 2);
  assert.equal(jobNamed(parent, 'depends').status, 'failed');
  assert.equal(jobNamed(parent, 'depends').failureReason, 'downstream_pipeline_failed');
  assert.equal(jobNamed(parent, 'fire-and-forget').status, 'success');
  for (const link of parent.downstream) assert.equal((await tandem.waitForPipeline(link.id)).status, 'failed');
});

test('a dynamic child pipeline is read from an artifact of an earlier job', async () => {
  const { name } = await tandem.repo({
    '.gitlab-ci.yml': `
generate:
  stage: build
  script:
    - mkdir -p gen
    - "printf 'made:\\\\n  script: [echo generated-job-ran]\\\\n' > gen/child.yml"
  artifacts:
    paths: [gen/]
run-generated:
  stage: test
  needs: [generate]
  trigger:
    include:
      - artifact: gen/child.yml
        job: generate
    strategy: depend
`,
  });
  const parent = await tandem.waitForPipeline(await tandem.trigger(name));
  assert.equal(parent.status, 'success', parent.error ?? JSON.stringify(parent.jobs.map((j) => [j.name, j.status])));
  const child = await childOf(parent);
  assert.deepEqual(
    child.jobs.map((j) => [j.name, j.status]),
    [['made', 'success']],
  );
  assert.match(await tandem.log(jobNamed(child, 'made').id), /generated-job-ran/);
});

test('a child fetches the artifacts of a parent job with needs:pipeline:job', async () => {
  // https://docs.gitlab.com/ee/ci/yaml/#needspipelinejob: the parent passes its id as PARENT_PIPELINE_ID.
  const { name } = await tandem.repo({
    '.gitlab-ci.yml': `
build:
  stage: build
  script: [mkdir -p out, echo "made-by-parent-$CI_PIPELINE_ID" > out/result.txt]
  artifacts:
    paths: [out/]
child:
  stage: test
  variables:
    PARENT_PIPELINE_ID: $CI_PIPELINE_ID
  trigger:
    include: child.yml
    strategy: depend
`,
    'child.yml': `
use:
  script: [cat out/result.txt]
  needs:
    - pipeline: $PARENT_PIPELINE_ID
      job: build
`,
  });
  const parent = await tandem.waitForPipeline(await tandem.trigger(name));
  assert.equal(parent.status, 'success', JSON.stringify(parent.jobs.map((j) => [j.name, j.status])));
  const child = await childOf(parent);
  assert.match(await tandem.log(jobNamed(child, 'use').id), new RegExp(`made-by-parent-${parent.id}`));
});

test('child pipelines nest two levels deep at most (GitLab), so a child that triggers itself stops', async () => {
  const { name } = await tandem.repo({
    '.gitlab-ci.yml': 'kid:\n  trigger:\n    include: child.yml\n',
    'child.yml': 'again:\n  trigger:\n    include: child.yml\n',
  });
  const parent = await tandem.waitForPipeline(await tandem.trigger(name));
  const child = await tandem.waitForPipeline(parent.downstream[0].id, (p) => p.downstream.length === 1 && FINAL.has(p.status));
  const grandchild = await tandem.waitForPipeline(child.downstream[0].id);
  assert.equal(grandchild.status, 'failed');
  assert.deepEqual(grandchild.downstream, []);
  assert.match(await tandem.log(jobNamed(grandchild, 'again').id), /maximum depth of child pipelines \(2/);
});

test('a child pipeline whose file is missing fails the trigger job (no depend needed)', async () => {
  const { name } = await tandem.repo({ '.gitlab-ci.yml': 'kid:\n  trigger:\n    include: missing.yml\n' });
  const parent = await tandem.waitForPipeline(await tandem.trigger(name));
  assert.equal(parent.status, 'failed');
  assert.equal(jobNamed(parent, 'kid').failureReason, 'downstream_pipeline_creation_failed');
  const child = await childOf(parent);
  assert.match(child.error ?? '', /missing\.yml/);
});

test('a multi-project pipeline runs the other repository on its branch with the trigger variables', async () => {
  const downstream = await tandem.repo({
    '.gitlab-ci.yml': `
greet:
  script: [echo "hello from $CI_PROJECT_NAME source=$CI_PIPELINE_SOURCE msg=$MESSAGE"]
  rules:
    - if: $CI_PIPELINE_SOURCE == "pipeline"
`,
  });
  // Its GitLab project path, as trigger:project names it (the name answers when it has none).
  const renamed = await tandem.api('PATCH', `/api/v1/repos/${downstream.name}`, { path: `group/${downstream.name}` });
  assert.equal(renamed.status, 200, renamed.text);
  const { name } = await tandem.repo({
    '.gitlab-ci.yml': `
deploy-other:
  variables:
    MESSAGE: upstream-says-hi
  trigger:
    project: group/${downstream.name}
    branch: main
    strategy: depend
unknown:
  trigger: group/no-such-repo
  allow_failure: true
`,
  });
  const parent = await tandem.waitForPipeline(await tandem.trigger(name));
  assert.equal(parent.status, 'success', JSON.stringify(parent.jobs.map((j) => [j.name, j.status])));
  assert.equal(jobNamed(parent, 'unknown').status, 'failed');
  assert.match(await tandem.log(jobNamed(parent, 'unknown').id), /no repository "group\/no-such-repo"/);
  const child = await childOf(parent);
  assert.equal(child.repo, downstream.name);
  assert.equal(child.source, 'pipeline');
  assert.match(
    await tandem.log(jobNamed(child, 'greet').id),
    new RegExp(`hello from ${downstream.name} source=pipeline msg=upstream-says-hi`),
  );
});

test('cancelling the parent cancels the child pipeline', async () => {
  const { name } = await tandem.repo({
    '.gitlab-ci.yml': 'kid:\n  trigger:\n    include: child.yml\n    strategy: depend\n',
    'child.yml': 'slow:\n  script: [sleep 30]\n',
  });
  const parentId = await tandem.trigger(name);
  const running = await tandem.waitForPipeline(parentId, (p) => p.downstream.length === 1);
  await tandem.waitForPipeline(running.downstream[0].id, (p) => p.jobs.some((j) => j.status === 'running'));
  const res = await tandem.api('POST', `/api/v1/pipelines/${parentId}/cancel`);
  assert.equal(res.status, 200, res.text);
  const parent = await tandem.waitForPipeline(parentId);
  assert.equal(parent.status, 'canceled');
  const child = await tandem.waitForPipeline(running.downstream[0].id);
  assert.equal(child.status, 'canceled');
});

test('a pipeline of an unprotected branch cannot start a pipeline on a protected branch of another repository', async () => {
  // GitLab checks the triggering user's rights downstream; Tandem has no such user, so it compares protection.
  const downstream = await tandem.repo({ '.gitlab-ci.yml': 'greet:\n  script: [echo hi]\n' });
  const { name, remote } = await tandem.repo({ '.gitlab-ci.yml': `other:\n  trigger:\n    project: ${downstream.name}\n` });
  await remote.push('main:feature');
  const parent = await tandem.waitForPipeline(await tandem.trigger(name, { ref: 'feature' }));
  assert.equal(jobNamed(parent, 'other').status, 'failed');
  assert.match(
    await tandem.log(jobNamed(parent, 'other').id),
    /branch main of repo\d+ is protected, and this pipeline's ref feature is not/,
  );
  assert.deepEqual(parent.downstream, []);
});

test('a multi-project trigger follows the include access rule: a member of this repository who is none of the other refuses it', async () => {
  // docs/security.md: a repository reaches another only when every member of it is a member of the other.
  const downstream = await tandem.repo({ '.gitlab-ci.yml': 'greet:\n  script: [echo hi]\n' });
  const { name } = await tandem.repo({ '.gitlab-ci.yml': `other:\n  trigger:\n    project: ${downstream.name}\n` });
  const user = await tandem.api('POST', '/api/v1/users', { username: `outsider-${name}`, password: 'correct-horse-battery-staple-9' });
  assert.equal(user.status, 201, user.text);
  const member = await tandem.api('PUT', `/api/v1/repos/${name}/members/outsider-${name}`, { role: 'developer' });
  assert.ok(member.status < 300, member.text);
  const parent = await tandem.waitForPipeline(await tandem.trigger(name));
  assert.equal(jobNamed(parent, 'other').status, 'failed');
  assert.match(
    await tandem.log(jobNamed(parent, 'other').id),
    /has members who are not members of `repo\d+`, so its pipelines may not start a pipeline there/,
  );
  assert.deepEqual(parent.downstream, []);
});
