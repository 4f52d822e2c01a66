// GitLab semantics that real pipeline files rely on (issue 16, "Semantics"): each test names the
// GitLab behaviour it pins.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compilePipeline } from '../../src/pipeline/index.js';
import { compile, compileErrors, compileOk, expectError, job, PUSH_MAIN } from './helpers.js';

describe('nested lists are flattened', () => {
  // GitLab flattens nested arrays (up to 10 levels) in script, before_script, after_script, needs
  // and cache, which is what a `!reference` to a list inside a list produces.
  // https://docs.gitlab.com/ee/ci/yaml/yaml_optimization.html#reference-tags
  it('in scripts, needs and cache, from !reference and written out', async () => {
    const p = await compileOk(`
.setup:
  before_script: [export A=1, export B=2]
  script: [make]
  after_script: [cleanup]
.caches:
  cache:
    - {key: deps, paths: [node_modules/]}
.deps:
  needs: [lint]
lint:
  stage: build
  script: lint
compile:
  stage: build
  script: build
test:
  before_script:
    - !reference [.setup, before_script]
    - echo ready
  script:
    - !reference [.setup, script]
    - [make test, [make check]]
  after_script:
    - !reference [.setup, after_script]
  needs:
    - !reference [.deps, needs]
    - [compile]
  cache:
    - !reference [.caches, cache]
    - {key: build, paths: [out/]}
`);
    const t = job(p, 'test');
    assert.deepEqual(t.beforeScript, ['export A=1', 'export B=2', 'echo ready']);
    assert.deepEqual(t.script, ['make', 'make test', 'make check']);
    assert.deepEqual(t.afterScript, ['cleanup']);
    assert.deepEqual(
      t.needs?.map((n) => n.job),
      ['lint', 'compile'],
    );
    assert.deepEqual(
      t.cache.map((c) => c.key),
      ['deps', 'build'],
    );
  });

  // GitLab: "config should be a string or a nested array of strings up to 10 levels deep".
  it('up to 10 levels deep, and an 11th is a positioned error', async () => {
    const nested = (depth: number): string => `${'- '.repeat(depth)}echo ${depth}`;
    await compileOk(`test-job:\n  script:\n    ${nested(10)}\n`);
    await expectError(`test-job:\n  script:\n    ${nested(11)}\n`, 3, 5, 'at most 10 levels deep');
  });
});

describe('a key left empty is unset', () => {
  // GitLab's config factory turns a nil value into an unspecified entry: `image:` with no value is
  // as if there were no `image` key (so `default:` applies), and a null in a job replaces what
  // `extends` brought. A job whose `script:` is empty still has no script, which GitLab rejects.
  it('for job keys, defaults and top-level keywords', async () => {
    const p = await compileOk(`
variables:
stages:
workflow:
  rules:
default:
  image: node:20
  cache:
.base:
  image: ruby:3
  variables: {FROM: base}
  rules:
    - when: manual
build:
  image:
  variables:
  cache: null
  rules:
  script: make
templated:
  extends: .base
  rules: ~
  image:
  script: make
`);
    const build = job(p, 'build');
    assert.deepEqual([build.image, build.variables, build.cache, build.when], ['node:20', {}, [], 'on_success']);
    const templated = job(p, 'templated');
    assert.deepEqual([templated.image, templated.variables, templated.when], ['node:20', { FROM: 'base' }, 'on_success']);
    assert.deepEqual(
      p.jobs.map((j) => j.stage),
      ['test', 'test'],
    );
  });

  it('an empty script is still a job without a script', async () => {
    await expectError('build:\n  script:\n', 1, 1, 'job `build` has no `script`');
  });
});

