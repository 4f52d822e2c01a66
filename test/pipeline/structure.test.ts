import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileErrors, compileOk, expectError, job, names } from './helpers.js';

describe('stages', () => {
  it('defaults to build, test, deploy between .pre and .post; jobs default to test', async () => {
    const p = await compileOk('a:\n  script: x\nb:\n  stage: .pre\n  script: y\n');
    assert.deepEqual(p.stages, ['.pre', 'build', 'test', 'deploy', '.post']);
    assert.deepEqual([job(p, 'a').stage, job(p, 'a').stageIndex], ['test', 2]);
    assert.equal(job(p, 'b').stageIndex, 0);
  });

  it('keeps the declared order and always has .pre first and .post last', async () => {
    const p = await compileOk('stages: [.post, lint, ship]\nl:\n  stage: lint\n  script: x\ns:\n  stage: ship\n  script: y\n');
    assert.deepEqual(p.stages, ['.pre', 'lint', 'ship', '.post']);
    assert.deepEqual([job(p, 'l').stageIndex, job(p, 's').stageIndex], [1, 2]);
  });

  it('rejects an unknown stage at the stage value, with a suggestion', async () => {
    await expectError('stages: [build, test]\nj:\n  stage: tset\n  script: x\n', 3, 10, 'did you mean `test`');
  });

  it('rejects a pipeline of only .pre/.post jobs', async () => {
    await expectError('j:\n  stage: .pre\n  script: x\n', 1, 1, 'outside the .pre and .post');
  });
});

describe('needs', () => {
  const dag = `
stages: [build, test, deploy]
build:
  stage: build
  script: make
unit:
  stage: test
  needs: [build]
  script: test
lint:
  stage: test
  needs: []
  script: lint
deploy:
  stage: deploy
  needs:
    - job: unit
      artifacts: false
    - job: missing
      optional: true
  script: ship
plain:
  stage: deploy
  script: x
`;
  it('keeps needs, needs: [] and null (stage order)', async () => {
    const p = await compileOk(dag);
    assert.deepEqual(job(p, 'unit').needs, [{ job: 'build', artifacts: true, optional: false }]);
    assert.deepEqual(job(p, 'lint').needs, []);
    assert.equal(job(p, 'plain').needs, null);
    assert.deepEqual(job(p, 'deploy').needs, [{ job: 'unit', artifacts: false, optional: false }]);
  });

  it('rejects a need of an unknown job at the item', async () => {
    await expectError(
      'a:\n  script: x\n  needs: [bild]\nbuild:\n  script: y\n',
      3,
      11,
      '`a` needs `bild`, which is not a job (did you mean `build`?)',
    );
  });

  it('rejects a need of a later stage', async () => {
    await expectError('a:\n  stage: build\n  script: x\n  needs: [b]\nb:\n  stage: deploy\n  script: y\n', 4, 11, 'later stage deploy');
  });

  it('detects needs cycles inside a stage', async () => {
    await expectError(
      'a:\n  script: x\n  needs: [b]\nb:\n  script: y\n  needs: [c]\nc:\n  script: z\n  needs: [a]\n',
      9,
      11,
      'needs cycle: a → b → c → a',
    );
  });

  it('a need of a parallel job means all its instances', async () => {
    const p = await compileOk('t:\n  stage: build\n  parallel: 2\n  script: x\nr:\n  needs: [t]\n  script: y\n');
    assert.deepEqual(
      job(p, 'r').needs?.map((n) => n.job),
      ['t 1/2', 't 2/2'],
    );
  });

  it('needs:parallel:matrix picks instances', async () => {
    const p = await compileOk(`
t:
  stage: build
  parallel:
    matrix:
      - OS: [linux, mac]
  script: x
r:
  needs:
    - job: t
      parallel:
        matrix:
          - OS: mac
  script: y
`);
    assert.deepEqual(
      job(p, 'r').needs?.map((n) => n.job),
      ['t: [mac]'],
    );
  });

  it('dependencies name earlier jobs and expand parallel ones', async () => {
    const p = await compileOk(
      'b:\n  stage: build\n  parallel: 2\n  script: x\nt:\n  dependencies: [b]\n  script: y\nu:\n  dependencies: []\n  script: z\n',
    );
    assert.deepEqual(job(p, 't').dependencies, ['b 1/2', 'b 2/2']);
    assert.deepEqual(job(p, 'u').dependencies, []);
    await expectError('t:\n  dependencies: [nope]\n  script: y\n', 2, 18, 'depends on `nope`');
  });
});

