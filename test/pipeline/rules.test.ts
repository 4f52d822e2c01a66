import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compile, compileOk, expectError, job, names, PUSH_MAIN } from './helpers.js';

const TAG = { ...PUSH_MAIN, CI_COMMIT_TAG: 'v1.0.0', CI_COMMIT_REF_NAME: 'v1.0.0', CI_COMMIT_BRANCH: '' };
const MR = { CI_PIPELINE_SOURCE: 'merge_request_event', CI_COMMIT_REF_NAME: 'feature', CI_DEFAULT_BRANCH: 'main' };

describe('workflow:rules', () => {
  const yaml = `
workflow:
  name: 'Pipeline for $CI_COMMIT_REF_NAME ($MODE)'
  rules:
    - if: $CI_COMMIT_TAG
      variables: {MODE: release}
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
      when: never
    - if: $CI_COMMIT_BRANCH
variables:
  MODE: dev
j:
  script: echo $MODE
`;
  it('sets variables and the pipeline name from the matching rule', async () => {
    const p = await compileOk(yaml, { variables: TAG });
    assert.deepEqual(p.variables, { MODE: 'release' });
    assert.equal(p.name, 'Pipeline for v1.0.0 (release)');
  });

  it('keeps global variables when the rule sets none', async () => {
    const p = await compileOk(yaml);
    assert.deepEqual(p.variables, { MODE: 'dev' });
    assert.equal(p.name, 'Pipeline for main (dev)');
  });

  it('skips the pipeline on when: never or when nothing matches', async () => {
    const never = await compile(yaml, { variables: MR });
    assert.ok(!never.ok && never.skipped);
    assert.match(never.reason, /workflow:rules\[1\] has when: never/);
    const none = await compile(yaml, { variables: { CI_PIPELINE_SOURCE: 'web' } });
    assert.ok(!none.ok && none.skipped);
    assert.match(none.reason, /no workflow:rules entry matched/);
  });

  it('workflow rules see global variables, but project variables win', async () => {
    const y = 'variables: {GO: "no"}\nworkflow:\n  rules:\n    - if: $GO == "yes"\nj:\n  script: x\n';
    assert.ok((await compile(y)).ok === false);
    assert.ok((await compile(y, { userVariables: { GO: 'yes' } })).ok);
  });
});

