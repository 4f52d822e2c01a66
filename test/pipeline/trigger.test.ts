// `trigger:` jobs as the compiler sees them (https://docs.gitlab.com/ee/ci/yaml/#trigger): the
// downstream pipeline is described, not run; the server starts it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileOk, expectError, job } from './helpers.js';

describe('trigger jobs', () => {
  it('a child pipeline from local files, with strategy depend and the job variables', async () => {
    const p = await compileOk(
      'variables:\n  G: g\nchild:\n  stage: test\n  variables:\n    PARENT_PIPELINE_ID: $CI_PIPELINE_ID\n  trigger:\n    include:\n      - local: child.yml\n      - other.yml\n    strategy: depend\n',
    );
    const child = job(p, 'child');
    assert.deepEqual(child.trigger, {
      include: [{ local: 'child.yml' }, 'other.yml'],
      project: null,
      branch: null,
      depend: true,
      forward: { yamlVariables: true, pipelineVariables: false },
    });
    assert.deepEqual(child.script, []);
    assert.deepEqual(child.variables, { PARENT_PIPELINE_ID: '$CI_PIPELINE_ID' });
  });

  it('the string form names a project; branch variables are expanded; forward overrides the defaults', async () => {
    const p = await compileOk(
      'variables:\n  TARGET: main\nshort:\n  trigger: group/app\nlong:\n  trigger:\n    project: group/app\n    branch: $TARGET\n    forward:\n      pipeline_variables: true\n      yaml_variables: false\n',
    );
    assert.deepEqual(job(p, 'short').trigger, {
      include: null,
      project: 'group/app',
      branch: null,
      depend: false,
      forward: { yamlVariables: true, pipelineVariables: false },
    });
    assert.deepEqual(job(p, 'long').trigger?.branch, 'main');
    assert.deepEqual(job(p, 'long').trigger?.forward, { yamlVariables: false, pipelineVariables: true });
  });

  it('a dynamic child pipeline names the artifact and the job that makes it', async () => {
    const p = await compileOk(
      'gen:\n  stage: build\n  script: make child.yml\n  artifacts:\n    paths: [child.yml]\nrun:\n  stage: test\n  needs: [gen]\n  trigger:\n    include:\n      - artifact: child.yml\n        job: gen\n',
    );
    assert.deepEqual(job(p, 'run').trigger?.include, [{ artifact: 'child.yml', job: 'gen' }]);
    assert.deepEqual(job(p, 'run').needs, [{ job: 'gen', artifacts: true, optional: false }]);
  });

  it('default: keys are not given to trigger jobs (GitLab bridges run no script)', async () => {
    const p = await compileOk('default:\n  before_script: [echo hi]\n  image: alpine\nchild:\n  trigger:\n    include: c.yml\n');
    assert.deepEqual(job(p, 'child').beforeScript, []);
    assert.equal(job(p, 'child').image, null);
  });

  it('a trigger job with a script, or without include or project, is a positioned error', async () => {
    await expectError('child:\n  script: x\n  trigger:\n    include: c.yml\n', 2, 3, 'a trigger job cannot have `script`');
    await expectError('child:\n  trigger:\n    strategy: depend\n', 3, 5, 'needs `include` (a child pipeline) or `project`');
    await expectError('child:\n  trigger:\n    include: c.yml\n    project: a/b\n', 3, 5, 'not both');
    await expectError('child:\n  trigger:\n    include:\n      - artifact: c.yml\n', 4, 9, '`artifact` needs `job`');
    await expectError('child:\n  trigger:\n    include: c.yml\n    strategy: mirror\n', 4, 15, 'depend');
  });

  it("needs:pipeline:job names a job of another pipeline: kept apart from this pipeline's needs", async () => {
    // https://docs.gitlab.com/ee/ci/yaml/#needspipelinejob
    const p = await compileOk('use:\n  script: cat out.txt\n  needs:\n    - pipeline: $PARENT_PIPELINE_ID\n      job: build\n');
    assert.deepEqual(job(p, 'use').needs, []);
    assert.deepEqual(job(p, 'use').pipelineNeeds, [{ pipeline: '$PARENT_PIPELINE_ID', job: 'build', artifacts: true }]);
  });

  it("needs:project names a job of another repository: kept apart from this pipeline's needs", async () => {
    // https://docs.gitlab.com/ci/yaml/#needsproject: project, job and ref; artifacts defaults to true.
    const p = await compileOk(
      'use:\n  script: cat out.txt\n  needs:\n    - project: group/other\n      job: build-1\n      ref: $CI_COMMIT_REF_NAME\n    - project: group/docs\n      job: pages\n      ref: main\n      artifacts: false\n',
    );
    assert.deepEqual(job(p, 'use').needs, []);
    assert.deepEqual(job(p, 'use').projectNeeds, [
      { project: 'group/other', job: 'build-1', ref: '$CI_COMMIT_REF_NAME', artifacts: true },
      { project: 'group/docs', job: 'pages', ref: 'main', artifacts: false },
    ]);
  });

  it('needs:project without job or ref, or with pipeline, is a positioned error', async () => {
    await expectError('use:\n  script: x\n  needs:\n    - project: g/p\n      ref: main\n', 4, 7, 'job');
    await expectError('use:\n  script: x\n  needs:\n    - project: g/p\n      job: build\n', 4, 7, 'needs `ref`');
    await expectError('use:\n  script: x\n  needs:\n    - job: build\n      ref: main\n', 5, 7, 'only goes with `project`');
    await expectError(
      'use:\n  script: x\n  needs:\n    - project: g/p\n      job: build\n      ref: main\n      pipeline: "1"\n',
      7,
      7,
      'not both',
    );
  });
});
