// `tandem exec --from-job`: a job of a real server run again on this machine, through the real CLI
// against GET /api/v1/jobs/:id/reproduce. The job needs an artifact and the dotenv report of an
// earlier job, the file's and its own variables and the repository's: all arrive but the secrets,
// which a reporter is never handed (nor anyone: variable values are write-only in the API).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { JobReproductionJson } from '../../src/api/index.js';
import { tandem as cli } from '../cli/helpers.js';
import { jobNamed, TestTandem } from '../support/tandem.js';

const SECRET = 'supersecret-4242';
const PIPELINE = `
variables:
  GLOBAL_GREETING: hello
build:
  stage: build
  script:
    - mkdir -p out && echo "built-by-server-job-$CI_JOB_ID" > out/lib.txt
    - echo "DOTENV_VAL=from-build" > build.env
  artifacts:
    paths: [out/]
    reports:
      dotenv: build.env
check:
  stage: test
  variables:
    JOB_LEVEL: job-var
  script:
    - test -f out/lib.txt
    - cat out/lib.txt
    - echo "plain=$PLAIN_VAR global=$GLOBAL_GREETING job=$JOB_LEVEL dotenv=$DOTENV_VAL ref=$CI_COMMIT_REF_NAME pipeline=$CI_PIPELINE_ID"
    - echo "secret=[\${SECRET_TOKEN:-absent}] protected=[\${PROT_VAR:-absent}]"
`;

let server: TestTandem;
let scratch: string;
before(async () => {
  server = await TestTandem.start({ agents: 1 });
  scratch = await mkdtemp(path.join(tmpdir(), 'tandem-e2e-reproduce-'));
});
after(async () => {
  await server.close();
  await rm(scratch, { recursive: true, force: true });
});

async function userToken(repo: string, username: string, role: string): Promise<string> {
  assert.equal((await server.api('POST', '/api/v1/users', { username, password: 'a-long-password-1' })).status, 201);
  assert.equal((await server.api('PUT', `/api/v1/repos/${repo}/members/${username}`, { role })).status, 200);
  const token = await server.api<{ token: string }>('POST', '/api/v1/tokens', { name: 'reproduce', scopes: ['api'], username });
  assert.equal(token.status, 201, token.text);
  return token.body.token;
}

describe('tandem exec --from-job', () => {
  test('runs a finished server job here with its artifact and variables, never its secrets', async () => {
    const { name, sha } = await server.repo({ '.gitlab-ci.yml': PIPELINE });
    for (const v of [
      { key: 'PLAIN_VAR', value: 'plain-value', masked: false, protected: false },
      { key: 'SECRET_TOKEN', value: SECRET, masked: true, protected: false },
      { key: 'PROT_VAR', value: 'protected-value', masked: false, protected: true },
    ]) {
      const res = await server.api('POST', `/api/v1/repos/${name}/variables`, { ...v, file: false });
      assert.equal(res.status, 201, res.text);
    }
    const pipeline = await server.waitForPipeline(await server.trigger(name), undefined, 30_000);
    assert.equal(pipeline.status, 'success', JSON.stringify(pipeline.jobs.map((j) => [j.name, j.status])));
    const build = jobNamed(pipeline, 'build');
    const check = jobNamed(pipeline, 'check');
    // On the server (main is protected by default) the job had the secret and the protected variable.
    assert.match(await server.log(check.id), /secret=\[\[MASKED\]\] protected=\[protected-value\]/);

    const reporter = await userToken(name, 'rory', 'reporter');
    const guest = await userToken(name, 'gail', 'guest');
    const refused = await server.api('GET', `/api/v1/jobs/${check.id}/reproduce`, undefined, { authorization: `Bearer ${guest}` });
    assert.equal(refused.status, 403, 'a guest reads neither logs nor artifacts, so not this either');

    const res = await server.api<JobReproductionJson>('GET', `/api/v1/jobs/${check.id}/reproduce`, undefined, {
      authorization: `Bearer ${reporter}`,
    });
    assert.equal(res.status, 200, res.text);
    assert.ok(!res.text.includes(SECRET) && !res.text.includes('protected-value'), 'no secret value in the answer');
    const found = res.body;
    assert.deepEqual(found.pipeline, { id: pipeline.id, ref: 'main', tag: false, sha, source: 'api', configPath: '.gitlab-ci.yml' });
    assert.deepEqual(
      found.withheld.sort((a, b) => a.key.localeCompare(b.key)),
      [
        { key: 'PROT_VAR', reason: 'protected' },
        { key: 'SECRET_TOKEN', reason: 'masked' },
      ],
    );
    const source = (key: string) => found.variables.find((v) => v.key === key)?.source;
    assert.equal(source('GLOBAL_GREETING'), 'pipeline');
    assert.equal(source('JOB_LEVEL'), 'job');
    assert.equal(source('DOTENV_VAL'), 'dotenv');
    assert.equal(source('PLAIN_VAR'), 'repository');
    assert.equal(
      found.variables.find((v) => v.key === 'CI_JOB_TOKEN'),
      undefined,
      'no job token is made',
    );
    assert.deepEqual(
      found.dependencies.map((d) => [d.jobId, d.files.map((f) => f.path)]),
      [[build.id, ['out/lib.txt']]],
    );

    const dir = path.join(scratch, 'checkout');
    const ran = await cli(['exec', '--from-job', String(check.id), '--dir', dir, '--server', server.url, '--token', reporter], {
      cwd: scratch,
      timeoutMs: 60_000,
    });
    assert.equal(ran.code, 0, `${ran.stdout}\n${ran.stderr}`);
    assert.match(ran.stdout, new RegExp(`\\[check\\] built-by-server-job-${build.id}$`, 'm'), "the server build's artifact is there");
    assert.match(
      ran.stdout,
      new RegExp(`plain=plain-value global=hello job=job-var dotenv=from-build ref=main pipeline=${pipeline.id}$`, 'm'),
    );
    assert.match(ran.stdout, /secret=\[absent\] protected=\[absent\]$/m);
    assert.ok(!ran.stdout.includes(SECRET) && !ran.stderr.includes(SECRET));
    assert.match(ran.stderr, /SECRET_TOKEN \(masked\) is a secret the server does not hand out/);
    assert.doesNotMatch(ran.stdout, /\[build\]/, 'only the job itself runs');

    // The user brings the secret: the job gets it, and the output masks it as the server does.
    const again = await cli(
      [
        'exec',
        '--from-job',
        String(check.id),
        '--dir',
        dir,
        '--variable',
        `SECRET_TOKEN=${SECRET}`,
        '--server',
        server.url,
        '--token',
        reporter,
      ],
      { cwd: scratch, timeoutMs: 60_000 },
    );
    assert.equal(again.code, 0, `${again.stdout}\n${again.stderr}`);
    assert.match(again.stdout, /secret=\[\[MASKED\]\] protected=\[absent\]$/m);
    assert.ok(!again.stdout.includes(SECRET));
  });
});