describe('empty rules:exists and rules:changes entries', () => {
  // GitLab accepts `exists: [""]` (an array of strings) and an empty entry matches no file, with
  // the list of files or without it; Tandem says so with a warning at the entry. (`changes` is
  // asked of a known list of changed files here: without one, GitLab's `changes` always match.)
  const yaml = `
build:
  script: make
  rules:
    - exists: [""]
    - changes: ["/"]
    - exists: {paths: [""]}
      when: manual
    - when: never
`;

  it('warn at the entry, and match no file', async () => {
    for (const options of [{ changedFiles: ['a.txt'] }, { files: { 'a.txt': '' }, listFiles: true, changedFiles: ['a.txt'] }]) {
      const result = await compile(yaml, options);
      assert.ok(!result.ok && result.skipped, JSON.stringify(result));
      assert.deepEqual(
        result.warnings.map((w) => [w.line, w.column, w.message]),
        [
          [5, 16, '`build.rules[0].exists[0]` is empty: it matches no file'],
          [6, 17, '`build.rules[1].changes[0]` is empty: it matches no file'],
          [7, 24, '`build.rules[2].exists.paths[0]` is empty: it matches no file'],
        ],
      );
    }
  });

  it('never ask for the file "" (the server’s git reader refuses it)', async () => {
    const result = await compilePipeline('.gitlab-ci.yml', yaml, {
      variables: PUSH_MAIN,
      readFile: async (path) => {
        if (path === '') throw new Error('invalid repository path ""');
        return null;
      },
      changedFiles: async () => ['a.txt'],
    });
    assert.ok(!result.ok && result.skipped, JSON.stringify(result));
  });
});

describe('YAML scalars as Psych reads them', () => {
  // Psych's float pattern matches a lone `.`, `+.` and `-.` but keeps them strings; `.5` is a float.
  it('a lone dot is a string', async () => {
    const p = await compileOk('build:\n  script: x\n  variables: {HERE: ., PLUS: +., MINUS: -., HALF: .5}\n');
    assert.deepEqual(job(p, 'build').variables, { HERE: '.', PLUS: '+.', MINUS: '-.', HALF: '0.5' });
  });

  // libyaml, under Psych, checks no indentation inside a flow collection: a closing bracket (or an
  // item) left of the key that opened it is fine there, and GitLab accepts such files.
  it('a flow collection may close (or continue) less indented than its key', async () => {
    const p = await compileOk(`
job:
  script: [
    "echo a",
    "echo b"
]
  variables: {
  A: "1", B: "[not a list]"
}
  tags: [x,
y]
other:
  script: ["don't # stop [", 'it''s', echo "x"]
`);
    assert.deepEqual(job(p, 'job').script, ['echo a', 'echo b']);
    assert.deepEqual(job(p, 'job').variables, { A: '1', B: '[not a list]' });
    assert.deepEqual(job(p, 'job').tags, ['x', 'y']);
    assert.deepEqual(job(p, 'other').script, ["don't # stop [", "it's", 'echo "x"']);
  });

  it('a flow collection that is never closed is still an error', async () => {
    const errors = await compileErrors('job:\n  script: [\n  "echo a"\nother:\n  script: x\n');
    assert.ok(errors.length > 0);
  });
});

describe('rules:allow_failure', () => {
  // GitLab: `rules:allow_failure` replaces the job's `allow_failure`, exit codes included.
  // https://docs.gitlab.com/ee/ci/yaml/#rulesallow_failure
  it('replaces the job’s allow_failure:exit_codes', async () => {
    const p = await compileOk(`
.flaky:
  script: ./flaky.sh
  allow_failure:
    exit_codes: [137, 255]
strict-on-main:
  extends: .flaky
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
      allow_failure: false
lenient:
  extends: .flaky
  rules:
    - allow_failure: true
codes:
  extends: .flaky
  rules:
    - when: on_success
`);
    const fields = (name: string): [boolean, number[]] => [job(p, name).allowFailure, job(p, name).allowFailureExitCodes];
    assert.deepEqual(fields('strict-on-main'), [false, []]);
    assert.deepEqual(fields('lenient'), [true, []]);
    assert.deepEqual(fields('codes'), [false, [137, 255]]);
  });
});

describe('retry:when', () => {
  // Every failure reason GitLab lists for retry:when is accepted
  // (https://docs.gitlab.com/ee/ci/yaml/#retrywhen); those Tandem never reports never match.
  const GITLAB_REASONS = [
    'always',
    'unknown_failure',
    'script_failure',
    'api_failure',
    'stuck_or_timeout_failure',
    'runner_system_failure',
    'runner_unsupported',
    'stale_schedule',
    'job_execution_timeout',
    'archived_failure',
    'unmet_prerequisites',
    'scheduler_failure',
    'data_integrity_failure',
  ];

  it('accepts every reason GitLab lists, alone or in a list', async () => {
    const p = await compileOk(`
all:
  script: x
  retry:
    max: 2
    when: [${GITLAB_REASONS.join(', ')}]
${GITLAB_REASONS.map((reason) => `only-${reason}:\n  script: x\n  retry: {max: 1, when: ${reason}}\n`).join('')}`);
    assert.deepEqual(job(p, 'all').retry.when, GITLAB_REASONS);
    for (const reason of GITLAB_REASONS) assert.deepEqual(job(p, `only-${reason}`).retry.when, [reason]);
  });

  it('rejects a reason GitLab does not list', async () => {
    await expectError('j:\n  script: x\n  retry: {max: 1, when: script_failed}\n', 3, 25, 'did you mean "script_failure"');
  });
});

