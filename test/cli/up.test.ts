// `tandem up` in its own process, driven by the CLI the way a user would: repositories, runs, logs,
// artifacts, variables and agents over the real HTTP API, then a graceful SIGTERM.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { makeRemote, repoRoot, tempDir, type TestRemote } from '../support/git.js';
import { startSshd, sshdSkipReason } from '../support/sshd.js';
import { startLive, tandem, type CliResult, type LiveTandem } from './helpers.js';

const execFileP = promisify(execFile);

const PIPELINE = `stages: [build, test]
build:
  stage: build
  script:
    - mkdir -p out && echo "built $CI_COMMIT_SHA" > out/result.txt
    - echo "secret is $DEPLOY_KEY, colour is $COLOUR"
  artifacts:
    paths: [out/]
check:
  stage: test
  needs: [build]
  script:
    - test "$(cat out/result.txt)" = "built $CI_COMMIT_SHA"
`;

interface JobJson {
  id: number;
  name: string;
  status: string;
}
interface PipelineJson {
  id: number;
  repo: string;
  status: string;
  sha: string;
  jobs?: JobJson[];
}

let root: string;
let up: LiveTandem;
let remote: TestRemote;
let env: Record<string, string>;

before(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'tandem-cli-up-'));
  up = await startLive(['up', '--port', '0', '--data-dir', path.join(root, 'data'), '--log-level', 'warn'], { cwd: root });
  env = { TANDEM_SERVER: up.url, TANDEM_TOKEN: (await readFile(path.join(root, 'data', 'admin.token'), 'utf8')).trim() };
  remote = await makeRemote(root);
});

after(async () => {
  await up?.stop();
  rmSync(root, { recursive: true, force: true });
});

const cli = (...args: string[]) => tandem(args, { cwd: root, env });
const json = <T>(r: CliResult): T => {
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return JSON.parse(r.stdout) as T;
};

