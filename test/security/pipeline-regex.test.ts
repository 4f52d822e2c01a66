// Catastrophic regular expressions and globs in pipeline files: with JavaScript's backtracking
// RegExp, `=~ /^(a+)+$/` against a long variable, or an `exists:` glob like `*a*a*a…b` against a
// long file name, held the server's event loop for minutes. Patterns now run on RE2 (linear time)
// with GitLab's syntax; what RE2 cannot run is a positioned error when the file is checked.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { refProtectionRoleForTest } from './pipeline-support.js';
import { globMatcher } from '../../src/pipeline/glob.js';
import { evaluateExpression } from '../../src/pipeline/index.js';
import { refMatchesFilters } from '../../src/source/webhooks.js';
import { compile, compileErrors, compileOk, PUSH_MAIN } from '../pipeline/helpers.js';

const FAST_MS = 2000;
const LONG_A = `${'a'.repeat(50_000)}b`;
const EVIL_GLOB = `${'*a'.repeat(40)}*b`;

function within<T>(work: () => T): T {
  const started = performance.now();
  const value = work();
  const ms = performance.now() - started;
  assert.ok(ms < FAST_MS, `took ${ms} ms`);
  return value;
}

async function withinAsync<T>(work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const value = await work();
  const ms = performance.now() - started;
  assert.ok(ms < FAST_MS, `took ${ms} ms`);
  return value;
}

describe('regular expressions run on RE2', () => {
  it('rules:if $X =~ /^(a+)+$/ against 50,000 a and a b answers at once (no match), not after minutes', async () => {
    const yaml = 'evil:\n  script: [echo]\n  rules:\n    - if: $X =~ /^(a+)+$/\nok:\n  script: [echo]\n';
    const pipeline = await withinAsync(() => compileOk(yaml, { variables: { ...PUSH_MAIN, X: LONG_A } }));
    assert.deepEqual(
      pipeline.jobs.map((j) => j.name),
      ['ok'],
    );
    assert.equal(
      within(() => evaluateExpression('$X =~ /^(a+)+$/', { X: 'a'.repeat(50_000) })),
      true,
    );
  });

  it('a pattern held in a variable ($X =~ $PATTERN) and only:refs regexes are RE2 too', async () => {
    assert.equal(
      within(() => evaluateExpression('$X =~ $P', { X: LONG_A, P: '/^(a|aa)+$/' })),
      false,
    );
    const yaml = 'evil:\n  script: [echo]\n  only: ["/^(a+)+$/"]\nok:\n  script: [echo]\n';
    const pipeline = await withinAsync(() =>
      compileOk(yaml, { variables: { ...PUSH_MAIN, CI_COMMIT_REF_NAME: LONG_A, CI_COMMIT_BRANCH: LONG_A } }),
    );
    assert.deepEqual(
      pipeline.jobs.map((j) => j.name),
      ['ok'],
    );
  });

  it('GitLab flags i, m, s and U work; RE2 syntax like (?i) is accepted', () => {
    assert.equal(evaluateExpression('$X =~ /^MAIN$/i', { X: 'main' }), true);
    assert.equal(evaluateExpression('$X =~ /^b$/m', { X: 'a\nb' }), true);
    assert.equal(evaluateExpression('$X =~ /a.b/s', { X: 'a\nb' }), true);
    assert.equal(evaluateExpression('$X =~ /(?i)^main$/', { X: 'MAIN' }), true);
    assert.equal(evaluateExpression('$X =~ /^release\\/v\\d+$/', { X: 'release/v12' }), true);
  });

  it('backreferences and lookaround are refused with the position of the regex when the file is checked', async () => {
    const errors = await compileErrors(
      'j:\n  script: [echo]\n  rules:\n    - if: $X =~ /(a)\\1/\n    - if: $Y =~ /a(?=b)/\n  only: ["/x(?!y)/"]\n',
    );
    const back = errors.find((e) => e.message.includes('backreferences'));
    assert.ok(back, JSON.stringify(errors));
    assert.deepEqual([back.line, back.column], [4, 17]);
    const look = errors.filter((e) => e.message.includes('lookahead'));
    assert.equal(look.length, 2, JSON.stringify(errors));
    assert.deepEqual([look[0].line, look[0].column], [5, 17]);
    assert.equal(look[1].line, 6);
  });
});

