// `tandem exec`: a pipeline file run here by the real scheduler, in a real git working tree.
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { git, tempDir } from '../support/git.js';
import { execSummary as summary, tandem } from './helpers.js';

const PIPELINE = `stages: [build, test, report]
build:
  stage: build
  script:
    - mkdir -p out && echo "built $CI_COMMIT_SHORT_SHA" > out/result.txt
  artifacts:
    paths: [out/]
unit:
  stage: test
  needs: [build]
  parallel:
    matrix:
      - FLAVOUR: [red, blue]
  script:
    - echo "flavour=$FLAVOUR saw $(cat out/result.txt)"
flaky:
  stage: test
  allow_failure: true
  tags: [linux, docker] # the local agent runs jobs whatever runner they ask for
  script:
    - exit 3
report:
  stage: report
  script:
    - cat out/result.txt
    - echo "notes=$(cat notes.txt)"
    - test ! -e .tandem-exec
    - echo "commit=$CI_COMMIT_TITLE by $CI_COMMIT_AUTHOR"
`;

/** A git repository holding the pipeline, one commit, and an uncommitted edit to notes.txt. */
async function project(t: { after: (fn: () => void) => void }, pipeline = PIPELINE): Promise<{ dir: string; sha: string }> {
  const dir = tempDir(t, 'cli-exec');
  await git(dir, 'init', '--quiet', '-b', 'main');
  await writeFile(path.join(dir, '.gitlab-ci.yml'), pipeline);
  await writeFile(path.join(dir, 'notes.txt'), 'committed\n');
  await git(dir, 'add', '--all');
  await git(dir, 'commit', '--quiet', '-m', 'initial');
  await writeFile(path.join(dir, 'notes.txt'), 'uncommitted\n');
  return { dir, sha: await git(dir, 'rev-parse', 'HEAD') };
}

test('exec: stages, needs, artifacts, a matrix and an allowed failure; uncommitted changes are used', async (t) => {
  const { dir, sha } = await project(t);
  const r = await tandem(['exec'], { cwd: dir });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(
    summary(r.stdout),
    new Map([
      ['build', 'success'],
      ['flaky', 'failed (allowed)'],
      ['unit: [red]', 'success'],
      ['unit: [blue]', 'success'],
      ['report', 'success'],
    ]),
  );
  assert.match(r.stdout, /^pipeline success$/m);
  // Job output is prefixed by its job, plain when piped; the artifact travelled build → unit → report.
  assert.match(r.stdout, new RegExp(`^\\[unit: \\[red\\]\\] flavour=red saw built ${sha.slice(0, 8)}$`, 'm'));
  assert.match(r.stdout, new RegExp(`^\\[unit: \\[blue\\]\\] flavour=blue saw built ${sha.slice(0, 8)}$`, 'm'));
  assert.match(r.stdout, /^\[report\] notes=uncommitted$/m);
  // GitLab's CI_COMMIT_TITLE and CI_COMMIT_AUTHOR, read from the local repository's HEAD.
  assert.match(r.stdout, /^\[report\] commit=initial by Tandem Test <test@tandem\.invalid>$/m);
  assert.ok(!r.stdout.includes('\u001b[36m'), 'no colour when piped');

  // A second run starts from the working tree again, never from the first run's state dir.
  const again = await tandem(['exec', '--quiet'], { cwd: dir });
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.equal(summary(again.stdout).get('report'), 'success');
});