test('up: the admin gets a generated web UI password, printed once, private, and good for signing in', async () => {
  const printed = /Web UI sign-in: admin \/ (\S+) /.exec(up.output())?.[1];
  assert.ok(printed, up.output());
  const file = path.join(root, 'data', 'admin.password');
  assert.equal((await readFile(file, 'utf8')).trim(), printed);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  const signIn = await fetch(`${up.url}/api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: printed }),
  });
  assert.equal(signIn.status, 201, await signIn.text());
});

test('up: the admin token is private and both local agents are registered', async () => {
  const { mode } = await stat(path.join(root, 'data', 'admin.token'));
  assert.equal(mode & 0o777, 0o600);
  const agents = json<{ name: string; online: boolean }[]>(await cli('agents', 'list', '--json'));
  assert.deepEqual(
    agents.map((a) => [a.name, a.online]),
    [
      ['local-1', true],
      ['local-2', true],
    ],
  );
  // Without TANDEM_TOKEN the CLI reads the admin token from the data dir it is pointed at.
  const viaDataDir = await tandem(['agents', 'list', '--server', up.url, '--data-dir', path.join(root, 'data')], { cwd: root });
  assert.equal(viaDataDir.code, 0, viaDataDir.stderr);
  assert.match(viaDataDir.stdout, /^ID\s+NAME/);
  assert.match(viaDataDir.stdout, /local-2\s+true/);
});

let sha: string;

test('up: repo add and list; var set, and list without values', async () => {
  sha = await remote.commit({ '.gitlab-ci.yml': PIPELINE }, 'initial');
  await remote.push('main');
  const added = json<{ name: string; url: string }>(await cli('repo', 'add', 'app', remote.bare, '--json'));
  assert.deepEqual([added.name, added.url], ['app', remote.bare]);
  const repos = json<{ name: string; url: string; defaultBranch: string }[]>(await cli('repo', 'list', '--json'));
  assert.deepEqual(
    repos.map((r) => [r.name, r.url, r.defaultBranch]),
    [['app', remote.bare, 'main']],
  );

  assert.equal((await cli('var', 'set', 'app', 'DEPLOY_KEY', 'hunter2-very-secret', '--masked')).code, 0);
  assert.equal((await cli('var', 'set', 'app', 'COLOUR', 'teal')).code, 0);
  const vars = await cli('var', 'list', 'app');
  assert.equal(vars.code, 0, vars.stderr);
  assert.match(vars.stdout, /^DEPLOY_KEY\s+true\s+false\s+false/m);
  assert.match(vars.stdout, /^COLOUR\s+false\s+false\s+false/m);
  assert.doesNotMatch(vars.stdout, /hunter2|teal/);
  const varsJson = json<{ key: string; value?: string }[]>(await cli('var', 'list', 'app', '--json'));
  assert.deepEqual(
    varsJson.map((v) => [v.key, 'value' in v]),
    [
      ['COLOUR', false],
      ['DEPLOY_KEY', false],
    ],
  );
  assert.doesNotMatch(JSON.stringify(varsJson), /hunter2|teal/);
});

test('up: trigger --follow to success, then list, show, logs and artifacts', async () => {
  const run = await cli('run', 'trigger', 'app', '--follow');
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const id = Number(/Pipeline #(\d+) created/.exec(run.stdout)?.[1]);
  assert.match(run.stdout, new RegExp(`Pipeline #${id} success`));

  const runs = json<PipelineJson[]>(await cli('run', 'list', 'app', '--json'));
  assert.deepEqual(
    runs.map((p) => [p.id, p.status, p.sha]),
    [[id, 'success', sha]],
  );
  const shown = json<PipelineJson>(await cli('run', 'show', String(id), '--json'));
  assert.deepEqual(shown.jobs?.map((j) => [j.name, j.status]).sort(), [
    ['build', 'success'],
    ['check', 'success'],
  ]);
  const build = shown.jobs!.find((j) => j.name === 'build')!;

  const logs = await cli('run', 'logs', String(build.id));
  assert.equal(logs.code, 0, logs.stderr);
  assert.match(logs.stdout, /secret is \[MASKED\], colour is teal/);
  assert.doesNotMatch(logs.stdout, /hunter2/);

  const out = path.join(root, 'result.txt');
  const got = await cli('artifact', 'get', String(build.id), 'out/result.txt', '-o', out);
  assert.equal(got.code, 0, got.stderr);
  assert.equal(await readFile(out, 'utf8'), `built ${sha}\n`);
});

test('up: a failing pipeline makes trigger --follow and logs --follow exit 1', async () => {
  await remote.commit({ '.gitlab-ci.yml': 'broken:\n  script:\n    - echo about to fail\n    - exit 4\n' }, 'break it');
  await remote.push('main');
  const run = await cli('run', 'trigger', 'app', '--follow');
  assert.equal(run.code, 1, run.stdout + run.stderr);
  const id = Number(/Pipeline #(\d+) created/.exec(run.stdout)?.[1]);
  assert.match(run.stdout, new RegExp(`Pipeline #${id} failed`));
  assert.match(run.stdout, /broken\s+failed\s+1\s+[\d.]+s\s+script_failure/);

  const job = json<PipelineJson>(await cli('run', 'show', String(id), '--json')).jobs![0];
  const logs = await cli('run', 'logs', String(job.id), '--follow');
  assert.equal(logs.code, 1);
  assert.match(logs.stdout, /about to fail/);
  assert.match(logs.stdout, /exit code 4/);
});

test('up: remote commands name the problem when the server or the object is wrong', async () => {
  const missing = await cli('run', 'show', '99999');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^tandem: no pipeline 99999$/m, 'in words, without the method, path or status');
  const badToken = await tandem(['repo', 'list'], { cwd: root, env: { ...env, TANDEM_TOKEN: 'tdm_wrong' } });
  assert.equal(badToken.code, 1);
  assert.match(badToken.stderr, /did not accept the token .*run tandem login/);
});

test(
  'up: repo add --ssh-key-file connects a private repository over ssh; repo edit --no-credentials removes the key',
  { skip: sshdSkipReason() },
  async (t) => {
    const sshd = await startSshd(1);
    t.after(() => sshd.stop());
    const privateRemote = await makeRemote(tempDir(t, 'cli-ssh'));
    await privateRemote.commit({ '.gitlab-ci.yml': 'job:\n  script: cat README.md\n', 'README.md': 'over ssh\n' }, 'initial');
    await privateRemote.push('main');
    const knownHosts = path.join(root, 'known_hosts');
    await writeFile(knownHosts, `${sshd.servers[0].knownHostsLine}\n`);
    const url = `ssh://${sshd.user}@127.0.0.1:${sshd.servers[0].port}${privateRemote.bare}`;

    const missing = await cli('repo', 'add', 'over-ssh', url, '--ssh-key-file', sshd.identityFile);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /--ssh-key-file needs --known-hosts-file/);
    const added = await cli('repo', 'add', 'over-ssh', url, '--ssh-key-file', sshd.identityFile, '--known-hosts-file', knownHosts);
    assert.equal(added.code, 0, added.stderr);
    const fingerprint = (await execFileP('ssh-keygen', ['-l', '-f', `${sshd.identityFile}.pub`])).stdout.split(' ')[1];
    assert.match(
      added.stdout,
      new RegExp(`^Added over-ssh \\(.*, default branch main, private\\); deploy key ${fingerprint.replace(/[+/]/g, '\\$&')}`),
    );

    const run = await cli('run', 'trigger', 'over-ssh', '--follow');
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const id = Number(/Pipeline #(\d+) created/.exec(run.stdout)?.[1]);
    const job = json<PipelineJson>(await cli('run', 'show', String(id), '--json')).jobs![0];
    assert.match((await cli('run', 'logs', String(job.id))).stdout, /over ssh/);

    const edited = json<{ credentials: unknown }>(await cli('repo', 'edit', 'over-ssh', '--no-credentials', '--json'));
    assert.equal(edited.credentials, null);
  },
);

test('up: SIGTERM drains and exits 0 within a few seconds', async () => {
  const { code, signal, ms } = await up.stop();
  assert.deepEqual([code, signal], [0, null], up.output());
  assert.ok(ms < 5000, `took ${ms} ms`);
});

test('npm start (`up --demo`) builds the demo pipeline to success', async (t) => {
  const pkg = JSON.parse(await readFile(path.join(repoRoot(), 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts.start, 'node dist/src/cli/main.js up --demo');
  const dataDir = tempDir(t, 'cli-demo');
  // Exactly the start command, configured through the environment as a user of `npm start` would.
  const demo = await startLive(['up', '--demo'], { env: { TANDEM_PORT: '0', TANDEM_DATA_DIR: dataDir, TANDEM_LOG_LEVEL: 'warn' } });
  t.after(() => demo.stop());
  const denv = { TANDEM_SERVER: demo.url, TANDEM_TOKEN: (await readFile(path.join(dataDir, 'admin.token'), 'utf8')).trim() };
  const deadline = Date.now() + 20_000;
  let p: PipelineJson | null = null;
  // The demo's pipeline #1 appears just after the listening line; poll until it ends.
  while (Date.now() < deadline && !['success', 'failed', 'canceled'].includes(p?.status ?? '')) {
    await new Promise((r) => setTimeout(r, 100));
    const res = await fetch(`${demo.url}/api/v1/pipelines/1`, { headers: { authorization: `Bearer ${denv.TANDEM_TOKEN}` } });
    if (res.ok) p = (await res.json()) as PipelineJson;
  }
  assert.ok(p, `no pipeline #1: ${demo.output()}`);
  assert.match(demo.output(), /Demo repository registered; pipeline #1 is running/);
  assert.equal(p.status, 'success', JSON.stringify(p.jobs));
  assert.deepEqual(p.jobs?.map((j) => j.name).sort(), ['build', 'package', 'test: [de]', 'test: [en]', 'test: [fr]']);
  const shown = await tandem(['run', 'show', '1'], { env: denv });
  assert.match(shown.stdout, /^Pipeline #1 success\s+demo main/m);
  const stopped = await demo.stop();
  assert.equal(stopped.code, 0);
});