describe('globs match in linear time with GitLab semantics', () => {
  it('exists: ["*a*a*a…b"] against a file named with 50,000 a answers at once', async () => {
    const files = { [LONG_A.slice(0, -1)]: 'x', 'README.md': 'x' };
    const yaml = `evil:\n  script: [echo]\n  rules:\n    - exists: ["${EVIL_GLOB}"]\nok:\n  script: [echo]\n`;
    const pipeline = await withinAsync(() => compileOk(yaml, { files, listFiles: true }));
    assert.deepEqual(
      pipeline.jobs.map((j) => j.name),
      ['ok'],
    );
  });

  it('changes: and wildcard includes with the evil glob answer at once too', async () => {
    const changes = await withinAsync(() =>
      compile(`evil:\n  script: [echo]\n  rules:\n    - changes: ["${EVIL_GLOB}"]\nok:\n  script: [echo]\n`, {
        changedFiles: [LONG_A.slice(0, -1)],
      }),
    );
    assert.ok(changes.ok);
    assert.deepEqual(
      changes.pipeline.jobs.map((j) => j.name),
      ['ok'],
    );
    const files = { [`${LONG_A.slice(0, -1)}.yml`]: 'x: 1' };
    const include = await withinAsync(() =>
      compileErrors(`include: "${EVIL_GLOB}.yml"\nok:\n  script: [echo]\n`, { files, listFiles: true }),
    );
    assert.ok(
      include.some((e) => e.message.includes('no file matches the include')),
      JSON.stringify(include),
    );
  });

  it('branch filters and protected-branch patterns use the same matcher', async () => {
    within(() => assert.equal(refMatchesFilters(`refs/heads/${LONG_A.slice(0, -1)}`, { branches: [EVIL_GLOB] }), false));
    assert.equal(refMatchesFilters('refs/heads/release/1/2', { branches: ['release/**'] }), true);
    assert.equal(refMatchesFilters('refs/heads/feature/x', { branches: ['*', '!feature/*'] }), false);
    assert.equal(await withinAsync(() => refProtectionRoleForTest(EVIL_GLOB, LONG_A.slice(0, -1))), null);
    assert.equal(await refProtectionRoleForTest('release-*', 'release-1'), 'maintainer');
  });

  it('File.fnmatch semantics: * within a directory, **/ across, dot files, braces, sets', () => {
    const m = (glob: string, path: string): boolean => globMatcher([glob])(path);
    assert.ok(m('*.md', 'README.md'));
    assert.ok(!m('*.md', 'docs/a.md'));
    assert.ok(m('**/*.md', 'README.md'));
    assert.ok(m('**/*.md', 'docs/a/b.md'));
    assert.ok(m('docs/**/*.md', 'docs/x.md'));
    assert.ok(m('src/**', 'src/a.ts'));
    assert.ok(!m('src/**', 'src/a/b.ts'));
    assert.ok(m('*', '.hidden'));
    assert.ok(m('**/*', '.config/x'));
    assert.ok(m('{a,b/{c,d}}.txt', 'b/d.txt'));
    assert.ok(!m('{a,b}.txt', 'c.txt'));
    assert.ok(m('file[0-9].txt', 'file7.txt'));
    assert.ok(m('file[!0-9].txt', 'fileX.txt'));
    assert.ok(!m('a[/]b', 'a/b'));
    assert.ok(!m('a?b', 'a/b'));
    assert.ok(m('a\\*b', 'a*b'));
    assert.ok(!m('a\\*b', 'axb'));
    assert.ok(m('[unclosed', '[unclosed'));
    assert.ok(m('{unclosed', '{unclosed'));
  });
});
