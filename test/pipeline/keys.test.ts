import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compile, compileErrors, compileOk, expectError, job } from './helpers.js';

describe('unknown and malformed keys', () => {
  it('an unknown job key is an error at its line and column, with a suggestion', async () => {
    const e = await expectError(
      'build:\n  script: make\n  artifact:\n    paths: [a]\n',
      3,
      3,
      'unknown key `artifact` in `build` (did you mean `artifacts`?)',
    );
    assert.equal(e.path, 'build.artifact');
  });

  it('unknown keys deep inside are found too', async () => {
    await expectError(
      'j:\n  script: x\n  cache:\n    key: k\n    pahts: [a]\n',
      5,
      5,
      'unknown key `pahts` in `j.cache` (did you mean `paths`?)',
    );
    await expectError('j:\n  script: x\n  rules:\n    - if: $A\n      wen: manual\n', 5, 7, 'did you mean `when`');
    await expectError('default:\n  befor_script: [x]\nj:\n  script: x\n', 2, 3, 'did you mean `before_script`');
  });

  it('a misspelt top-level keyword is not taken for a job', async () => {
    await expectError('stage: [a, b]\nj:\n  script: x\n', 1, 1, 'unknown key `stage` (did you mean `stages`?)');
  });

  it('wrong value kinds and enum values are errors at the value', async () => {
    await expectError('j:\n  script: x\n  when: manaul\n', 3, 9, 'not "manaul" (did you mean "manual"?)');
    await expectError('j:\n  script: {a: b}\n', 2, 11, '`j.script` must be a string or a list of strings, not a map');
    await expectError('j:\n  script: x\n  interruptible: maybe\n', 3, 18, 'must be true or false');
  });

  it('unsupported GitLab keys say so', async () => {
    await expectError('j:\n  script: x\n  identity: google_cloud\n', 3, 3, 'not supported');
  });

  it('a job without script is an error', async () => {
    await expectError('build:\n  stage: build\n', 1, 1, 'job `build` has no `script`');
  });

  it('a duplicate key is a warning at the second key, and the last value wins (GitLab’s parser)', async () => {
    const result = await compile('j:\n  script: a\n  script: b\nk:\n  script: c\nj:\n  script: d\n  stage: test\n');
    assert.ok(result.ok, JSON.stringify(result));
    assert.deepEqual(
      result.pipeline.warnings.filter((w) => w.message.includes('duplicate key')).map((w) => [w.line, w.column]),
      [
        [3, 3],
        [6, 1],
      ],
    );
    // The later `j` replaces the first one whole, at the first one's place.
    assert.deepEqual(
      result.pipeline.jobs.map((j) => [j.name, j.script]),
      [
        ['j', ['d']],
        ['k', ['c']],
      ],
    );
  });

  it('a non-map job is an error', async () => {
    await expectError('j: [a]\n', 1, 1, 'job `j` must be a map');
  });
});

