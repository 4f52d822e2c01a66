// A pipeline deploying to the kubernetes target through a real server and agent, against a contract
// server standing in for Kubernetes (test/support/kube-api.ts): the kubeconfig is a protected file
// variable, the release pins its image, and a release whose pods never become available is rolled
// back by rendering the previous release's stored files with its own image.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { kubectlSkipReason, startKubeApi, webManifests, type KubeApi } from '../support/kube-api.js';
import { TestTandem, type PipelineView } from '../support/tandem.js';

const skip = kubectlSkipReason();
const pinned = (hex: string) => `127.0.0.1:25500/team/web@sha256:${hex.repeat(64)}`;

function pipeline(image: string): string {
  return [
    'deploy-production:',
    '  script: [echo built]',
    '  environment: { name: production }',
    '  deploy:',
    '    source: k8s',
    `    image: "${image}"`,
    '    target:',
    '      kubernetes: { kubeconfig: $KUBECONFIG_PRODUCTION, namespace: web, timeout: 3s }',
    '',
  ].join('\n');
}

describe('kubernetes deployments end to end, against a contract server standing in for Kubernetes', { skip }, () => {
  let tandem: TestTandem;
  let api: KubeApi;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tandem-e2e-kube-'));
    api = await startKubeApi(dir);
    tandem = await TestTandem.start({ agents: 1 });
  });
  after(async () => {
    await tandem?.close();
    await api?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('deploys with a file-variable kubeconfig and rolls a stuck rollout back to the previous image', { timeout: 90_000 }, async () => {
    const { name: repo, remote } = await tandem.repo({
      '.gitlab-ci.yml': pipeline(pinned('a')),
      'k8s/deployment.yaml': webManifests(2)['deployment.yaml'],
    });
    const kubeconfig = await readFile(await api.writeKubeconfig(join(dir, 'kubeconfig')), 'utf8');
    const saved = await tandem.api('POST', `/api/v1/repos/${repo}/variables`, {
      key: 'KUBECONFIG_PRODUCTION',
      value: kubeconfig,
      protected: true,
      file: true,
    });
    assert.equal(saved.status, 201, saved.text);
    const run = async () => {
      const p: PipelineView = await tandem.waitForPipeline(await tandem.trigger(repo), undefined, 45_000);
      return { p, log: await tandem.log(p.jobs[0].id) };
    };
    const image = () => {
      const web = api.get('deployments', 'web', 'web') as { spec: { template: { spec: { containers: { image: string }[] } } } };
      return web.spec.template.spec.containers[0].image;
    };

    const first = await run();
    assert.equal(first.p.status, 'success', first.log);
    assert.equal(image(), pinned('a'));

    api.unavailable = (img) => img === pinned('b');
    await remote.commit({ '.gitlab-ci.yml': pipeline(pinned('b')) }, 'b');
    await remote.push('main');
    const second = await run();
    assert.equal(second.p.status, 'failed', second.log);
    assert.match(second.log, /the rollout of deployment\/web did not complete within 3 s/);
    assert.match(second.log, /rolled back to #\d+/);
    assert.equal(image(), pinned('a'), "the previous release's image runs again");
    assert.doesNotMatch(second.log, /certificate-authority-data|token: /, 'the kubeconfig stays out of the log');

    const releases = (
      await tandem.api<{ kind: string; status: string; image: string | null }[]>(
        'GET',
        `/api/v1/repos/${repo}/environments/production/releases`,
      )
    ).body;
    const failed = releases.find((r) => r.image === pinned('b'));
    assert.equal(failed?.status, 'rolled_back');
    assert.deepEqual([releases[0].status, releases[0].image], ['live', pinned('a')], 'the live release is the previous image again');
    assert.deepEqual(api.violations, []);
  });
});