describe('cache:policy', () => {
  it('takes a $VARIABLE, kept for the agent to expand; any other value is an error', async () => {
    const p = await compileOk('j:\n  script: [echo]\n  cache: {key: k, paths: [c/], policy: $POLICY}\n');
    assert.equal(p.jobs[0]!.cache[0]!.policy, '$POLICY');
    const errors = await compileErrors('j:\n  script: [echo]\n  cache: {key: k, paths: [c/], policy: sometimes}\n');
    assert.ok(
      errors.some((e) => e.line === 3 && /one of pull-push, pull, push or a \$VARIABLE/.test(e.message)),
      JSON.stringify(errors),
    );
  });
});

describe('an empty rules list', () => {
  // GitLab's Entry::Rules validates `presence`, so `rules: []` is "jobs:a:rules config can't be
  // blank" (workflow:rules too), not a job that never runs. https://docs.gitlab.com/ee/ci/yaml/#rules
  it('is an error at the list, for jobs and workflow', async () => {
    await expectError('a:\n  script: x\n  rules: []\nb:\n  script: x\n', 3, 10, '`a.rules` must not be an empty list');
    await expectError('workflow:\n  rules: []\nb:\n  script: x\n', 2, 10, '`workflow.rules` must not be an empty list');
  });
});

describe('!reference after extends', () => {
  // GitLab builds the config as includes, then `extends`, then `!reference` tags
  // (Gitlab::Ci::Config#build_config): a reference sees what a template's own `extends` brought,
  // and a reference inherited through `extends` resolves too.
  // https://docs.gitlab.com/ee/ci/yaml/yaml_optimization.html#reference-tags
  it('sees keys a template got through extends, and works inside an extended template', async () => {
    const p = await compileOk(`
.base:
  script: [echo base]
  variables: {A: base}
.other:
  extends: .base
  variables: {A: other}
.setup:
  before_script: [echo setup]
.uses-ref:
  before_script:
    - !reference [.setup, before_script]
    - echo more
job:
  extends: .uses-ref
  script:
    - !reference [.other, script]
    - [echo x, [echo y]]
  variables:
    A: !reference [.other, variables, A]
`);
    const j = job(p, 'job');
    assert.deepEqual(j.script, ['echo base', 'echo x', 'echo y']);
    assert.deepEqual(j.beforeScript, ['echo setup', 'echo more']);
    assert.deepEqual(j.variables, { A: 'other' });
  });
});

describe('needs naming parallel instances', () => {
  const BUILD = `
build:
  stage: build
  script: echo
  parallel:
    matrix:
      - PROVIDER: [aws, gcp]
        STACK: [x, y]
`;
  // GitLab matches needs against job names after parallel expanded them, so one instance can be
  // named in full. https://docs.gitlab.com/ee/ci/jobs/job_control.html#specify-a-parallelized-job-using-needs-with-multiple-parallelized-jobs
  it('by its full name, in needs and dependencies', async () => {
    const p = await compileOk(`${BUILD}
test:
  stage: test
  script: echo
  needs: ["build: [aws, x]", "build: [gcp, y]"]
  dependencies: ["build: [gcp, y]"]
`);
    assert.deepEqual(
      job(p, 'test').needs?.map((n) => n.job),
      ['build: [aws, x]', 'build: [gcp, y]'],
    );
    assert.deepEqual(job(p, 'test').dependencies, ['build: [gcp, y]']);
  });

  // https://docs.gitlab.com/ee/ci/yaml/#needsparallelmatrix and matrix expressions
  // (https://docs.gitlab.com/ci/yaml/matrix_expressions/): each instance needs its own counterpart.
  it('by needs:parallel:matrix, with $[[ matrix.X ]] taken from the needing instance', async () => {
    const p = await compileOk(`${BUILD}
test:
  stage: test
  script: echo
  parallel:
    matrix:
      - PROVIDER: [aws, gcp]
  needs:
    - job: build
      parallel:
        matrix:
          - PROVIDER: $[[ matrix.PROVIDER ]]
            STACK: ['x', 'y']
`);
    assert.deepEqual(
      job(p, 'test: [gcp]').needs?.map((n) => n.job),
      ['build: [gcp, x]', 'build: [gcp, y]'],
    );
    assert.deepEqual(
      job(p, 'test: [aws]').needs?.map((n) => n.job),
      ['build: [aws, x]', 'build: [aws, y]'],
    );
  });

  it('an unknown matrix identifier, or one used outside a matrix job, is an error at the need', async () => {
    const need = `  needs:\n    - job: build\n      parallel:\n        matrix:\n          - PROVIDER: $[[ matrix.CLOUD ]]\n            STACK: x\n`;
    await expectError(
      `${BUILD}test:\n  stage: test\n  script: echo\n  parallel:\n    matrix:\n      - PROVIDER: [aws]\n${need}`,
      16,
      7,
      '`CLOUD` is not an identifier of this job',
    );
    await expectError(`${BUILD}test:\n  stage: test\n  script: echo\n${need}`, 13, 7, 'needs the job itself to have parallel:matrix');
  });
});