describe('job fields', () => {
  it('script forms: string, list, nested lists; default before/after_script', async () => {
    const p = await compileOk(`
default:
  before_script: [setup]
  after_script: cleanup
a:
  script: one
b:
  script: [one, [two, [three]]]
  before_script: [own]
c:
  inherit:
    default: false
  script: x
`);
    assert.deepEqual([job(p, 'a').script, job(p, 'a').beforeScript, job(p, 'a').afterScript], [['one'], ['setup'], ['cleanup']]);
    assert.deepEqual([job(p, 'b').script, job(p, 'b').beforeScript], [['one', 'two', 'three'], ['own']]);
    assert.deepEqual([job(p, 'c').beforeScript, job(p, 'c').afterScript], [[], []]);
  });

  it('deprecated top-level before_script still applies', async () => {
    const p = await compileOk('before_script: [old]\nj:\n  script: x\n');
    assert.deepEqual(job(p, 'j').beforeScript, ['old']);
  });

  it('variables: plain, {value, expand}, numbers and booleans', async () => {
    const p = await compileOk(`
variables:
  GLOBAL: g
  DESCRIBED: {value: d, description: for the run form}
j:
  script: x
  variables:
    N: 1
    B: true
    RAW: {value: "$HOME/x", expand: false}
    EXP: {value: "$HOME/x"}
`);
    assert.deepEqual(p.variables, { GLOBAL: 'g', DESCRIBED: 'd' });
    assert.deepEqual(job(p, 'j').variables, { N: '1', B: 'true', RAW: '$$HOME/x', EXP: '$HOME/x' });
  });

  it('inherit:variables limits global variables', async () => {
    const p = await compileOk(
      'variables: {A: a, B: b}\nnone:\n  inherit: {variables: false}\n  script: x\nsome:\n  inherit: {variables: [A]}\n  script: x\nall:\n  script: x\n',
    );
    assert.equal(job(p, 'none').inheritVariables, false);
    assert.deepEqual(job(p, 'some').inheritVariables, ['A']);
    assert.equal(job(p, 'all').inheritVariables, undefined);
  });

  it('retry forms', async () => {
    const p = await compileOk(`
default:
  retry: 1
a:
  script: x
b:
  script: x
  retry:
    max: 2
    when: [script_failure, runner_system_failure]
    exit_codes: 137
c:
  script: x
  retry: {max: 2, when: stuck_or_timeout_failure}
`);
    assert.deepEqual(job(p, 'a').retry, { max: 1, when: ['always'], exitCodes: [] });
    assert.deepEqual(job(p, 'b').retry, { max: 2, when: ['script_failure', 'runner_system_failure'], exitCodes: [137] });
    assert.deepEqual(job(p, 'c').retry.when, ['stuck_or_timeout_failure']);
    await expectError('j:\n  script: x\n  retry: 3\n', 3, 10, 'from 0 to 2');
    await expectError('j:\n  script: x\n  retry:\n    when: script_fail\n', 4, 11, 'did you mean "script_failure"');
  });

  it('timeouts in GitLab forms', async () => {
    const cases: [string, number][] = [
      ['1h 30m', 5400],
      ['10 minutes', 600],
      ['3600', 3600],
      ['2 hours and 15 minutes', 8100],
      ['1d', 86400],
      ['90s', 90],
    ];
    for (const [text, seconds] of cases) {
      const p = await compileOk(`j:\n  script: x\n  timeout: ${text}\n`);
      assert.equal(job(p, 'j').timeoutSeconds, seconds, text);
    }
    assert.equal(job(await compileOk('j:\n  script: x\n'), 'j').timeoutSeconds, null);
    await expectError('j:\n  script: x\n  timeout: soon\n', 3, 12, 'not a duration');
  });

  it('allow_failure forms', async () => {
    const p = await compileOk('a:\n  script: x\n  allow_failure: true\nb:\n  script: x\n  allow_failure:\n    exit_codes: [137, 255]\n');
    assert.deepEqual([job(p, 'a').allowFailure, job(p, 'a').allowFailureExitCodes], [true, []]);
    assert.deepEqual([job(p, 'b').allowFailure, job(p, 'b').allowFailureExitCodes], [false, [137, 255]]);
  });

  it('artifacts', async () => {
    const p = await compileOk(`
a:
  script: x
  artifacts:
    name: "$CI_JOB_NAME-$CI_COMMIT_REF_SLUG-$CI_JOB_ID"
    paths: [dist/, "*.log"]
    exclude: ["dist/**/*.map"]
    expire_in: 1 week
    when: always
    reports:
      junit: report.xml
b:
  script: x
  artifacts:
    untracked: true
    expire_in: never
c:
  script: x
  artifacts:
    paths: [out]
`);
    assert.deepEqual(job(p, 'a').artifacts, {
      name: 'a-main-$CI_JOB_ID',
      paths: ['dist/', '*.log'],
      exclude: ['dist/**/*.map'],
      untracked: false,
      when: 'always',
      expireInSeconds: 604800,
      junit: ['report.xml'],
    });
    assert.equal(job(p, 'b').artifacts?.expireInSeconds, null);
    assert.equal(job(p, 'b').artifacts?.untracked, true);
    assert.equal(job(p, 'c').artifacts?.expireInSeconds, 30 * 86400);
    assert.ok(!p.warnings.some((w) => w.message.includes('reports.junit')), 'junit reports are processed');
  });

  it('cache: single, list, key files, defaults and expansion', async () => {
    const p = await compileOk(`
variables:
  CACHE_VERSION: v2
a:
  script: x
  cache:
    key: $CI_COMMIT_REF_SLUG-$CACHE_VERSION
    paths: [node_modules/]
b:
  script: x
  cache:
    - key:
        files: [package-lock.json]
        prefix: $CI_JOB_NAME
      paths: [.npm/]
      policy: pull
      when: always
      fallback_keys: [main-$CACHE_VERSION]
    - paths: [tmp/]
      untracked: true
`);
    assert.deepEqual(job(p, 'a').cache, [
      { key: 'main-v2', paths: ['node_modules/'], policy: 'pull-push', when: 'on_success', untracked: false, fallbackKeys: [] },
    ]);
    assert.deepEqual(job(p, 'b').cache, [
      {
        key: { files: ['package-lock.json'], prefix: 'b' },
        paths: ['.npm/'],
        policy: 'pull',
        when: 'always',
        untracked: false,
        fallbackKeys: ['main-v2'],
      },
      { key: 'default', paths: ['tmp/'], policy: 'pull-push', when: 'on_success', untracked: true, fallbackKeys: [] },
    ]);
  });

  it('environment, resource_group, tags, interruptible', async () => {
    const p = await compileOk(`
deploy:
  stage: deploy
  script: x
  environment:
    name: review/$CI_COMMIT_REF_SLUG
    url: https://$CI_COMMIT_REF_SLUG.example.com
    action: start
    deployment_tier: staging
    auto_stop_in: 1 day
  resource_group: deploy-$CI_COMMIT_REF_SLUG
  tags: [linux, $CI_COMMIT_REF_SLUG]
  interruptible: true
simple:
  script: x
  environment: production
`);
    const d = job(p, 'deploy');
    assert.deepEqual(d.environment, {
      name: 'review/main',
      url: 'https://main.example.com',
      action: 'start',
      deploymentTier: 'staging',
      extra: { auto_stop_in: '1 day' },
    });
    assert.equal(d.resourceGroup, 'deploy-main');
    assert.deepEqual(d.tags, ['linux', 'main']);
    assert.equal(d.interruptible, true);
    assert.deepEqual(job(p, 'simple').environment, { name: 'production', action: 'start', extra: {} });
  });

  it('image and services are kept for the agent, which decides whether it can use them', async () => {
    const result = await compile('default:\n  image: node:20\nj:\n  script: x\n  services: [postgres:16]\n');
    assert.ok(result.ok);
    const p = result.pipeline;
    assert.equal(job(p, 'j').image, 'node:20');
    assert.deepEqual(job(p, 'j').services, ['postgres:16']);
    assert.deepEqual(p.warnings, []);
  });

  it('coverage is accepted', async () => {
    const p = await compileOk("j:\n  script: x\n  coverage: '/Lines: \\d+/'\n");
    assert.equal(p.warnings.length, 0);
  });

  it('YAML 1.1 booleans as Psych reads them, but y/n stay strings', async () => {
    const p = await compileOk('j:\n  script: x\n  interruptible: yes\n  variables: {Y: y, ON: on}\n');
    assert.equal(job(p, 'j').interruptible, true);
    assert.deepEqual(job(p, 'j').variables, { Y: 'y', ON: 'true' });
  });
});

