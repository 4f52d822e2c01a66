// Deployments end to end: pipelines whose deploy job makes the demo web service a release in a local
// target with a health check. A good version goes live; a version failing its health check is rolled
// back by the agent and the previous one answers again; a person (API), an Alertmanager alert and a
// rollback with the git remote deleted bring older releases back from their stored files; deploys of
// one environment never overlap and a newer waiting one supersedes an older; a protected environment
// waits for an approval.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tandem as runCli } from '../cli/helpers.js';
import { stopDeployedDemoServices } from '../support/demo-service.js';
import { demoAppFiles, localDeployTarget, servingVersion } from '../support/deploy-pipeline.js';
import { TestTandem, type PipelineView } from '../support/tandem.js';

interface ReleaseJson {
  id: number;
  kind: string;
  status: string;
  version: string;
  sha: string;
  rollbackOf: number | null;
  createdAt: string;
  finishedAt: string | null;
  createdBy: string;
  image: string | null;
}
interface EnvironmentJson {
  name: string;
  protected: boolean;
  current: ReleaseJson | null;
  hosts: { name: string; releaseId: number; version: string }[];
}

let tandem: TestTandem;
const deployDirs: string[] = [];

before(async () => {
  tandem = await TestTandem.start({ agents: 2 });
});
after(async () => {
  await Promise.all(deployDirs.map(stopDeployedDemoServices));
  await tandem.close();
});

/** A local deploy target whose services are stopped after the suite. */
async function target(name: string, opts: { bake?: string } = {}) {
  const made = await localDeployTarget(tandem, name, opts);
  deployDirs.push(made.dir);
  return made;
}

const releases = async (repo: string, env: string) =>
  (await tandem.api<ReleaseJson[]>('GET', `/api/v1/repos/${repo}/environments/${env}/releases`)).body;
const deployJob = (p: PipelineView, env: string) => p.jobs.find((j) => j.name === `deploy-${env}` && !j.retried);