describe('parallel', () => {
  it('count N makes "job i/N" instances with node index', async () => {
    const p = await compileOk('t:\n  parallel: 3\n  script: x\n');
    assert.deepEqual(names(p), ['t 1/3', 't 2/3', 't 3/3']);
    assert.deepEqual(job(p, 't 2/3').parallel, { index: 2, total: 3, matrix: null });
    assert.equal(job(p, 't 2/3').baseName, 't');
  });

  // GitLab sets CI_NODE_INDEX for every job made by `parallel:`, `parallel: 1` included, and
  // CI_NODE_TOTAL=1 for a job without it (rules can read both).
  it('parallel: 1 is a parallel job of one; a job without parallel has CI_NODE_TOTAL 1', async () => {
    const p = await compileOk(`
one:
  parallel: 1
  rules: [{ if: '$CI_NODE_INDEX == "1" && $CI_NODE_TOTAL == "1"' }]
  script: x
plain:
  rules: [{ if: '$CI_NODE_INDEX == null && $CI_NODE_TOTAL == "1"' }]
  script: x
`);
    assert.deepEqual(names(p).sort(), ['one', 'plain']);
    assert.deepEqual(job(p, 'one').parallel, { index: 1, total: 1, matrix: null });
    assert.equal(job(p, 'plain').parallel, null);
  });

  it('matrix names jobs like GitLab and sets the variables', async () => {
    const p = await compileOk(`
t:
  variables: {COMMON: c}
  parallel:
    matrix:
      - NODE: [18, 20]
        OS: linux
      - NODE: 22
        OS: [mac]
  script: x
`);
    assert.deepEqual(names(p), ['t: [18, linux]', 't: [20, linux]', 't: [22, mac]']);
    const j = job(p, 't: [20, linux]');
    assert.deepEqual(j.variables, { COMMON: 'c', NODE: '20', OS: 'linux' });
    assert.deepEqual(j.parallel, { index: 2, total: 3, matrix: { NODE: '20', OS: 'linux' } });
  });

  it('rejects parallel outside 1..200', async () => {
    await expectError('t:\n  parallel: 201\n  script: x\n', 2, 13, 'from 1 to 200');
  });
});

describe('templates', () => {
  it('hidden jobs do not run and may be partial', async () => {
    const p = await compileOk('.tpl:\n  image: node\n.list: [1, 2]\nreal:\n  script: x\n');
    assert.deepEqual(names(p), ['real']);
  });

  it('extends: multi-level deep merge of maps, lists replaced, later parents win', async () => {
    const p = await compileOk(`
.base:
  variables: {A: base, B: base}
  script: [base]
  tags: [one, two]
  retry: 1
.mid:
  extends: .base
  variables: {B: mid, C: mid}
  tags: [mid]
.other:
  retry: 2
  variables: {D: other}
j:
  extends: [.mid, .other]
  variables: {C: job}
`);
    const j = job(p, 'j');
    assert.deepEqual(j.variables, { A: 'base', B: 'mid', C: 'job', D: 'other' });
    assert.deepEqual(j.script, ['base']);
    assert.deepEqual(j.tags, ['mid']);
    assert.equal(j.retry.max, 2);
  });

  it('extends cycles and unknown templates are errors', async () => {
    await expectError('.a:\n  extends: .b\n.b:\n  extends: .a\nj:\n  extends: .a\n  script: x\n', 4, 12, 'circular extends: .a → .b → .a');
    await expectError('j:\n  extends: .tmpl\n  script: x\n.templ:\n  tags: [a]\n', 2, 12, 'did you mean `.templ`');
  });

  it('anchors, aliases and merge keys', async () => {
    const p = await compileOk(`
.defaults: &defaults
  variables: {A: "1"}
  script: [echo anchored]
.more: &more
  tags: [t]
j:
  <<: [*defaults, *more]
  variables: {B: "2"}
k:
  <<: *defaults
  script: &cmds [one, two]
l:
  script: *cmds
`);
    assert.deepEqual(job(p, 'j').variables, { B: '2' });
    assert.deepEqual(job(p, 'j').script, ['echo anchored']);
    assert.deepEqual(job(p, 'j').tags, ['t']);
    assert.deepEqual(job(p, 'k').variables, { A: '1' });
    assert.deepEqual(job(p, 'l').script, ['one', 'two']);
  });

  it('!reference pulls values from other jobs, nested references included', async () => {
    const p = await compileOk(`
.setup:
  script: [npm ci]
  vars:
    X: from-setup
.more:
  script:
    - !reference [.setup, script]
    - echo more
j:
  variables: !reference [.setup, vars]
  script:
    - !reference [.more, script]
    - [nested, list]
`);
    assert.deepEqual(job(p, 'j').script, ['npm ci', 'echo more', 'nested', 'list']);
    assert.deepEqual(job(p, 'j').variables, { X: 'from-setup' });
  });

  it('!reference to a missing key names it', async () => {
    await expectError(
      '.s:\n  script: [a]\nj:\n  script: !reference [.s, scrip]\n',
      4,
      22,
      '`scrip` not found in `.s` (did you mean `script`?)',
    );
  });
});