describe('ignored keys', () => {
  it('a key that is ignored is reported once per place, not once per job that extends its template', async () => {
    const p = await compileOk(
      '.base:\n  script: [echo]\n  artifacts:\n    reports:\n      codequality: r.json\na:\n  extends: .base\nb:\n  extends: .base\nc:\n  extends: .base\n',
    );
    const ignored = p.warnings.filter((w) => w.message.includes('is accepted but ignored'));
    assert.deepEqual(
      ignored.map((w) => [w.line, w.column]),
      [[5, 20]],
    );
  });
});

describe('keys for GitLab services Tandem has no counterpart of', () => {
  // GitLab accepts these files; real ones use release-cli jobs, Pages, Vault secrets, runner hooks.
  // https://docs.gitlab.com/ci/yaml/#release, #secrets, #pages, #hooks, #manual_confirmation
  it('lint with a warning each, and the jobs still run', async () => {
    const p = await compileOk(`
default:
  hooks: {pre_get_sources_script: [echo hi]}
release_job:
  rules: [{if: $CI_COMMIT_BRANCH}]
  script: [echo release]
  release: {tag_name: v1, description: 'Release v1'}
pages:
  script: [mkdir -p public]
  publish: public
  pages: {expire_in: 1 week}
deploy:
  when: manual
  manual_confirmation: 'Are you sure?'
  secrets: {DATABASE_PASSWORD: {vault: production/db/password@ops}}
  script: [echo]
`);
    assert.deepEqual(p.jobs.map((j) => j.name).sort(), ['deploy', 'pages', 'release_job']);
    const ignored = p.warnings.filter((w) => w.message.includes('is accepted but ignored')).map((w) => w.path);
    assert.deepEqual(ignored.sort(), [
      'default.hooks',
      'deploy.manual_confirmation',
      'deploy.secrets',
      'pages.pages',
      'pages.publish',
      'release_job.release',
    ]);
  });

  // https://docs.gitlab.com/ci/yaml/#rulesinterruptible (GitLab 16.10)
  it('rules:interruptible replaces the job’s interruptible', async () => {
    const p = await compileOk(`
a:
  interruptible: false
  script: [echo]
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
      interruptible: true
b:
  interruptible: true
  script: [echo]
  rules:
    - if: $CI_COMMIT_BRANCH == "other"
      interruptible: false
    - when: on_success
`);
    assert.equal(job(p, 'a').interruptible, true);
    assert.equal(job(p, 'b').interruptible, true);
  });
});

describe('one lint run', () => {
  it('reports the errors of every job at once: keys, values, stages and needs', async () => {
    const errors = await compileErrors(
      'a:\n  script: [echo]\n  needs: [nosuch]\n  stage: nostage\nb:\n  scrip: [echo]\nc:\n  script: [echo]\n  when: sometimes\nd:\n  script: [echo]\n  needs: [b]\n',
    );
    assert.deepEqual(
      errors.map((e) => [e.line, e.column]),
      [
        [3, 11],
        [4, 10],
        [6, 3],
        [9, 9],
      ],
      // d needs b, which has an error of its own: that need is not reported a second time.
      JSON.stringify(errors),
    );
  });
});