describe('rules:needs', () => {
  // When a rule with `needs` matches, they replace the job's needs; other rules keep the job's.
  // https://docs.gitlab.com/ee/ci/yaml/#rulesneeds
  const YAML = `
a: {stage: build, script: echo}
b: {stage: build, script: echo}
c:
  stage: test
  script: echo
  needs: [a]
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
      needs: [b]
    - if: $CI_COMMIT_BRANCH == "empty"
      needs: []
    - when: on_success
`;
  it('replace the job’s needs when their rule matches', async () => {
    const needsOn = async (branch: string) =>
      job(await compileOk(YAML, { variables: { ...PUSH_MAIN, CI_COMMIT_BRANCH: branch } }), 'c').needs?.map((n) => n.job);
    assert.deepEqual(await needsOn('main'), ['b']);
    assert.deepEqual(await needsOn('empty'), []);
    assert.deepEqual(await needsOn('other'), ['a']);
  });

  it('are checked like needs: a job that does not exist is an error at the rule’s need', async () => {
    await expectError(YAML.replace('needs: [b]', 'needs: [bb]'), 10, 15, '`c` needs `bb`, which is not a job (did you mean `b`?)');
  });

  it('may name one instance of a parallel job in full, as the job’s needs may', async () => {
    const yaml = 'p: {stage: build, script: x, parallel: 2}\nc:\n  stage: test\n  script: x\n  rules:\n    - needs: ["p 1/2"]\n';
    assert.deepEqual(
      job(await compileOk(yaml), 'c').needs?.map((n) => n.job),
      ['p 1/2'],
    );
  });
});

describe('dependencies of a job with needs', () => {
  // GitLab: "dependencies the build-docs should be part of needs". https://docs.gitlab.com/ee/ci/yaml/#dependencies
  it('must be among its needs: an error at the dependencies key otherwise', async () => {
    await expectError(
      'a: {stage: build, script: x}\nb: {stage: build, script: x}\nc:\n  stage: test\n  script: x\n  needs: [a]\n  dependencies: [a, b]\n',
      7,
      3,
      '`c.dependencies`: `b` must also be in `needs`',
    );
  });
});

describe('start_in outside when: delayed', () => {
  // GitLab's Job entry: `validates :start_in, absence: true, if: -> { has_rules? || !delayed? }`.
  // https://docs.gitlab.com/ee/ci/yaml/#start_in
  it('is an error at the key; with rules it belongs in the rule', async () => {
    await expectError('a:\n  script: x\n  start_in: 10 minutes\n', 3, 3, '`a.start_in` needs when: delayed');
    await expectError(
      'a:\n  script: x\n  when: delayed\n  start_in: 10 minutes\n  rules:\n    - when: on_success\n',
      4,
      3,
      'on a job with rules, start_in goes in the rule',
    );
    const p = await compileOk('a:\n  script: x\n  rules:\n    - when: delayed\n      start_in: 10 minutes\n');
    assert.deepEqual([job(p, 'a').when, job(p, 'a').startInSeconds], ['delayed', 600]);
  });
});
