import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  escapeVariableValue,
  expandVariables,
  jobVariables,
  parseDuration,
  predefinedVariables,
  resolveVariables,
  slugify,
} from '../../src/pipeline/index.js';

describe('slugify (CI_COMMIT_REF_SLUG)', () => {
  it('follows GitLab', () => {
    assert.equal(slugify('feature/Add_Login'), 'feature-add-login');
    assert.equal(slugify('--Weird..ref--'), 'weird--ref');
    assert.equal(slugify('v1.2.3'), 'v1-2-3');
    assert.equal(slugify('a'.repeat(62) + '/b'), 'a'.repeat(62));
    assert.equal(slugify('x'.repeat(100)).length, 63);
  });
});

describe('predefined variables', () => {
  const base = {
    sha: '0123456789abcdef0123456789abcdef01234567',
    beforeSha: null,
    ref: 'feature/x',
    isTag: false,
    defaultBranch: 'main',
    pipelineId: 42,
    pipelineSource: 'push',
    pipelineCreatedAt: new Date('2024-05-01T10:20:30.456Z'),
    repoName: 'group/app',
    repoUrl: 'https://git.example.com/group/app.git',
    serverUrl: 'https://ci.example.com/',
    configPath: '.tandem.yml',
  };

  it('describes a branch push', () => {
    const v = predefinedVariables(base);
    assert.equal(v.CI, 'true');
    assert.equal(v.GITLAB_CI, 'true');
    assert.equal(v.TANDEM, 'true');
    assert.equal(v.CI_COMMIT_SHORT_SHA, '01234567');
    assert.equal(v.CI_COMMIT_BEFORE_SHA, '0'.repeat(40));
    assert.equal(v.CI_COMMIT_BRANCH, 'feature/x');
    assert.equal(v.CI_COMMIT_REF_SLUG, 'feature-x');
    assert.equal(v.CI_COMMIT_TAG, undefined);
    assert.equal(v.CI_PIPELINE_ID, '42');
    assert.equal(v.CI_PIPELINE_CREATED_AT, '2024-05-01T10:20:30Z');
    assert.equal(v.CI_PROJECT_NAME, 'app');
    assert.equal(v.CI_PROJECT_PATH, 'group/app');
    assert.equal(v.CI_SERVER_URL, 'https://ci.example.com');
    assert.equal(v.CI_SERVER_NAME, 'Tandem');
    assert.equal(v.CI_CONFIG_PATH, '.tandem.yml');
  });

  it('describes a tag, and omits the pipeline id before it exists', () => {
    const v = predefinedVariables({ ...base, ref: 'v1.0.0', isTag: true, pipelineId: null });
    assert.equal(v.CI_COMMIT_TAG, 'v1.0.0');
    assert.equal(v.CI_COMMIT_BRANCH, undefined);
    assert.equal(v.CI_PIPELINE_ID, undefined);
  });

  it('job variables', () => {
    const v = jobVariables({
      jobId: 7,
      jobName: 'test 2/3',
      stage: 'test',
      startedAt: new Date('2024-05-01T10:21:00Z'),
      timeoutSeconds: 3600,
      projectDir: '/b/app',
      buildsDir: '/b',
      nodeIndex: 2,
      nodeTotal: 3,
      runnerTags: ['linux', 'docker'],
    });
    assert.deepEqual(v, {
      CI_JOB_ID: '7',
      CI_JOB_NAME: 'test 2/3',
      CI_JOB_NAME_SLUG: 'test-2-3',
      CI_JOB_STAGE: 'test',
      CI_JOB_STARTED_AT: '2024-05-01T10:21:00Z',
      CI_JOB_TIMEOUT: '3600',
      CI_PROJECT_DIR: '/b/app',
      CI_BUILDS_DIR: '/b',
      CI_RUNNER_TAGS: '["linux","docker"]',
      CI_NODE_INDEX: '2',
      CI_NODE_TOTAL: '3',
    });
  });
});

describe('variable expansion', () => {
  const vars = { A: 'alpha', B: 'beta', EMPTY: '' };
  const cases: [string, string][] = [
    ['$A', 'alpha'],
    ['${A}', 'alpha'],
    ['${A}_$B', 'alpha_beta'],
    ['$A_B', ''],
    ['x-$MISSING-y', 'x--y'],
    ['$$A', '$A'],
    ['cost: $$5', 'cost: $5'],
    ['$EMPTY|', '|'],
    ['no vars', 'no vars'],
    ['$', '$'],
    ['${A', '${A'],
  ];
  for (const [input, expected] of cases) {
    it(`${input} → ${expected}`, () => assert.equal(expandVariables(input, vars), expected));
  }

  it('keepUnknown leaves unknown references for a later pass', () => {
    assert.equal(expandVariables('$A-$CI_JOB_ID-$$', vars, { keepUnknown: true }), 'alpha-$CI_JOB_ID-$$');
    assert.equal(expandVariables('$X', { X: 'a$b' }, { keepUnknown: true }), 'a$$b');
  });

  it('resolves variables that refer to each other; escaped values stay literal', () => {
    const resolved = resolveVariables({ DIR: '$ROOT/app', ROOT: '/srv', RAW: escapeVariableValue('$ROOT'), LOOP: '$LOOP' });
    assert.deepEqual(resolved, { DIR: '/srv/app', ROOT: '/srv', RAW: '$ROOT', LOOP: '$LOOP' });
  });
});

describe('durations', () => {
  it('parses GitLab forms and rejects others', () => {
    assert.equal(parseDuration('1 hour'), 3600);
    assert.equal(parseDuration('1 min'), 60);
    assert.equal(parseDuration('30 seconds'), 30);
    assert.equal(parseDuration('1 week'), 604800);
    assert.equal(parseDuration('1h30m'), 5400);
    assert.equal(parseDuration(120), 120);
    assert.equal(parseDuration('later'), null);
    assert.equal(parseDuration('5 parsecs'), null);
    assert.equal(parseDuration(''), null);
  });
});
