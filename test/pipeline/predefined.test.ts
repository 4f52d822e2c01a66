import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  commitDescription,
  commitTitle,
  environmentSlug,
  escapeVariableValue,
  expandVariables,
  guessTier,
  jobVariables,
  parseRawCommit,
  parseDuration,
  asksToSkipCi,
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

  // https://docs.gitlab.com/ee/ci/variables/predefined_variables.html: the workflow:name, the
  // project's id and whether the ref is protected, where the caller knows them.
  it('CI_PIPELINE_NAME, CI_PROJECT_ID and CI_COMMIT_REF_PROTECTED', () => {
    const v = predefinedVariables({ ...base, pipelineName: 'Release train', projectId: 7, refProtected: false });
    assert.deepEqual([v.CI_PIPELINE_NAME, v.CI_PROJECT_ID, v.CI_COMMIT_REF_PROTECTED], ['Release train', '7', 'false']);
    assert.equal(predefinedVariables({ ...base, refProtected: true }).CI_COMMIT_REF_PROTECTED, 'true');
    const unknown = predefinedVariables({ ...base, pipelineName: null });
    assert.deepEqual([unknown.CI_PIPELINE_NAME, unknown.CI_PROJECT_ID, unknown.CI_COMMIT_REF_PROTECTED], [undefined, undefined, undefined]);
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
      serverUrl: 'https://ci.example.com/',
      environment: null,
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
      CI_JOB_URL: 'https://ci.example.com/jobs/7',
      CI_NODE_INDEX: '2',
      CI_NODE_TOTAL: '3',
    });
  });

  // GitLab's CI_COMMIT_* (Pipeline availability): MESSAGE is the whole message, TITLE its first
  // line, DESCRIPTION the rest, AUTHOR "Name <email>", TIMESTAMP ISO 8601.
  it('describes the commit, and leaves CI_COMMIT_* unset when it is not known', () => {
    const commit = parseRawCommit(
      'tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n' +
        'author Ada Lovelace <ada@example.com> 1714558830 +0200\n' +
        'committer Bob <bob@example.com> 1714558890 -0130\n\n' +
        'Fix the parser\n\nIt read one byte too many.\n',
    );
    assert.deepEqual(commit, {
      message: 'Fix the parser\n\nIt read one byte too many.\n',
      author: 'Ada Lovelace <ada@example.com>',
      // The committer's date, in the committer's offset.
      timestamp: '2024-05-01T08:51:30-01:30',
    });
    const v = predefinedVariables({ ...base, commit });
    assert.equal(v.CI_COMMIT_MESSAGE, 'Fix the parser\n\nIt read one byte too many.\n');
    assert.equal(v.CI_COMMIT_TITLE, 'Fix the parser');
    // GitLab's Commit#description: after the first newline, one trailing newline dropped.
    assert.equal(v.CI_COMMIT_DESCRIPTION, '\nIt read one byte too many.');
    assert.equal(v.CI_COMMIT_AUTHOR, 'Ada Lovelace <ada@example.com>');
    assert.equal(v.CI_COMMIT_TIMESTAMP, '2024-05-01T08:51:30-01:30');
    const before = predefinedVariables({ ...base, commit: null });
    for (const key of ['CI_COMMIT_MESSAGE', 'CI_COMMIT_TITLE', 'CI_COMMIT_DESCRIPTION', 'CI_COMMIT_AUTHOR', 'CI_COMMIT_TIMESTAMP'])
      assert.equal(before[key], undefined, key);
  });

  // GitLab's Commit#description and #full_title (lib: app/models/commit.rb).
  it('a first line longer than 100 characters: the description goes on from character 80 (GitLab)', () => {
    const long = `${'x'.repeat(80)}${'y'.repeat(21)}\nbody\n`;
    assert.equal(commitDescription(long), `…${'y'.repeat(21)}\nbody\n`);
    assert.equal(commitDescription('x'.repeat(80) + 'z'.repeat(21)), `…${'z'.repeat(21)}`);
    assert.equal(commitTitle(long), 'x'.repeat(80) + 'y'.repeat(21));
    assert.equal(commitTitle('\n'), 'No commit message');
    assert.equal(commitDescription('one line\n'), '');
    assert.equal(commitTitle('one line\r\nmore'), 'one line');
    assert.equal(parseRawCommit('not a commit'), null);
  });

  it("points at Tandem's pages and names the namespace, the server's FQDN and the pipeline IID", () => {
    const v = predefinedVariables({ ...base, serverUrl: 'https://ci.example.com:8443/' });
    assert.equal(v.CI_PROJECT_URL, 'https://ci.example.com:8443/repos/group%2Fapp');
    assert.equal(v.CI_PIPELINE_URL, 'https://ci.example.com:8443/pipelines/42');
    // Pipelines are numbered once for the server: the per-project IID is the id.
    assert.equal(v.CI_PIPELINE_IID, '42');
    // GitLab: host and the port unless it is the protocol's default.
    assert.equal(v.CI_SERVER_FQDN, 'ci.example.com:8443');
    assert.equal(predefinedVariables(base).CI_SERVER_FQDN, 'ci.example.com');
    assert.equal(v.CI_PROJECT_NAMESPACE, 'group');
    assert.equal(v.CI_PROJECT_ROOT_NAMESPACE, 'group');
    const nested = predefinedVariables({ ...base, repoName: 'org/team/app' });
    assert.equal(nested.CI_PROJECT_NAMESPACE, 'org/team');
    assert.equal(nested.CI_PROJECT_ROOT_NAMESPACE, 'org');
    // A repository without a group has no namespace in Tandem: set, and empty.
    assert.equal(predefinedVariables({ ...base, repoName: 'app' }).CI_PROJECT_NAMESPACE, '');
    assert.equal(predefinedVariables({ ...base, pipelineId: null }).CI_PIPELINE_URL, undefined);
  });

  // GitLab's CI_PROJECT_PATH is the project's full path; a repository registered as `shop` with the
  // path `retail/web/shop` shows that path, while its Tandem page keeps the name.
  it("CI_PROJECT_PATH, _NAME and the namespaces follow the repository's project path", () => {
    const v = predefinedVariables({ ...base, repoName: 'shop', repoPath: 'retail/web/shop' });
    assert.deepEqual(
      [v.CI_PROJECT_PATH, v.CI_PROJECT_NAME, v.CI_PROJECT_NAMESPACE, v.CI_PROJECT_ROOT_NAMESPACE, v.CI_PROJECT_PATH_SLUG],
      ['retail/web/shop', 'shop', 'retail/web', 'retail', 'retail-web-shop'],
    );
    assert.equal(v.CI_PROJECT_URL, 'https://ci.example.com/repos/shop');
  });

  const job = {
    jobId: 7,
    jobName: 'deploy',
    stage: 'deploy',
    startedAt: new Date('2024-05-01T10:21:00Z'),
    timeoutSeconds: 3600,
    projectDir: '/b/app',
    buildsDir: '/b',
    runnerTags: [],
    serverUrl: 'https://ci.example.com',
  };

  // GitLab sets CI_NODE_TOTAL=1 for a job without `parallel:`, and CI_NODE_INDEX only with it.
  it('CI_NODE_TOTAL is 1 and CI_NODE_INDEX unset without parallel', () => {
    const v = jobVariables({ ...job, environment: null });
    assert.equal(v.CI_NODE_TOTAL, '1');
    assert.equal(v.CI_NODE_INDEX, undefined);
    assert.equal(v.CI_ENVIRONMENT_NAME, undefined);
  });

  it('CI_ENVIRONMENT_* for a job with environment:', () => {
    const v = jobVariables({
      ...job,
      environment: { name: 'review/Feature-1', url: 'https://r.example.com', action: 'start', deploymentTier: 'development', extra: {} },
    });
    assert.equal(v.CI_ENVIRONMENT_NAME, 'review/Feature-1');
    assert.match(v.CI_ENVIRONMENT_SLUG ?? '', /^review-feature-1-[a-z0-9]{6}$/);
    assert.equal(v.CI_ENVIRONMENT_URL, 'https://r.example.com');
    assert.equal(v.CI_ENVIRONMENT_ACTION, 'start');
    assert.equal(v.CI_ENVIRONMENT_TIER, 'development');
    const bare = jobVariables({ ...job, environment: { name: 'production', action: 'stop', extra: {} } });
    assert.equal(bare.CI_ENVIRONMENT_SLUG, 'production');
    assert.equal(bare.CI_ENVIRONMENT_ACTION, 'stop');
    assert.equal(bare.CI_ENVIRONMENT_URL, undefined);
    // Without deployment_tier, GitLab guesses the tier from the name (Environment#guess_tier).
    assert.equal(bare.CI_ENVIRONMENT_TIER, 'production');
  });

  it('guesses the tier from the environment name as GitLab does', () => {
    const cases: [string, string][] = [
      ['review/feature-1', 'development'],
      ['dev', 'development'],
      ['qa', 'testing'],
      ['integration', 'testing'],
      ['staging', 'staging'],
      ['pre-prod', 'staging'],
      ['production', 'production'],
      ['live', 'production'],
      ['customer-portal', 'other'],
    ];
    for (const [name, tier] of cases) assert.equal(guessTier(name), tier, name);
  });

  // Gitlab::Slug::Environment: starts with a letter, no repeated '-', at most 24 characters, and a
  // suffix from the name's hash whenever the slug is not the name itself.
  it('environment slugs as GitLab makes them', () => {
    assert.equal(environmentSlug('staging'), 'staging');
    assert.equal(environmentSlug('foo-'), 'foo');
    assert.equal(environmentSlug('staging-1234567890123456'), 'staging-1234567890123456');
    assert.match(environmentSlug('staging-12345678901234567'), /^staging-123456789-[a-z0-9]{6}$/);
    assert.match(environmentSlug('1-foo'), /^env-1-foo-[a-z0-9]{6}$/);
    assert.match(environmentSlug('foo--bar'), /^foo-bar-[a-z0-9]{6}$/);
    assert.notEqual(environmentSlug('Review/A'), environmentSlug('review-a'));
    assert.ok(environmentSlug('x'.repeat(80)).length <= 24);
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

describe('[skip ci]', () => {
  // GitLab's Ci::Pipeline::Chain::Skip: /\[(ci[ _-]skip|skip[ _-]ci)\]/i anywhere in the message.
  it('is found as GitLab finds it', () => {
    for (const m of ['Fix [skip ci]', 'x\n\n[ci skip]', '[SKIP-CI] docs', 'a [ci_skip] b']) assert.ok(asksToSkipCi(m), m);
    for (const m of ['skip ci', '[skip  ci]', '[skipci]', '(skip ci)']) assert.ok(!asksToSkipCi(m), m);
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

  // GitLab parses durations with ChronicDuration: number words (its Numerizer), the colon form,
  // a leading unit meaning one of it, and join words; any unknown word is an error.
  it('reads what ChronicDuration reads', () => {
    assert.equal(parseDuration('one week'), 604800);
    assert.equal(parseDuration('twenty-one days'), 21 * 86400);
    assert.equal(parseDuration('1:30:00'), 5400);
    assert.equal(parseDuration('4:13'), 253);
    assert.equal(parseDuration('day'), 86400);
    assert.equal(parseDuration('hour 30 min'), 5400);
    assert.equal(parseDuration('1 day and 2 hours'), 93600);
    assert.equal(parseDuration('30 minutes, 10 seconds'), 1810);
    assert.equal(parseDuration('1 mo'), 30 * 86400);
    assert.equal(parseDuration('1 2 hours'), 7200);
    assert.equal(parseDuration('one fortnight'), null);
  });
});