test('exec: every job gets its own copy of the working tree, links, modes and subdirectories kept', async (t) => {
  const dir = tempDir(t, 'cli-exec-tree');
  await git(dir, 'init', '--quiet', '-b', 'main');
  await writeFile(
    path.join(dir, '.gitlab-ci.yml'),
    `stages: [first, second]
edit:
  stage: first
  script:
    - echo "link=$(readlink link) deep=$(cat link)"
    - test -x tool.sh && echo tool=executable
    - test ! -e gone.txt && echo gone=absent
    - echo changed > sub/dir/deep.txt
later:
  stage: second
  script:
    - echo "deep=$(cat sub/dir/deep.txt)"
`,
  );
  await mkdir(path.join(dir, 'sub', 'dir'), { recursive: true });
  await writeFile(path.join(dir, 'sub', 'dir', 'deep.txt'), 'deep\n');
  await symlink('sub/dir/deep.txt', path.join(dir, 'link'));
  await writeFile(path.join(dir, 'tool.sh'), '#!/bin/sh\n');
  await chmod(path.join(dir, 'tool.sh'), 0o755);
  await writeFile(path.join(dir, 'gone.txt'), 'here\n');
  await git(dir, 'add', '--all');
  await git(dir, 'commit', '--quiet', '-m', 'tree');
  // Deleted but not staged: git still lists it.
  await rm(path.join(dir, 'gone.txt'));
  const r = await tandem(['exec'], { cwd: dir });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^\[edit\] link=sub\/dir\/deep\.txt deep=deep$/m);
  assert.match(r.stdout, /^\[edit\] tool=executable$/m);
  assert.match(r.stdout, /^\[edit\] gone=absent$/m);
  // The first job's edit stayed in its own copy: neither the next job nor the project sees it.
  assert.match(r.stdout, /^\[later\] deep=deep$/m);
  assert.equal(await readFile(path.join(dir, 'sub', 'dir', 'deep.txt'), 'utf8'), 'deep\n');
});

test('exec: a failing job fails the pipeline with exit 1', async (t) => {
  const { dir } = await project(
    t,
    'compile:\n  script:\n    - echo compiling\n    - exit 7\nafter:\n  stage: deploy\n  script: [echo never]\n',
  );
  const r = await tandem(['exec'], { cwd: dir });
  assert.equal(r.code, 1);
  assert.deepEqual(
    summary(r.stdout),
    new Map([
      ['compile', 'failed'],
      ['after', 'skipped'],
    ]),
  );
  assert.match(r.stdout, /exit code 7/);
  assert.match(r.stdout, /^pipeline failed$/m);
  assert.doesNotMatch(r.stdout, /never$/m);
});

test('exec JOB runs that job alone; --quiet prints only the summary', async (t) => {
  const { dir } = await project(t);
  const r = await tandem(['exec', 'unit', '--quiet'], { cwd: dir });
  // `unit` runs without `build`: its needs are dropped, so `cat out/result.txt` fails quietly in the echo.
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(
    summary(r.stdout),
    new Map([
      ['unit: [red]', 'success'],
      ['unit: [blue]', 'success'],
    ]),
  );
  assert.doesNotMatch(r.stdout, /^\[/m, 'no job log lines');

  const one = await tandem(['exec', 'report'], { cwd: dir });
  assert.equal(one.code, 1, 'report alone has no artifact to cat');
  assert.deepEqual([...summary(one.stdout).keys()], ['report']);
  assert.match(one.stdout, /^\[report\] .*No such file/m);

  const unknown = await tandem(['exec', 'nosuchjob'], { cwd: dir });
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no job named nosuchjob/);
});

test('exec: a directory that is not a git repository runs too, again and again', async (t) => {
  const dir = tempDir(t, 'cli-exec-nogit');
  await writeFile(path.join(dir, '.gitlab-ci.yml'), 'files:\n  script:\n    - ls -A\n    - test ! -e .tandem-exec\n');
  for (let run = 0; run < 2; run++) {
    const r = await tandem(['exec'], { cwd: dir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^\[files\] \.gitlab-ci\.yml$/m);
  }
});

test('exec: an invalid pipeline file is refused with file:line:col', async (t) => {
  const { dir } = await project(t, 'build:\n  script: [make]\n  artifact:\n    paths: [out/]\n');
  const r = await tandem(['exec'], { cwd: dir });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\.gitlab-ci\.yml:3:3: error: unknown key `artifact`/);
  assert.doesNotMatch(r.stdout, /pipeline/);

  const missing = await tandem(['exec', '--file', 'other.yml'], { cwd: dir });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /other\.yml: no such file/);
});