describe('deployments', () => {
  it(
    'a good version goes live; a failing one is rolled back; rollbacks by API, by alert and without git',
    { timeout: 120_000 },
    async () => {
      const env = await target('staging');
      const { name: repo, remote } = await tandem.repo({ '.gitlab-ci.yml': env.file, ...(await demoAppFiles(tandem, 'v1')) });

      const p1 = await tandem.waitForPipeline(await tandem.trigger(repo), undefined, 30_000);
      assert.equal(p1.status, 'success', await tandem.log(deployJob(p1, 'staging')!.id));
      assert.equal(await servingVersion(env.url), 'v1');
      const envs = (await tandem.api<EnvironmentJson[]>('GET', `/api/v1/repos/${repo}/environments`)).body;
      assert.equal(envs[0].current?.status, 'live');
      assert.equal(envs[0].current?.sha, p1.sha);
      assert.deepEqual(
        envs[0].hosts.map((h) => [h.releaseId, h.version]),
        [[envs[0].current?.id, envs[0].current?.version]],
        'the agent reported what its one host runs',
      );
      const hostsNow = async () =>
        (await tandem.api<EnvironmentJson[]>('GET', `/api/v1/repos/${repo}/environments`)).body[0].hosts.map((h) => h.releaseId);

      // v2 fails its health check: the agent swaps back and the job fails.
      await remote.commit(await demoAppFiles(tandem, 'v2', { unhealthy: true }), 'v2');
      await remote.push('main');
      const p2 = await tandem.waitForPipeline(await tandem.trigger(repo), undefined, 30_000);
      const failedJob = deployJob(p2, 'staging')!;
      const failedLog = await tandem.log(failedJob.id);
      assert.equal(p2.status, 'failed', failedLog);
      assert.equal(failedJob.failureReason, 'deployment_failure');
      assert.match(failedLog, /rolled back to #\d+/);
      assert.equal(await servingVersion(env.url), 'v1', 'the previous version answers again');
      const [autoRollback, v2, v1] = await releases(repo, 'staging');
      assert.deepEqual([v2.status, v2.sha], ['rolled_back', p2.sha]);
      assert.deepEqual(
        [autoRollback.kind, autoRollback.status, autoRollback.rollbackOf, autoRollback.sha],
        ['rollback', 'live', v1.id, p1.sha],
      );
      assert.equal(v1.status, 'superseded');
      assert.deepEqual(await hostsNow(), [v1.id], "the host is back on v1's release after the automatic rollback");

      // v3 goes live; an alert right after rolls it back to the release before.
      await remote.commit({ ...(await demoAppFiles(tandem, 'v3')), 'app/UNHEALTHY': null }, 'v3');
      await remote.push('main');
      const p3 = await tandem.waitForPipeline(await tandem.trigger(repo), undefined, 30_000);
      assert.equal(p3.status, 'success', await tandem.log(deployJob(p3, 'staging')!.id));
      assert.equal(await servingVersion(env.url), 'v3');
      const v3 = (await releases(repo, 'staging'))[0];
      const alert = await tandem.api<{ outcomes: { action: string; pipelineId?: number }[] }>('POST', '/api/v1/hooks/alertmanager', {
        alerts: [{ status: 'firing', labels: { alertname: 'HighErrorRate', tandem_environment: 'staging', tandem_repo: repo } }],
      });
      assert.equal(alert.status, 200, alert.text);
      const [outcome] = alert.body.outcomes;
      assert.equal(outcome.action, 'rollback');
      const rolledByAlert = await tandem.waitForPipeline(outcome.pipelineId!, undefined, 30_000);
      assert.equal(rolledByAlert.status, 'success', await tandem.log(rolledByAlert.jobs[0].id));
      assert.equal(await servingVersion(env.url), 'v1');
      const byAlert = (await releases(repo, 'staging'))[0];
      assert.deepEqual([byAlert.kind, byAlert.status, byAlert.createdBy], ['rollback', 'live', 'alertmanager: HighErrorRate']);
      const repeat = await tandem.api<{ outcomes: { action: string }[] }>('POST', '/api/v1/hooks/alertmanager', {
        alerts: [{ status: 'firing', labels: { alertname: 'HighErrorRate', tandem_environment: 'staging' } }],
      });
      assert.match(repeat.body.outcomes[0].action, /^ignored: no deploy is live/, 'a rollback is not rolled back by the same alert');

      // The git remote is gone: a rollback to v3 by the API still works, from the release's stored files.
      await rm(remote.bare, { recursive: true, force: true });
      const asked = await tandem.api<ReleaseJson & { pipelineId: number }>('POST', `/api/v1/repos/${repo}/environments/staging/rollback`, {
        to: v3.id,
      });
      assert.equal(asked.status, 201, asked.text);
      assert.deepEqual([asked.body.kind, asked.body.status, asked.body.rollbackOf], ['rollback', 'queued', v3.id]);
      const rolled = await tandem.waitForPipeline(asked.body.pipelineId, undefined, 30_000);
      const rollbackLog = await tandem.log(rolled.jobs[0].id);
      assert.equal(rolled.status, 'success', rollbackLog);
      assert.match(rollbackLog, /Skipping Git repository setup/);
      assert.equal(await servingVersion(env.url), 'v3');
      assert.deepEqual(await hostsNow(), [asked.body.id], 'the host runs the rollback release');
      assert.deepEqual(
        (await releases(repo, 'staging')).slice(0, 2).map((r) => [r.id, r.status]),
        [
          [asked.body.id, 'live'],
          [byAlert.id, 'superseded'],
        ],
      );
      const nothing = await tandem.api<{ message: string }>('POST', `/api/v1/repos/${repo}/environments/staging/rollback`, {
        to: asked.body.id,
      });
      assert.equal(nothing.status, 409, 'the live files are not rolled back to themselves');
    },
  );

  it('deploys of one environment never overlap; a newer waiting one supersedes an older', { timeout: 120_000 }, async () => {
    const env = await target('queue', { bake: '1500ms' });
    const { name: repo } = await tandem.repo({ '.gitlab-ci.yml': env.file, ...(await demoAppFiles(tandem, 'q1')) });
    const first = await tandem.trigger(repo);
    await tandem.waitForPipeline(first, (p) => deployJob(p, 'queue')?.status === 'running', 20_000);
    const second = await tandem.trigger(repo);
    await tandem.waitForPipeline(second, (p) => deployJob(p, 'queue')?.status === 'pending', 20_000);
    const third = await tandem.trigger(repo);
    const [p1, p2, p3] = await Promise.all([first, second, third].map((id) => tandem.waitForPipeline(id, undefined, 40_000)));
    assert.equal(p1.status, 'success');
    assert.equal(deployJob(p2, 'queue')?.status, 'canceled');
    assert.equal(deployJob(p2, 'queue')?.failureReason, 'superseded');
    assert.equal(p3.status, 'success');
    const [r3, r1] = await releases(repo, 'queue');
    assert.deepEqual([r1.status, r3.status], ['superseded', 'live']);
    assert.ok(Date.parse(r3.createdAt) >= Date.parse(r1.finishedAt!), `release #${r3.id} started after #${r1.id} ended`);
  });

  it('a protected environment waits for an approval (playing the deploy job)', { timeout: 60_000 }, async () => {
    const env = await target('production');
    const { name: repo } = await tandem.repo({ '.gitlab-ci.yml': env.file, ...(await demoAppFiles(tandem, 'p1')) });
    const protect = await tandem.api<EnvironmentJson>('PUT', `/api/v1/repos/${repo}/environments/production`, { protected: true });
    assert.equal(protect.status, 200, protect.text);
    const id = await tandem.trigger(repo);
    const waiting = await tandem.waitForPipeline(id, (p) => deployJob(p, 'production')?.status === 'manual', 20_000);
    assert.equal(deployJob(waiting, 'production')?.status, 'manual');
    assert.deepEqual(await releases(repo, 'production'), [], 'nothing is deployed before the approval');
    const manualJobs = async () =>
      (await tandem.api<{ id: number }[]>('GET', `/api/v1/repos/${repo}/environments/production/manual-jobs`)).body.map((j) => j.id);
    assert.deepEqual(await manualJobs(), [deployJob(waiting, 'production')!.id], 'the environment lists the deploy waiting for it');
    const play = await tandem.api('POST', `/api/v1/jobs/${deployJob(waiting, 'production')!.id}/play`);
    assert.equal(play.status, 200, play.text);
    const done = await tandem.waitForPipeline(id, undefined, 30_000);
    assert.equal(done.status, 'success');
    assert.equal(await servingVersion(env.url), 'p1');
    assert.deepEqual(await manualJobs(), [], 'nothing waits once it is played');
  });
});

describe('image releases', () => {
  it(
    'pins the image of each release, refuses a tag it cannot resolve, and rolls back to the previous image',
    { timeout: 90_000 },
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tandem-image-release-'));
      const record = join(dir, 'record');
      const pinned = (hex: string) => `127.0.0.1:25500/team/app@sha256:${hex.repeat(64)}`;
      // The script target stands in for a platform's deploy command; its verify refuses the "b" image.
      const pipeline = (image: string) =>
        [
          'deploy-images:',
          '  script: [echo built]',
          '  environment: { name: images }',
          '  variables:',
          `    IMAGE: "${image}"`,
          '  deploy:',
          '    image: $IMAGE',
          '    target:',
          '      script:',
          `        deploy: echo "deploy $TANDEM_RELEASE_IMAGE" >> ${record}`,
          '        verify: case "$TANDEM_RELEASE_IMAGE" in *bbbb*) exit 1;; esac',
          `        rollback: echo "rollback $TANDEM_RELEASE_IMAGE" >> ${record}`,
          '',
        ].join('\n');
      const { name: repo, remote } = await tandem.repo({ '.gitlab-ci.yml': pipeline(pinned('a')) });
      const run = async () => {
        const p = await tandem.waitForPipeline(await tandem.trigger(repo), undefined, 30_000);
        return { p, log: await tandem.log(deployJob(p, 'images')!.id) };
      };

      const first = await run();
      assert.equal(first.p.status, 'success', first.log);
      const [a] = await releases(repo, 'images');
      assert.deepEqual([a.status, a.image], ['live', pinned('a')]);

      await remote.commit({ '.gitlab-ci.yml': pipeline('127.0.0.1:25500/team/app:2') }, 'a tag');
      await remote.push('main');
      const tagged = await run();
      assert.equal(tagged.p.status, 'failed');
      // No registry answers there: the tag cannot be pinned, so nothing is deployed.
      assert.match(tagged.log, /deploy\.image: .*127\.0\.0\.1:25500.*app:2/);
      assert.equal((await releases(repo, 'images')).length, 1, 'a tag starts no release');

      await remote.commit({ '.gitlab-ci.yml': pipeline(pinned('b')) }, 'b');
      await remote.push('main');
      const failing = await run();
      assert.equal(failing.p.status, 'failed', failing.log);
      const [rollback, b] = await releases(repo, 'images');
      assert.deepEqual([b.status, b.image], ['rolled_back', pinned('b')]);
      assert.deepEqual([rollback.kind, rollback.status, rollback.image], ['rollback', 'live', pinned('a')]);
      assert.deepEqual((await readFile(record, 'utf8')).trim().split('\n'), [
        `deploy ${pinned('a')}`,
        `deploy ${pinned('b')}`,
        `rollback ${pinned('a')}`,
      ]);
      await rm(dir, { recursive: true, force: true });
    },
  );
});

