// GitLab semantics that real pipeline files rely on (issue 16, "Semantics"): each test names the
// GitLab behaviour it pins.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileOk, expectError, job } from './helpers.js';

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
});

describe('a key left empty is unset', () => {
  // GitLab's config factory turns a nil value into an unspecified entry: `image:` with no value is
  // as if there were no `image` key (so `default:` applies), and a null in a job replaces what
  // `extends` brought. A job whose `script:` is empty still has no script, which GitLab rejects.
  it('for job keys, defaults and top-level keywords', async () => {
    const p = await compileOk(`
variables:
stages:
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