test('exec --manual plays each manual job once, whatever the concurrency (idle workers raced to play it)', async (t) => {
  const manualJobs = ['m1', 'm2', 'm3', 'm4'];
  const pipeline = `build:\n  script: [echo built]\n${manualJobs.map((name) => `${name}:\n  when: manual\n  script: [echo ${name}]\n`).join('')}`;
  const { dir } = await project(t, pipeline);
  const r = await tandem(['exec', '--quiet', '--concurrency', '4', '--manual', ...manualJobs], { cwd: dir });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const rows = summary(r.stdout);
  for (const name of ['build', ...manualJobs]) assert.equal(rows.get(name), 'success', `${name}: ${r.stdout}`);
});

test('exec: cache:policy from a variable is expanded when the job runs; an unknown policy fails the job', async (t) => {
  // GitLab 16.1+ (https://docs.gitlab.com/ee/ci/caching/#use-a-variable-to-control-a-jobs-cache-policy).
  const cache = '  cache: {key: shared, paths: [c/], policy: $POLICY}\n';
  const pipeline = `stages: [a, b]
save:
  stage: a
  variables: {POLICY: push}
${cache}  script: [mkdir -p c, echo cached-by-save > c/f]
load:
  stage: b
  variables: {POLICY: pull}
${cache}  script: [cat c/f]
odd:
  stage: b
  allow_failure: true
  variables: {POLICY: sometimes}
${cache}  script: [echo never]
`;
  const { dir } = await project(t, pipeline);
  const r = await tandem(['exec', '--concurrency', '1'], { cwd: dir });
  const rows = summary(r.stdout);
  assert.equal(rows.get('save'), 'success', r.stdout);
  assert.equal(rows.get('load'), 'success', r.stdout);
  assert.match(r.stdout, /cached-by-save/);
  assert.equal(rows.get('odd'), 'failed (allowed)', r.stdout);
  assert.match(r.stdout + r.stderr, /cache:policy \$POLICY is "sometimes": unknown cache policy/);
});

test('exec: a trigger job is skipped with a message that it needs the server; the rest of the pipeline runs', async (t) => {
  // GitLab starts downstream pipelines on the server (https://docs.gitlab.com/ee/ci/yaml/#trigger); exec has none.
  const { dir } = await project(
    t,
    'stages: [build, child, after]\nbuild:\n  stage: build\n  script: [echo built]\nkid:\n  stage: child\n  trigger:\n    include: child.yml\n    strategy: depend\nlast:\n  stage: after\n  script: [echo last-ran]\n',
  );
  const r = await tandem(['exec', '--concurrency', '2'], { cwd: dir });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(
    summary(r.stdout),
    new Map([
      ['build', 'success'],
      ['kid', 'skipped'],
      ['last', 'success'],
    ]),
  );
  assert.equal(r.stdout.match(/trigger jobs \(child and multi-project pipelines\) need a Tandem server/g)?.length, 1);
  assert.match(r.stdout, /last-ran/);
});

test('exec: artifacts:reports:dotenv variables reach later jobs, above their own variables (GitLab precedence)', async (t) => {
  // https://docs.gitlab.com/ee/ci/yaml/artifacts_reports.html#artifactsreportsdotenv
  const pipeline = `stages: [a, b]
make:
  stage: a
  script: [echo "VERSION=4.5.6" > build.env]
  artifacts: {reports: {dotenv: build.env}}
use:
  stage: b
  variables: {VERSION: from-yaml}
  script: [echo "version=$VERSION"]
`;
  const { dir } = await project(t, pipeline);
  const r = await tandem(['exec', '--concurrency', '1'], { cwd: dir });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /version=4\.5\.6/);
});

test('exec: a Cobertura coverage_report is summarized in the job log', async (t) => {
  const pipeline = `cover:
  script:
    - printf '<coverage><packages><package name="p"><classes><class filename="a.py"><lines><line number="1" hits="1"/><line number="2" hits="0"/></lines></class></classes></package></packages></coverage>' > cov.xml
  artifacts:
    reports:
      coverage_report: {coverage_format: cobertura, path: cov.xml}
`;
  const { dir } = await project(t, pipeline);
  const r = await tandem(['exec'], { cwd: dir });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /Coverage report cov\.xml: 50% of lines \(1\/2\)/);
});
