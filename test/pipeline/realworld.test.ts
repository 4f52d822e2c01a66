import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileOk, job, names, PUSH_MAIN } from './helpers.js';

// A typical Node.js project pipeline as found in the wild.
const NODE_PIPELINE = `
stages: [install, build, test, deploy]

variables:
  NODE_ENV: test
  npm_config_cache: "$CI_PROJECT_DIR/.npm"

.node_cache: &node_cache
  key:
    files: [package-lock.json]
  paths: [.npm/, node_modules/]
  policy: pull

.node:
  image: node:20-alpine
  cache: *node_cache
  before_script:
    - node --version
  interruptible: true

.only_mr_and_main: &rules_mr_main
  - if: $CI_PIPELINE_SOURCE == "merge_request_event"
  - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH

workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
    - if: $CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS
      when: never
    - if: $CI_COMMIT_BRANCH
    - if: $CI_COMMIT_TAG

install:
  extends: .node
  stage: install
  script: npm ci
  cache:
    <<: *node_cache
    policy: pull-push

build:
  extends: .node
  stage: build
  needs: [install]
  script:
    - npm run build
  artifacts:
    paths: [dist/]
    expire_in: 1 day

lint:
  extends: .node
  stage: test
  needs: [install]
  script: npm run lint
  rules: *rules_mr_main

unit:
  extends: .node
  stage: test
  needs: [build]
  parallel:
    matrix:
      - NODE_VERSION: ["18", "20"]
  script:
    - npm test -- --shard=$CI_NODE_INDEX/$CI_NODE_TOTAL
  coverage: '/Lines\\s*:\\s*(\\d+\\.?\\d*)%/'
  artifacts:
    when: always
    reports:
      junit: junit.xml

deploy_staging:
  stage: deploy
  needs: [build, unit]
  script: ./deploy.sh staging
  environment:
    name: staging
    url: https://staging.example.com
  resource_group: staging
  rules:
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH

deploy_production:
  stage: deploy
  needs: [deploy_staging]
  script: ./deploy.sh production
  environment: production
  rules:
    - if: $CI_COMMIT_TAG =~ /^v\\d+\\.\\d+\\.\\d+$/
      when: manual
  retry:
    max: 2
    when: [runner_system_failure, stuck_or_timeout_failure]
`;

describe('a real-world Node.js pipeline', () => {
  it('compiles for a push to main', async () => {
    const p = await compileOk(NODE_PIPELINE);
    assert.deepEqual(p.stages, ['.pre', 'install', 'build', 'test', 'deploy', '.post']);
    assert.deepEqual(names(p), ['install', 'build', 'lint', 'unit: [18]', 'unit: [20]', 'deploy_staging']);
    assert.deepEqual(p.variables, { NODE_ENV: 'test', npm_config_cache: '$CI_PROJECT_DIR/.npm' });

    const install = job(p, 'install');
    assert.deepEqual(install.cache, [
      {
        key: { files: ['package-lock.json'] },
        paths: ['.npm/', 'node_modules/'],
        policy: 'pull-push',
        when: 'on_success',
        untracked: false,
        fallbackKeys: [],
      },
    ]);
    assert.deepEqual(install.beforeScript, ['node --version']);
    assert.equal(install.interruptible, true);
    assert.equal(install.image, 'node:20-alpine');

    const build = job(p, 'build');
    assert.equal(build.cache[0].policy, 'pull');
    assert.deepEqual(build.needs, [{ job: 'install', artifacts: true, optional: false }]);
    assert.deepEqual(build.artifacts?.paths, ['dist/']);
    assert.equal(build.artifacts?.expireInSeconds, 86400);

    const unit = job(p, 'unit: [20]');
    assert.deepEqual(unit.variables, { NODE_VERSION: '20' });
    assert.deepEqual(unit.artifacts?.paths, [], 'reports only: no files to keep');
    assert.deepEqual(unit.artifacts?.junit, ['junit.xml']);

    const staging = job(p, 'deploy_staging');
    assert.deepEqual(
      staging.needs?.map((n) => n.job),
      ['build', 'unit: [18]', 'unit: [20]'],
    );
    assert.equal(staging.resourceGroup, 'staging');
    assert.equal(staging.environment?.url, 'https://staging.example.com');
    assert.equal(staging.interruptible, false);

    assert.ok(!p.warnings.some((w) => w.message.includes('reports')), 'junit reports are processed');
  });

  it('compiles for a release tag with a blocking manual production deploy', async () => {
    const tag = { ...PUSH_MAIN, CI_COMMIT_BRANCH: '', CI_COMMIT_TAG: 'v1.4.0', CI_COMMIT_REF_NAME: 'v1.4.0' };
    const p = await compileOk(NODE_PIPELINE.replace('needs: [deploy_staging]', 'needs: [{job: deploy_staging, optional: true}]'), {
      variables: tag,
    });
    assert.deepEqual(names(p), ['install', 'build', 'unit: [18]', 'unit: [20]', 'deploy_production']);
    const prod = job(p, 'deploy_production');
    assert.deepEqual([prod.when, prod.allowFailure], ['manual', false]);
    assert.deepEqual(prod.needs, []);
    assert.deepEqual(prod.retry, { max: 2, when: ['runner_system_failure', 'stuck_or_timeout_failure'], exitCodes: [] });
    assert.deepEqual(prod.environment, { name: 'production', action: 'start', extra: {} });
  });
});