describe('deployments from the command line', () => {
  it('tandem env list/releases/protect and tandem rollback --follow', { timeout: 90_000 }, async () => {
    const env = await target('cli');
    const { name: repo, remote } = await tandem.repo({ '.gitlab-ci.yml': env.file, ...(await demoAppFiles(tandem, 'c1')) });
    assert.equal((await tandem.waitForPipeline(await tandem.trigger(repo), undefined, 30_000)).status, 'success');
    await remote.commit(await demoAppFiles(tandem, 'c2'), 'c2');
    await remote.push('main');
    assert.equal((await tandem.waitForPipeline(await tandem.trigger(repo), undefined, 30_000)).status, 'success');
    assert.equal(await servingVersion(env.url), 'c2');

    const cli = (...args: string[]) => runCli(args, { env: { TANDEM_SERVER: tandem.url, TANDEM_TOKEN: tandem.token }, timeoutMs: 40_000 });
    const listed = await cli('env', 'list', repo, '--json');
    assert.equal(listed.code, 0, listed.stderr);
    const [cliEnv] = JSON.parse(listed.stdout) as EnvironmentJson[];
    assert.deepEqual([cliEnv.name, cliEnv.protected, cliEnv.current?.status], ['cli', false, 'live']);
    const table = await cli('env', 'releases', repo, 'cli');
    assert.match(table.stdout, /live/);
    assert.match(table.stdout, /superseded/);

    const unasked = await cli('rollback', repo, 'cli', '--follow');
    assert.equal(unasked.code, 1, 'no terminal to ask on and no --yes: nothing rolls back');
    assert.match(unasked.stderr, /pass --yes to confirm it/);
    const rolled = await cli('rollback', repo, 'cli', '--follow', '--yes');
    assert.equal(rolled.code, 0, rolled.stdout + rolled.stderr);
    assert.match(rolled.stdout, /Rolling cli back to \w+ \(release #\d+, pipeline #\d+\)/);
    assert.equal(await servingVersion(env.url), 'c1');
    const history = JSON.parse((await cli('env', 'releases', repo, 'cli', '--json')).stdout) as ReleaseJson[];
    assert.deepEqual(
      history.map((r) => [r.kind, r.status]),
      [
        ['rollback', 'live'],
        ['deploy', 'superseded'],
        ['deploy', 'superseded'],
      ],
    );

    const protect = await cli('env', 'protect', repo, 'cli');
    assert.equal(protect.code, 0, protect.stderr);
    assert.match(protect.stdout, /protected \(deploys wait for an approval\)/);
    const unknown = await cli('rollback', repo, 'nowhere', '--yes');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /has no environment "nowhere"/);
  });
});
