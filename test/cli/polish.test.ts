// What a new user meets in a terminal, against a real `tandem up`: readable log lines and a banner
// that says what to do next, artifact listings with GitLab's other reports, an empty log explained,
// rollback that asks first, and tables in words.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { JobArtifactsJson, PipelineJson } from '../../src/api/index.js';
import { stripAnsi } from '../../src/cli/output.js';
import { makeRemote, type TestRemote } from '../support/git.js';
import { startLive, tandem, tandemInTerminal, type CliResult, type LiveTandem } from './helpers.js';

// `build` keeps two reports Tandem only stores; `test` fails after writing one (reports go up
// whatever the outcome, its `paths` only on success); `deploy` is skipped; `release` waits to be played.
const PIPELINE = `stages: [build, test, deploy]
build:
  stage: build
  script:
    - mkdir -p out reports
    - echo hello > out/app.txt
    - echo '{"version":4}' > reports/plan.json
    - echo '[]' > gl-code-quality-report.json
  artifacts:
    paths: [out/]
    reports:
      terraform: reports/plan.json
      codequality: [gl-code-quality-report.json]
test:
  stage: test
  script:
    - echo '{"vulnerabilities":[]}' > gl-sast-report.json
    - echo kept only on success > kept.txt
    - exit 3
  artifacts:
    paths: [kept.txt]
    reports:
      sast: gl-sast-report.json
deploy:
  stage: deploy
  script: [echo deploying]
release:
  stage: build
  when: manual
  script: [echo releasing]
`;

let root: string;
let up: LiveTandem;
let remote: TestRemote;
let env: Record<string, string>;
let pipeline: PipelineJson;

const cli = (...args: string[]) => tandem(args, { cwd: root, env });
const ok = (r: CliResult) => {
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return r;
};
const jobId = (name: string) => String(pipeline.jobs.find((j) => j.name === name)!.id);

before(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'tandem-cli-polish-'));
  // Pretty asked for explicitly: the test's pipe is no terminal, which would get JSON.
  up = await startLive(['up', '--port', '0', '--data-dir', path.join(root, 'data'), '--log-format', 'pretty'], { cwd: root });
  env = { TANDEM_SERVER: up.url, TANDEM_TOKEN: (await readFile(path.join(root, 'data', 'admin.token'), 'utf8')).trim() };
  remote = await makeRemote(root);
  await remote.commit({ '.gitlab-ci.yml': PIPELINE }, 'reports');
  await remote.push('main');
  ok(await cli('repo', 'add', 'app', remote.bare));
  const run = await cli('run', 'trigger', 'app', '--follow');
  assert.equal(run.code, 1, run.stdout + run.stderr);
  const id = /Pipeline #(\d+) created/.exec(run.stdout)![1];
  pipeline = JSON.parse(ok(await cli('run', 'show', id, '--json')).stdout) as PipelineJson;
});

after(async () => {
  await up?.stop();
  rmSync(root, { recursive: true, force: true });
});

test('up: the banner says how to run the CLI and change the port; log lines are readable when asked', () => {
  const output = up.output();
  assert.match(output, /^Command line: npx tandem --help/m);
  assert.match(output, /npm start -- --port 9000/);
  assert.match(output, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}\S/m, 'time, level and message');
  assert.doesNotMatch(output, /^\{"level":/m, 'no JSON line reaches the terminal');
});

test('server: log lines stay JSON when stderr is not a terminal', async () => {
  const server = await startLive(['server', '--port', '0', '--data-dir', path.join(root, 'server-data')], { cwd: root });
  try {
    await new Promise((r) => setTimeout(r, 300));
    const jsonLine = server
      .output()
      .split('\n')
      .find((l) => l.startsWith('{'));
    assert.ok(jsonLine, server.output());
    assert.equal((JSON.parse(jsonLine) as { level: number }).level >= 30, true);
  } finally {
    await server.stop();
  }
});

test('artifact list: plain files and stored reports, the reports marked with their type and a note', async () => {
  const listing = JSON.parse(ok(await cli('artifact', 'list', jobId('build'), '--json')).stdout) as JobArtifactsJson;
  assert.deepEqual(
    listing.files.map((f) => [f.path, f.report]),
    [
      ['gl-code-quality-report.json', 'codequality'],
      ['out/app.txt', null],
      ['reports/plan.json', 'terraform'],
    ],
  );
  const plan = listing.files.find((f) => f.path === 'reports/plan.json')!;
  assert.equal(plan.size, '{"version":4}\n'.length);
  assert.match(plan.sha256, /^[0-9a-f]{64}$/);
  assert.match(plan.note ?? '', /Tandem does not interpret it/);

  const table = ok(await cli('artifact', 'list', jobId('build'))).stdout;
  assert.match(table, /^PATH\s+SIZE\s+REPORT\s+SHA256\s+EXPIRES$/m);
  assert.match(table, /^reports\/plan\.json\s+14 B\s+terraform\s+[0-9a-f]{12}\s+in \d+ \w+$/m);
  assert.match(table, /^Reports \(codequality, terraform\): stored as an artifact; Tandem does not interpret it\.$/m);
});

