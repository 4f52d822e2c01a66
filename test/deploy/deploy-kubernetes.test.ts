// The kubernetes target driving the real kubectl against a contract server standing in for
// Kubernetes (test/support/kube-api.ts): no cluster runs on these machines, so what is checked is
// the contract kubectl and the API server agree on (server-side apply, rollout status over a
// watch, optimistic concurrency), with every request body checked against the published schema.
// Kustomizations and Helm charts are rendered by the real kubectl kustomize and helm template.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseDeploySpec, runDeployment, type DeploySpec, type ReleaseInput } from '../../src/deploy/index.js';
import { FENCE_ANNOTATION, FENCE_CONFIGMAP } from '../../src/deploy/targets/kubernetes.js';
import { helmSkipReason, kubectlSkipReason, startKubeApi, webManifests, type KubeApi } from '../support/kube-api.js';
import { recorder } from './deploy-fixtures.js';
import { makeSource, tempDir, type TempDir } from './targets-fixtures.js';

const skip = kubectlSkipReason();
const IMAGE = (n: number) => `registry.example.com/web@sha256:${String(n).repeat(64).slice(0, 64)}`;

type Obj = Record<string, unknown>;

/** A nested field of a stored object, e.g. at(o, 'spec', 'replicas'). */
function at(object: Obj | undefined, ...path: (string | number)[]): unknown {
  let value: unknown = object;
  for (const key of path) value = (value as Record<string | number, unknown> | undefined)?.[key];
  return value;
}