describe('include: local', () => {
  const files = {
    'ci/build.yml': 'include: ci/common.yml\nbuild:\n  stage: build\n  script: make\n  variables: {FROM: build, KEEP: yes}\n',
    'ci/common.yml': 'variables:\n  SHARED: common\n.tpl:\n  tags: [shared]\n',
    'ci/loop-a.yml': 'include: ci/loop-b.yml\n',
    'ci/loop-b.yml': 'include:\n  - local: /ci/loop-a.yml\n',
    'ci/broken.yml': 'job:\n  script: [x\n',
  };

  it('merges included files under the including file (string, list and {local})', async () => {
    const p = await compileOk(
      `include:
  - ci/build.yml
  - local: /ci/common.yml
variables:
  TOP: top
build:
  variables: {FROM: main}
test:
  extends: .tpl
  script: t
`,
      { files },
    );
    assert.deepEqual(p.variables, { SHARED: 'common', TOP: 'top' });
    assert.deepEqual(job(p, 'build').variables, { FROM: 'main', KEEP: 'true' });
    assert.deepEqual(job(p, 'build').script, ['make']);
    assert.deepEqual(job(p, 'test').tags, ['shared']);
    assert.deepEqual(names(p), ['build', 'test']);
  });

  it('a missing include is an error at the include line', async () => {
    await expectError('include:\n  - local: ci/nope.yml\nj:\n  script: x\n', 2, 12, 'included file `ci/nope.yml` does not exist', {
      files,
    });
  });

  it('errors inside an included file name that file', async () => {
    const result = await expectError('include: ci/broken.yml\n', 3, 1, /Flow sequence .* end with a \]/, { files });
    assert.equal(result.file, 'ci/broken.yml');
  });

  it('detects include loops', async () => {
    const e = await expectError('include: ci/loop-a.yml\nj:\n  script: x\n', 2, 12, 'include loop', { files });
    assert.equal(e.file, 'ci/loop-b.yml');
    assert.match(e.message, /\.gitlab-ci\.yml → ci\/loop-a\.yml → ci\/loop-b\.yml → ci\/loop-a\.yml/);
  });

  it('wildcards include every matching file in order', async () => {
    const p = await compileOk('include: ci/jobs/*.yml\n', {
      files: { 'ci/jobs/b.yml': 'b:\n  script: x\n', 'ci/jobs/a.yml': 'a:\n  script: x\n' },
      listFiles: true,
    });
    assert.deepEqual(names(p), ['a', 'b']);
  });

  it('include:rules can skip a file', async () => {
    const p = await compileOk('include:\n  - local: ci/build.yml\n    rules:\n      - if: $CI_COMMIT_TAG\ntest:\n  script: t\n', { files });
    assert.deepEqual(names(p), ['test']);
  });

  it('without a reader for foreign files (tandem lint), a remote include is skipped with a positioned warning', async () => {
    const p = await compileOk('include:\n  remote: https://x/y.yml\nj:\n  script: x\n');
    assert.deepEqual(
      p.warnings.map((w) => [w.line, w.column, w.message]),
      [[2, 11, '`include:remote` is not checked: this command reads no file outside the repository']],
    );
  });

  it('a template missing because an include was not read says where it may come from', async () => {
    const errors = await compileErrors('include:\n  project: group/templates\n  file: ci.yml\nj:\n  extends: .internal\n');
    assert.match(
      errors[0]?.message ?? '',
      /`j` extends `.internal`, which is not defined \(it may come from the include at .*:2:12, which was not read\)/,
    );
  });
});