describe('job rules', () => {
  it('first match wins; no match removes the job', async () => {
    const y = `
a:
  script: x
  rules:
    - if: $CI_COMMIT_TAG
      when: never
    - if: $CI_COMMIT_BRANCH == "main"
b:
  script: x
  rules:
    - if: $CI_COMMIT_BRANCH == "dev"
c:
  script: x
`;
    assert.deepEqual(names(await compileOk(y)), ['a', 'c']);
    assert.deepEqual(names(await compileOk(y, { variables: TAG })), ['c']);
  });

  it('rules set when, allow_failure, variables and start_in', async () => {
    const p = await compileOk(`
j:
  script: x
  variables: {A: job, B: job}
  rules:
    - if: $CI_COMMIT_BRANCH
      when: delayed
      start_in: 1 hour 30 min
      allow_failure: true
      variables: {B: rule}
`);
    const j = job(p, 'j');
    assert.equal(j.when, 'delayed');
    assert.equal(j.startInSeconds, 5400);
    assert.equal(j.allowFailure, true);
    assert.deepEqual(j.variables, { A: 'job', B: 'rule' });
  });

  it('rules:if can use job and global variables', async () => {
    const p = await compileOk('variables: {G: g}\nj:\n  variables: {J: j}\n  script: x\n  rules:\n    - if: $G == "g" && $J == "j"\n');
    assert.deepEqual(names(p), ['j']);
  });

  it('matrix variables are visible to rules per instance', async () => {
    const p = await compileOk(`
t:
  parallel:
    matrix:
      - CLOUD: [aws, gcp]
  script: x
  rules:
    - if: $CLOUD == "aws"
`);
    assert.deepEqual(names(p), ['t: [aws]']);
  });

  it('changes matches globs of changed files; unknown changes count as changed', async () => {
    const y = `
docs:
  script: x
  rules:
    - changes: ["docs/**/*.md", "*.txt"]
src:
  script: x
  rules:
    - changes:
        paths: ["src/**/*"]
dots:
  script: x
  rules:
    - changes: [".config/*"]
`;
    assert.deepEqual(names(await compileOk(y, { changedFiles: ['docs/a/b.md', '.config/x'] })), ['docs', 'dots']);
    assert.deepEqual(names(await compileOk(y, { changedFiles: ['src/lib/x.ts'] })), ['src']);
    assert.deepEqual(names(await compileOk(y, { changedFiles: null })), ['docs', 'src', 'dots']);
    const none = await compile(y, { changedFiles: ['docs/a.txt/nested'] });
    assert.ok(!none.ok && none.skipped, 'a * does not cross directories');
  });

  it('changes paths expand variables', async () => {
    const p = await compileOk('j:\n  script: x\n  variables: {DIR: api}\n  rules:\n    - changes: ["$DIR/**"]\n', {
      changedFiles: ['api/a.go'],
    });
    assert.deepEqual(names(p), ['j']);
  });

  it('exists checks files of the repository (globs with a listing, literal paths without)', async () => {
    const y = 'node:\n  script: x\n  rules:\n    - exists: [package.json]\ngo:\n  script: x\n  rules:\n    - exists: ["**/*.go"]\n';
    const files = { 'package.json': '{}', 'cmd/main.go': '' };
    assert.deepEqual(names(await compileOk(y, { files, listFiles: true })), ['node', 'go']);
    assert.deepEqual(names(await compileOk(y, { files })), ['node']);
  });

  it('manual jobs: non-blocking at job level, blocking from rules, explicit allow_failure wins', async () => {
    const p = await compileOk(`
job_level:
  script: x
  when: manual
rule_level:
  script: x
  rules:
    - when: manual
explicit:
  script: x
  when: manual
  allow_failure: false
`);
    assert.deepEqual(
      p.jobs.map((j) => [j.name, j.when, j.allowFailure]),
      [
        ['job_level', 'manual', true],
        ['rule_level', 'manual', false],
        ['explicit', 'manual', false],
      ],
    );
  });

  it('rules without when take the job-level when', async () => {
    const p = await compileOk('j:\n  script: x\n  when: always\n  rules:\n    - if: $CI\n');
    assert.equal(job(p, 'j').when, 'always');
  });

  it('when: delayed needs start_in, at most a week', async () => {
    const p = await compileOk('j:\n  script: x\n  when: delayed\n  start_in: 30 seconds\n');
    assert.deepEqual([job(p, 'j').when, job(p, 'j').startInSeconds], ['delayed', 30]);
    await expectError('j:\n  script: x\n  when: delayed\n', 3, 9, 'needs start_in');
    await expectError('j:\n  script: x\n  when: delayed\n  start_in: 8 days\n', 4, 13, 'at most one week');
    await expectError('j:\n  script: x\n  rules:\n    - when: delayed\n', 4, 7, '`j.rules[0]`: when: delayed needs start_in');
  });

  it('a bad rules:if names the column inside the expression', async () => {
    const e = await expectError('j:\n  script: x\n  rules:\n    - if: $A == "x" && && $B\n', 4, 24, 'unexpected operator &&');
    assert.equal(e.path, 'j.rules[0].if');
    await expectError('j:\n  script: x\n  rules:\n    - if: \'$A = "x"\'\n', 4, 15, 'unexpected');
  });

  it('no job left after rules skips the pipeline', async () => {
    const r = await compile('j:\n  script: x\n  rules:\n    - if: $NOPE\n');
    assert.ok(!r.ok && r.skipped);
  });

  it('a need removed by rules is an error unless optional', async () => {
    const y = (optional: boolean): string =>
      `b:\n  stage: build\n  script: x\n  rules:\n    - if: $CI_COMMIT_TAG\nt:\n  script: y\n  needs:\n    - job: b\n      optional: ${optional}\n`;
    await expectError(y(false), 9, 7, 'its rules left it out');
    assert.deepEqual(job(await compileOk(y(true)), 't').needs, []);
  });
});

describe('only / except', () => {
  const y = `
always:
  script: x
main_only:
  script: x
  only: [main]
tags_only:
  script: x
  only: [tags]
not_main:
  script: x
  except: [main]
release_re:
  script: x
  only: ['/^v\\d+/']
mr:
  script: x
  only: [merge_requests]
hash:
  script: x
  only:
    refs: [branches]
    variables: [$DEPLOY == "yes"]
`;
  it('on a push to main', async () => {
    assert.deepEqual(names(await compileOk(y)), ['always', 'main_only']);
  });
  it('on a tag', async () => {
    assert.deepEqual(names(await compileOk(y, { variables: TAG })), ['always', 'tags_only', 'not_main', 'release_re']);
  });
  it('in a merge request pipeline only merge_requests jobs run by default', async () => {
    assert.deepEqual(names(await compileOk(y, { variables: MR })), ['mr']);
  });
  it('the hash form needs every kind of condition', async () => {
    assert.deepEqual(names(await compileOk(y, { userVariables: { DEPLOY: 'yes' } })), ['always', 'main_only', 'hash']);
  });
  it('rules and only together are rejected', async () => {
    await expectError('j:\n  script: x\n  only: [main]\n  rules:\n    - when: always\n', 1, 1, 'together with `only`');
  });
});