describe('kubernetes target against a contract server standing in for Kubernetes', { skip }, () => {
  let tmp: TempDir;
  let api: KubeApi;
  let kubeconfig: string;
  let namespaces = 0;

  before(async () => {
    tmp = await tempDir('tandem-deploy-kube-');
    api = await startKubeApi(tmp.path);
    kubeconfig = await api.writeKubeconfig(join(tmp.path, 'kubeconfig'));
  });
  after(async () => {
    await api?.close();
    await tmp?.remove();
  });

  /** A fresh namespace per test, so fences and slots start empty. */
  function namespace(): string {
    return `ns-${++namespaces}`;
  }

  function spec(ns: string, extra: Obj = {}): DeploySpec {
    return parseDeploySpec({ source: 'k8s', target: { kubernetes: { kubeconfig, namespace: ns, timeout: '3s' } }, ...extra }, 'deploy');
  }

  async function release(id: number, files: Record<string, string>, token = id): Promise<ReleaseInput> {
    return {
      id,
      sourceDir: await makeSource(tmp.path, `release-${id}-${token}`, files),
      image: IMAGE(id),
      fencingToken: token,
      env: { TANDEM_RELEASE_ID: String(id), TANDEM_RELEASE_VERSION: `v${id}`, TANDEM_ENVIRONMENT: 'production' },
    };
  }

  async function deploy(s: DeploySpec, r: ReleaseInput, previous: ReleaseInput | null = null, mode: 'deploy' | 'rollback' = 'deploy') {
    const rec = recorder({ spec: s, release: r, previous, mode, workDir: join(tmp.path, `state-${s.target.kind}`) });
    const result = await runDeployment(rec.input);
    return { result, lines: rec.lines };
  }

  const image = (ns: string, name = 'web') => at(api.get('deployments', ns, name), 'spec', 'template', 'spec', 'containers', 0, 'image');
  const fence = (ns: string) => api.get('configmaps', ns, FENCE_CONFIGMAP);

  it('applies the manifests server-side with the pinned image and waits for the rollout', async () => {
    const ns = namespace();
    const { result, lines } = await deploy(spec(ns), await release(1, webManifests(2)));
    assert.equal(result.status, 'live', lines.join('\n'));
    assert.equal(image(ns), IMAGE(1));
    assert.equal(at(api.get('deployments', ns, 'web'), 'metadata', 'annotations', 'tandem.dev/release'), '1');
    assert.equal(at(api.get('services', ns, 'web'), 'spec', 'selector', 'app'), 'web');
    assert.equal(at(api.get('deployments', ns, 'web'), 'status', 'availableReplicas'), 2, 'the wait ended once the pods were available');

    const applies = api.requests.filter((r) => r.method === 'PATCH' && r.path.includes(`/namespaces/${ns}/`));
    assert.ok(applies.length >= 2);
    for (const a of applies) {
      assert.equal(a.contentType, 'application/apply-patch+yaml');
      assert.equal(a.query.fieldManager, 'tandem');
      assert.equal(a.query.fieldValidation, 'Strict', 'kubectl asked the server to check the fields');
    }
    assert.ok(
      api.requests.some((r) => r.path === `/apis/apps/v1/namespaces/${ns}/deployments` && r.query.watch === 'true'),
      'rollout status watched the Deployment',
    );
    assert.ok(lines.some((l) => l.includes('deployment "web" successfully rolled out')));
    assert.equal(at(fence(ns), 'data', 'current'), '1');
    assert.equal(at(fence(ns), 'metadata', 'annotations', FENCE_ANNOTATION), '1');
    assert.deepEqual(api.violations, []);
  });

  it("rolls back to the previous release's manifests when the rollout misses its deadline", async () => {
    const ns = namespace();
    const v1 = await release(1, webManifests(2));
    assert.equal((await deploy(spec(ns), v1)).result.status, 'live');
    api.unavailable = (img) => img === IMAGE(2);
    try {
      const started = performance.now();
      const { result, lines } = await deploy(spec(ns), await release(2, webManifests(3)), v1);
      assert.equal(result.status, 'rolled_back', lines.join('\n'));
      assert.match(result.reason, /the rollout of deployment\/web did not complete within 3 s/);
      assert.ok(performance.now() - started < 20_000);
    } finally {
      api.unavailable = () => false;
    }
    const web = api.get('deployments', ns, 'web');
    assert.equal(image(ns), IMAGE(1), 'the previous image runs again');
    assert.equal(at(web, 'spec', 'replicas'), 2, "the previous release's manifests, not the failed ones with a new image");
    assert.equal(at(web, 'metadata', 'annotations', 'tandem.dev/release'), '1');
    assert.equal(at(fence(ns), 'data', 'current'), '1');
    assert.deepEqual(api.violations, []);
  });

  it('runs a canary as a second Deployment with a share of the replicas, removed when its analysis fails', async () => {
    const ns = namespace();
    const v1 = await release(1, webManifests(4));
    assert.equal((await deploy(spec(ns), v1)).result.status, 'live');
    const canary = (weight: string) => ({
      strategy: { canary: { weight, pause: '1s' } },
      verify: [{ command: 'test "$TANDEM_RELEASE_VERSION" != v2', interval: '200ms' }],
    });

    const bad = await deploy(spec(ns, canary('50%')), await release(2, webManifests(4)), v1);
    assert.equal(bad.result.status, 'rolled_back', bad.lines.join('\n'));
    const written = api.writes.filter((w) => w.plural === 'deployments' && at(w.object, 'metadata', 'namespace') === ns);
    const canaryWrite = written.find((w) => at(w.object, 'metadata', 'name') === 'web-canary');
    assert.ok(canaryWrite, 'the canary Deployment was applied');
    assert.equal(at(canaryWrite.object, 'spec', 'replicas'), 2, '50% of 4 replicas');
    assert.equal(
      at(canaryWrite.object, 'spec', 'template', 'metadata', 'labels', 'app'),
      'web',
      'its pods take the traffic of the Service',
    );
    assert.equal(at(canaryWrite.object, 'spec', 'template', 'spec', 'containers', 0, 'image'), IMAGE(2));
    assert.equal(api.get('deployments', ns, 'web-canary'), undefined, 'the failed canary is gone');
    assert.equal(image(ns), IMAGE(1), 'the live Deployment was never touched');

    const good = await deploy(spec(ns, canary('25%')), await release(3, webManifests(4)), v1);
    assert.equal(good.result.status, 'live', good.lines.join('\n'));
    assert.equal(image(ns), IMAGE(3), 'promoted');
    assert.equal(api.get('deployments', ns, 'web-canary'), undefined, 'the canary is removed after the promotion');
    assert.deepEqual(api.violations, []);
  });

  it('switches a Service between two slot Deployments and back when the new slot fails', async () => {
    const ns = namespace();
    const slotOf = () => at(api.get('services', ns, 'web'), 'spec', 'selector', 'tandem.dev/slot');
    // Fails once the Service selects green: the new slot passes before the switch, not after it.
    const selected = `kubectl --kubeconfig ${kubeconfig} -n ${ns} get service web -o jsonpath='{.spec.selector.tandem\\.dev/slot}'`;
    const blueGreen = {
      strategy: 'blue-green',
      verify: [{ command: `test "$(${selected})" != green || test "$TANDEM_RELEASE_VERSION" != v2`, interval: '300ms', timeout: '5s' }],
    };

    const v1 = await release(1, webManifests(2));
    const first = await deploy(spec(ns, blueGreen), v1);
    assert.equal(first.result.status, 'live', first.lines.join('\n'));
    assert.equal(image(ns, 'web-blue'), IMAGE(1));
    assert.equal(at(api.get('deployments', ns, 'web-blue'), 'spec', 'selector', 'matchLabels', 'tandem.dev/slot'), 'blue');
    assert.equal(slotOf(), 'blue');
    assert.equal(at(fence(ns), 'data', 'current'), '1');

    const second = await deploy(spec(ns, blueGreen), await release(2, webManifests(2)), v1);
    assert.equal(second.result.status, 'rolled_back', second.lines.join('\n'));
    assert.equal(image(ns, 'web-green'), IMAGE(2), 'the new release ran in the idle slot');
    assert.equal(image(ns, 'web-blue'), IMAGE(1), 'the live slot was never touched');
    assert.equal(slotOf(), 'blue', 'traffic is back on blue');
    assert.equal(at(fence(ns), 'data', 'current'), '1');
    assert.ok(api.writes.some((w) => w.plural === 'services' && at(w.object, 'spec', 'selector', 'tandem.dev/slot') === 'green'));

    const v3 = await release(3, webManifests(2));
    const third = await deploy(spec(ns, blueGreen), v3, v1);
    assert.equal(third.result.status, 'live', third.lines.join('\n'));
    assert.deepEqual([slotOf(), image(ns, 'web-green')], ['green', IMAGE(3)]);

    // `tandem rollback` to v1, still in the idle blue slot: a switch alone.
    const writes = api.writes.length;
    const back = await deploy(spec(ns, blueGreen), await release(1, webManifests(2), 4), v3, 'rollback');
    assert.equal(back.result.status, 'live', back.lines.join('\n'));
    assert.equal(slotOf(), 'blue');
    assert.equal(at(fence(ns), 'data', 'current'), '1');
    assert.deepEqual(
      api.writes.slice(writes).filter((w) => w.plural === 'deployments'),
      [],
      'no Deployment was applied: blue still ran v1',
    );
    assert.deepEqual(api.violations, []);
  });

  it('builds a kustomization with kubectl kustomize and puts the image in its output', async () => {
    const ns = namespace();
    const files = { ...webManifests(2), 'kustomization.yaml': 'resources: [deployment.yaml]\nlabels: [{pairs: {team: web}}]\n' };
    const { result, lines } = await deploy(spec(ns), await release(1, files));
    assert.equal(result.status, 'live', lines.join('\n'));
    assert.equal(image(ns), IMAGE(1));
    assert.equal(at(api.get('deployments', ns, 'web'), 'metadata', 'labels', 'team'), 'web', 'kustomize built the objects');
    assert.equal(api.get('services', ns, 'web'), undefined, 'only what the kustomization lists');
  });

  it(
    'renders a Helm chart with helm template under its release name, and rolls back to the earlier chart',
    { skip: helmSkipReason() },
    async () => {
      // Release ids of their own: a release's source dir is named by its id and token.
      const ns = namespace();
      const chart = (replicas: number) => ({
        'Chart.yaml': 'apiVersion: v2\nname: web\nversion: 0.1.0\n',
        'values.yaml': `replicas: ${replicas}\nimage: \${TANDEM_RELEASE_IMAGE}\n`,
        'templates/deployment.yaml': [
          'apiVersion: apps/v1',
          'kind: Deployment',
          'metadata: {name: "{{ .Release.Name }}-web", labels: {app: web}}',
          'spec:',
          '  replicas: {{ .Values.replicas }}',
          '  selector: {matchLabels: {app: web}}',
          '  template:',
          '    metadata: {labels: {app: web}}',
          '    spec:',
          '      containers: [{name: web, image: "{{ .Values.image }}"}]',
          '',
        ].join('\n'),
      });
      const helmSpec = (extra: Obj = {}) =>
        parseDeploySpec(
          { source: 'k8s', target: { kubernetes: { kubeconfig, namespace: ns, timeout: '3s', helm_release: 'shop' } }, ...extra },
          'deploy',
        );
      const v1 = await release(31, chart(2));
      const first = await deploy(helmSpec(), v1);
      assert.equal(first.result.status, 'live', first.lines.join('\n'));
      assert.equal(image(ns, 'shop-web'), IMAGE(31), 'the chart named the Deployment after the release name and took the pinned image');
      assert.equal(at(api.get('deployments', ns, 'shop-web'), 'spec', 'replicas'), 2);
      // v2's rollout never completes: the earlier chart is rendered again and applied.
      api.unavailable = (img) => img === IMAGE(32);
      try {
        const { result, lines } = await deploy(helmSpec(), await release(32, chart(3)), v1);
        assert.equal(result.status, 'rolled_back', lines.join('\n'));
        assert.match(result.reason, /the rollout of deployment\/shop-web did not complete within 3 s/);
      } finally {
        api.unavailable = () => false;
      }
      assert.equal(image(ns, 'shop-web'), IMAGE(31));
      assert.equal(at(api.get('deployments', ns, 'shop-web'), 'spec', 'replicas'), 2);
    },
  );

  it('refuses a stale fencing token before touching the namespace', async () => {
    const ns = namespace();
    assert.equal((await deploy(spec(ns), await release(5, webManifests(2), 7))).result.status, 'live');
    const applied = api.requests.filter((r) => r.method === 'PATCH').length;
    const { result } = await deploy(spec(ns), await release(6, webManifests(2), 4));
    assert.equal(result.status, 'failed');
    assert.match(result.reason, /stale fencing token 4 refused: ConfigMap tandem-fence in namespace ns-\d+ has already seen token 7/);
    assert.equal(api.requests.filter((r) => r.method === 'PATCH').length, applied, 'nothing was applied');
    assert.equal(image(ns), IMAGE(5));
    assert.equal(at(fence(ns), 'data', 'current'), '5');
  });

  it('loses the compare-and-swap on the fence to a newer deployment that wrote in between, and stops', async () => {
    const ns = namespace();
    assert.equal((await deploy(spec(ns), await release(1, webManifests(2), 1))).result.status, 'live');
    const applied = api.requests.filter((r) => r.method === 'PATCH').length;
    let raced = false;
    // Between this deployment's read of the fence (token 1) and its write of token 8, token 9 lands.
    api.beforeWrite = (how, plural, namespace, name) => {
      if (raced || how !== 'replace' || plural !== 'configmaps' || namespace !== ns || name !== FENCE_CONFIGMAP) return;
      raced = true;
      const newer = structuredClone(fence(ns)) as { metadata: { annotations: Record<string, string> } };
      newer.metadata.annotations[FENCE_ANNOTATION] = '9';
      api.put('configmaps', ns, newer);
    };
    try {
      const { result } = await deploy(spec(ns), await release(2, webManifests(2), 8));
      assert.equal(result.status, 'failed');
      assert.match(result.reason, /stale fencing token 8 refused: .* has already seen token 9/);
    } finally {
      api.beforeWrite = () => {};
    }
    assert.ok(raced);
    assert.ok(
      api.requests.some((r) => r.method === 'PUT' && r.path.endsWith(`/namespaces/${ns}/configmaps/${FENCE_CONFIGMAP}`)),
      'the losing write was sent with the old resourceVersion',
    );
    assert.equal(api.requests.filter((r) => r.method === 'PATCH').length, applied, 'nothing was applied');
    assert.equal(at(fence(ns), 'metadata', 'annotations', FENCE_ANNOTATION), '9');
    assert.equal(image(ns), IMAGE(1));
  });

  it('fails on a manifest the published schema refuses, as the API server would', async () => {
    const ns = namespace();
    const broken = webManifests(2, '      initContainers: [{image: busybox}]\n');
    const { result } = await deploy(spec(ns), await release(1, broken));
    assert.equal(result.status, 'failed');
    assert.match(result.reason, /initContainers\[0\]\.name: Required value/);
    assert.equal(api.get('deployments', ns, 'web'), undefined);
    assert.equal(api.violations.length, 1);
    api.violations.length = 0;
  });
});