test("artifact list: a failed job's reports are kept, its on_success paths are not", async () => {
  const listing = JSON.parse(ok(await cli('artifact', 'list', jobId('test'), '--json')).stdout) as JobArtifactsJson;
  assert.deepEqual(
    listing.files.map((f) => [f.path, f.report]),
    [['gl-sast-report.json', 'sast']],
  );
  // The same listing over the API, with the same RBAC as a download: a stranger's token is refused.
  const res = await fetch(`${up.url}/api/v1/jobs/${jobId('test')}/artifact-files`, { headers: { authorization: 'Bearer tdm_nobody' } });
  assert.equal(res.status, 401);
  // The pipeline's listing (the web UI's) names the report types too.
  const all = (await (
    await fetch(`${up.url}/api/v1/pipelines/${pipeline.id}/artifacts`, { headers: { authorization: `Bearer ${env.TANDEM_TOKEN}` } })
  ).json()) as { job: string; files: { path: string; report: string | null }[] }[];
  assert.deepEqual(
    all.map((j) => [j.job, j.files.map((f) => `${f.path}:${f.report}`)]),
    [
      ['build', ['gl-code-quality-report.json:codequality', 'out/app.txt:null', 'reports/plan.json:terraform']],
      ['test', ['gl-sast-report.json:sast']],
    ],
  );
});

test('lint: reports Tandem stores are accepted without an "ignored" warning', async () => {
  const file = path.join(root, 'pipeline.yml');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(file, PIPELINE);
  const linted = ok(await cli('lint', file));
  assert.doesNotMatch(linted.stdout, /ignored/);
  assert.match(linted.stdout, /valid/);
});

test('run logs: a skipped job and a manual one say why they have no log', async () => {
  const skipped = ok(await cli('run', 'logs', jobId('deploy')));
  assert.equal(skipped.stdout, '');
  assert.equal(skipped.stderr.trim(), 'job `deploy` was skipped: an earlier stage failed (`test` failed)');
  const manual = ok(await cli('run', 'logs', jobId('release')));
  assert.match(manual.stderr, new RegExp(`job \`release\` is a manual job that nobody started: tandem run play ${jobId('release')}`));
  const followed = await cli('run', 'logs', jobId('deploy'), '--follow');
  assert.match(followed.stderr, /was skipped: an earlier stage failed/);
  const logged = ok(await cli('run', 'logs', jobId('build')));
  assert.equal(logged.stderr, '', 'a job with a log gets no explanation');
});

test('rollback: refuses without --yes off a terminal; asks on one; -f is no longer follow', async () => {
  const refused = await cli('rollback', 'app', 'production');
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /rollback of app\/production: pass --yes to confirm it \(no terminal to ask on\)/);

  const declined = await tandemInTerminal(['rollback', 'app', 'production'], { cwd: root, env, input: 'n\n' });
  assert.equal(declined.code, 1, declined.output);
  assert.match(declined.output, /Roll app\/production back to the release live before the current one\? \[y\/N\]/);
  assert.match(declined.output, /rollback canceled; nothing changed/);

  // Agreeing sends the rollback: the server's answer (no such environment) proves it went through.
  const agreed = await tandemInTerminal(['rollback', 'app', 'production', '--to', '3'], { cwd: root, env, input: 'y\n' });
  assert.match(agreed.output, /back to release #3\?/);
  assert.match(agreed.output, /has no environment "production"/);
  const yes = await cli('rollback', 'app', 'production', '--yes');
  assert.match(yes.stderr, /^tandem: .*has no environment "production"/m, 'no question asked with --yes');

  const f = await cli('rollback', 'app', 'production', '-f', '--yes');
  assert.match(f.stderr, /unknown option '-f'/);
});

test('tables on a terminal: words for headers, relative times, aligned colour', async () => {
  const listed = await tandemInTerminal(['run', 'list', 'app'], { cwd: root, env });
  assert.equal(listed.code, 0, listed.output);
  const lines = listed.output.split(/\r?\n/).filter(Boolean);
  assert.match(lines[0], /^ID\s+STATUS\s+REF\s+SHA\s+SOURCE\s+CREATED\s+DURATION$/);
  assert.ok(lines[1].includes('\x1b[31mfailed\x1b[0m'), 'the status is coloured on a terminal');
  assert.match(lines[1], /(just now|\d+ (?:seconds?|minutes?) ago)\s+\d/);
  const plain = lines.map(stripAnsi);
  assert.equal(plain[1].indexOf(' main '), plain[0].indexOf('REF') - 1, 'the colour takes no column width');
});
