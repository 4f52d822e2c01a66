// `spec:inputs` headers and `include:inputs`, as https://docs.gitlab.com/ci/inputs/ documents them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { posixEscape } from '../../src/pipeline/inputs.js';
import { compileErrors, compileOk, expectError, job, names } from './helpers.js';

const TEMPLATE = `spec:
  inputs:
    stage:
      default: test
    job-prefix:
      description: Prefix of the job names
    retries:
      type: number
      default: 1
    allow:
      type: boolean
      default: false
    env:
      options: [dev, prod]
      default: dev
    version:
      regex: ^v\\d+\\.\\d+$
      default: v1.0
    extra-needs:
      type: array
      default: []
---
"$[[ inputs.job-prefix ]]-build":
  stage: $[[ inputs.stage ]]
  retry: $[[ inputs.retries ]]
  allow_failure: $[[ inputs.allow ]]
  needs: $[[ inputs.extra-needs ]]
  script:
    - echo deploying $[[ inputs.version ]] to $[[ inputs.env ]]
`;

const including = (inputs: string): string => `stages: [prep, test, deploy]
prep:
  stage: prep
  script: [echo prep]
include:
  - local: templates/build.yml
    inputs:
${inputs}
`;

describe('spec:inputs and include:inputs', () => {
  it('defaults fill the inputs not given, and values keep their types', async () => {
    const p = await compileOk(including('      job-prefix: app'), { files: { 'templates/build.yml': TEMPLATE } });
    const build = job(p, 'app-build');
    assert.equal(build.stage, 'test');
    assert.equal(build.retry.max, 1);
    assert.equal(build.allowFailure, false);
    assert.deepEqual(build.needs, []);
    assert.deepEqual(build.script, ['echo deploying v1.0 to dev']);
  });

  it('given inputs win; an array input becomes a YAML list', async () => {
    const p = await compileOk(
      including(
        '      job-prefix: web\n      stage: deploy\n      retries: 2\n      allow: true\n      env: prod\n      version: v2.3\n      extra-needs: [prep]',
      ),
      { files: { 'templates/build.yml': TEMPLATE } },
    );
    const build = job(p, 'web-build');
    assert.equal(build.stage, 'deploy');
    assert.equal(build.retry.max, 2);
    assert.equal(build.allowFailure, true);
    assert.deepEqual(
      build.needs?.map((n) => n.job),
      ['prep'],
    );
    assert.deepEqual(build.script, ['echo deploying v2.3 to prod']);
  });

  it('a missing required input is an error at the include', async () => {
    await expectError(including('      stage: test'), 6, 12, 'input `job-prefix` is required', {
      files: { 'templates/build.yml': TEMPLATE },
    });
  });

  it('an unknown input is an error at its key', async () => {
    await expectError(including('      job-prefix: a\n      colour: red'), 9, 7, 'unknown input `colour`', {
      files: { 'templates/build.yml': TEMPLATE },
    });
  });

  it('a value of the wrong type, not in options, or not matching regex is an error at the value', async () => {
    const files = { 'templates/build.yml': TEMPLATE };
    await expectError(including('      job-prefix: a\n      retries: many'), 9, 16, 'input `retries` must be a number', { files });
    await expectError(including('      job-prefix: a\n      env: staging'), 9, 12, '`staging` is not one of the options dev, prod', {
      files,
    });
    await expectError(including('      job-prefix: a\n      version: "2.0"'), 9, 16, 'does not match the regex', { files });
  });

  it('a file without a spec header takes no inputs', async () => {
    const errors = await compileErrors(including('      x: 1'), { files: { 'templates/build.yml': 'j:\n  script: [echo]\n' } });
    assert.match(errors[0].message, /has no `spec:inputs` header/);
  });

  it('an unknown input in $[[ ]] is an error at the value, in the included file', async () => {
    const file = 'spec:\n  inputs:\n    a:\n      default: x\n---\nj:\n  script:\n    - echo $[[ inputs.b ]]\n';
    const errors = await compileErrors('include: t.yml\n', { files: { 't.yml': file } });
    assert.deepEqual(
      errors.map((e) => [e.file, e.line, e.message]),
      [['t.yml', 8, 'unknown input `b` in `$[[ inputs.b ]]`']],
    );
  });

  it('the main file may have a header; its inputs come from defaults', async () => {
    const p = await compileOk(
      'spec:\n  inputs:\n    name:\n      default: hello\n---\n$[[ inputs.name ]]:\n  script:\n    - echo $[[ inputs.name ]]\n',
    );
    assert.deepEqual(names(p), ['hello']);
    assert.deepEqual(job(p, 'hello').script, ['echo hello']);
  });

  // GitLab's interpolation splits `inputs.x` on dots only (a peer's case from a user's file).
  it('an input name may hold a slash', async () => {
    const p = await compileOk(
      'spec:\n  inputs:\n    black/enabled: {type: boolean, default: true}\n---\njob:\n  script:\n    - echo "black/enabled=$[[ inputs.black/enabled ]]"\n',
    );
    assert.deepEqual(job(p, 'job').script, ['echo "black/enabled=true"']);
  });

  it('errors in the body keep their line numbers after the header', async () => {
    await expectError('spec:\n  inputs:\n    a:\n      default: x\n---\nj:\n  script: [echo]\n  when: sometimes\n', 8, 9, 'when');
  });

  it('a spec key without --- is refused with a pointer to the header form', async () => {
    await expectError('spec:\n  inputs: {}\nj:\n  script: [echo]\n', 1, 1, 'must be followed by a `---` line');
  });

  it('functions: expand_vars, truncate, posix_escape, chained with |', async () => {
    const file = `spec:
  inputs:
    name:
      default: 'app-$CI_COMMIT_BRANCH'
    message:
      default: "it's done"
---
"$[[ inputs.name | expand_vars | truncate(0,6) ]]":
  script:
    - echo $[[ inputs.message | posix_escape ]]
    - echo $[[ inputs.name | truncate(4,3) ]]
`;
    const p = await compileOk('include: t.yml\n', { files: { 't.yml': file } });
    assert.deepEqual(names(p), ['app-ma']);
    assert.deepEqual(job(p, 'app-ma').script, ["echo it\\'s\\ done", 'echo $CI']);
  });

  it('an unknown function is an error', async () => {
    const file = 'spec:\n  inputs:\n    a:\n      default: x\n---\nj:\n  script:\n    - echo $[[ inputs.a | upcase ]]\n';
    const errors = await compileErrors('include: t.yml\n', { files: { 't.yml': file } });
    assert.match(errors[0].message, /unknown interpolation function `upcase`/);
    assert.equal(errors[0].line, 8);
  });

  it('a broken header is reported once, where it is broken', async () => {
    const errors = await compileErrors('spec:\n  inputs: [a\n---\nj:\n  script: [echo]\n');
    assert.equal(errors.length, 1);
    assert.equal(errors[0].file, '.gitlab-ci.yml');
  });

  it('a default that breaks its own options is an error at the default', async () => {
    await expectError(
      'spec:\n  inputs:\n    env:\n      options: [a, b]\n      default: c\n---\nj:\n  script: [echo]\n',
      5,
      16,
      'not one of the options',
    );
  });

  it('an array input used many times counts against the expansion limits', async () => {
    const big = JSON.stringify(Array.from({ length: 1000 }, (_, i) => `item-${i}-${'x'.repeat(400)}`));
    const uses = Array.from({ length: 100 }, (_, i) => `j${i}:\n  script: [echo]\n  tags: $[[ inputs.list ]]\n`).join('');
    const errors = await compileErrors(`spec:\n  inputs:\n    list:\n      type: array\n      default: ${big}\n---\n${uses}`);
    assert.match(errors[0].message, /input interpolation expands the configuration past/);
  });

  it('posix_escape quotes as Ruby Shellwords.escape does', () => {
    assert.equal(posixEscape(''), "''");
    assert.equal(posixEscape('a b;c'), 'a\\ b\\;c');
    assert.equal(posixEscape('x/y-z_1.2,3:4+5@6'), 'x/y-z_1.2,3:4+5@6');
  });

  it('a CI/CD-component-style template included locally', async () => {
    // Shaped like a catalog component (templates/<name>/template.yml) used with include:local.
    const component = `# Lint and test a Node project
spec:
  inputs:
    stage:
      default: test
      description: Stage of the jobs
    node-version:
      type: string
      options: ['18', '20', '22']
      default: '20'
    parallel:
      type: number
      default: 2
    run-audit:
      type: boolean
      default: true
---
.node-base:
  image: node:$[[ inputs.node-version ]]-alpine
  stage: $[[ inputs.stage ]]
  before_script: [npm ci]

node-test:
  extends: .node-base
  parallel: $[[ inputs.parallel ]]
  script:
    - npm test -- --shard=$CI_NODE_INDEX/$CI_NODE_TOTAL

node-audit:
  extends: .node-base
  allow_failure: $[[ inputs.run-audit ]]
  script: [npm audit]
`;
    const p = await compileOk(
      `stages: [build, verify]
include:
  - local: templates/node/template.yml
    inputs:
      stage: verify
      node-version: '22'
      parallel: 3
`,
      { files: { 'templates/node/template.yml': component } },
    );
    assert.deepEqual(names(p), ['node-test 1/3', 'node-test 2/3', 'node-test 3/3', 'node-audit']);
    assert.equal(job(p, 'node-audit').image, 'node:22-alpine');
    assert.equal(job(p, 'node-audit').stage, 'verify');
    assert.equal(job(p, 'node-audit').allowFailure, true);
  });
});
