import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeployConfigError, parseDeploySpec } from '../../src/deploy/index.js';

const ssh3 = { ssh: { hosts: ['10.0.0.1', '10.0.0.2', '10.0.0.3'], dir: '/srv/app' } };

function parseError(value: unknown): { path: string; message: string } {
  try {
    parseDeploySpec(value, 'deploy');
  } catch (err) {
    assert.ok(err instanceof DeployConfigError, `expected a DeployConfigError, got ${String(err)}`);
    return { path: err.path, message: err.message };
  }
  assert.fail('expected an error');
}

describe('deploy spec', () => {
  it('reads the whole block of the issue', () => {
    const spec = parseDeploySpec(
      {
        source: 'dist/',
        target: { local: { dir: '/srv/demo', keep: 5 } },
        service: { restart: './restart.sh' },
        strategy: { rolling: { batch: 1 } },
        verify: [
          { http: 'http://127.0.0.1:18080/health', expect_status: 200, interval: '1s', failures: 3 },
          { prometheus: { url: 'http://127.0.0.1:9090', query: 'sum(rate(app_errors_total[1m]))', pass: '< 0.05', no_data: 'fail' } },
        ],
        bake: '10s',
        rollback: 'auto',
      },
      'deploy',
    );
    assert.deepEqual(
      { ...spec, verify: spec.verify.map((c) => c.name) },
      {
        source: 'dist',
        image: null,
        target: { kind: 'local', dir: '/srv/demo', keep: 5 },
        service: { restart: './restart.sh' },
        strategy: { kind: 'rolling', batch: 1, maxUnavailable: 1 },
        verify: ['http http://127.0.0.1:18080/health', 'prometheus sum(rate(app_errors_total[1m])) < 0.05'],
        bakeMs: 10_000,
        rollback: 'auto',
      },
    );
  });

  it('defaults to a rolling deployment of every host at once, rolled back automatically', () => {
    const spec = parseDeploySpec({ source: '.', target: ssh3 }, 'deploy');
    assert.deepEqual(
      [spec.strategy, spec.rollback, spec.bakeMs, spec.verify, spec.service],
      [{ kind: 'rolling', batch: 3, maxUnavailable: 3 }, 'auto', 0, [], {}],
    );
  });

  it('resolves strategies against the number of hosts', () => {
    const strategy = (value: unknown) => parseDeploySpec({ source: 'dist', target: ssh3, strategy: value }, 'deploy').strategy;
    assert.deepEqual(strategy('rolling'), { kind: 'rolling', batch: 3, maxUnavailable: 3 });
    assert.deepEqual(strategy({ rolling: { batch: 2, max_unavailable: 1 } }), { kind: 'rolling', batch: 2, maxUnavailable: 1 });
    assert.deepEqual(strategy({ rolling: { max_unavailable: 1 } }), { kind: 'rolling', batch: 3, maxUnavailable: 1 });
    assert.deepEqual(strategy({ rolling: { batch: '50%' } }), { kind: 'rolling', batch: 2, maxUnavailable: 2 });
    assert.deepEqual(strategy('canary'), { kind: 'canary', first: 1, pauseMs: null, batch: 2, maxUnavailable: 2 });
    assert.deepEqual(strategy({ canary: { first: '10%', pause: '1m30s', batch: 1 } }), {
      kind: 'canary',
      first: 1,
      pauseMs: 90_000,
      batch: 1,
      maxUnavailable: 1,
    });
    assert.deepEqual(strategy({ canary: { first: 3 } }), { kind: 'canary', first: 3, pauseMs: null, batch: 1, maxUnavailable: 1 });
    assert.deepEqual(strategy({ 'blue-green': { switch: './switch.sh' } }), {
      kind: 'blue-green',
      switch: './switch.sh',
      slots: [
        { name: 'blue', vars: {} },
        { name: 'green', vars: {} },
      ],
    });
    assert.deepEqual(strategy({ 'blue-green': { switch: 'x', slots: { a: { PORT: 8081 }, b: { PORT: '8082' } } } }), {
      kind: 'blue-green',
      switch: 'x',
      slots: [
        { name: 'a', vars: { PORT: '8081' } },
        { name: 'b', vars: { PORT: '8082' } },
      ],
    });
  });

  it('accepts check URLs that name variables', () => {
    const spec = parseDeploySpec(
      {
        source: 'dist',
        target: { local: { dir: '/srv/x' } },
        verify: [
          { http: 'http://127.0.0.1:${PORT}/health' },
          { http: '$CI_ENVIRONMENT_URL/health' },
          { http: 'http://${TANDEM_HOST_ADDRESS}:8080/' },
        ],
      },
      'deploy',
    );
    assert.equal(spec.verify.length, 3);
  });

  it('shapes canary and blue-green for a kubernetes target: a share of the replicas, a Service switch', () => {
    const kube = { source: 'k8s', target: { kubernetes: { namespace: 'web' } } };
    const strategy = (s: unknown) => parseDeploySpec({ ...kube, strategy: s }, 'deploy').strategy;
    assert.deepEqual(strategy({ canary: { weight: '10%', pause: '2m' } }), {
      kind: 'canary',
      first: 1,
      pauseMs: 120_000,
      batch: 1,
      maxUnavailable: 1,
      weight: 10,
    });
    assert.equal((strategy('canary') as { weight: number }).weight, 25);
    assert.deepEqual(strategy('blue-green'), {
      kind: 'blue-green',
      switch: null,
      slots: [
        { name: 'blue', vars: {} },
        { name: 'green', vars: {} },
      ],
    });
    const refused = (s: object, where: string, message: RegExp) => {
      const err = parseError({ ...kube, ...s });
      assert.equal(err.path, where);
      assert.match(err.message, message);
    };
    refused({ strategy: { canary: { weight: '100%' } } }, 'deploy.strategy.canary.weight', /from 1% to 99%/);
    refused({ strategy: { canary: { first: 1 } } }, 'deploy.strategy.canary.first', /expected one of weight, pause/);
    refused({ strategy: { 'blue-green': { switch: 'x' } } }, 'deploy.strategy.blue-green.switch', /switches traffic itself/);
    refused({ service: { restart: 'x' } }, 'deploy.service', /a kubernetes target runs its own commands/);
    refused({ source: undefined, image: 'registry.example.com/app:1' }, 'deploy.source', /a kubernetes target applies the manifests/);
  });

  it('takes an image as the release, with files only where the target installs them', () => {
    const pinned = `registry.example.com:5000/team/app@sha256:${'a'.repeat(64)}`;
    const script = { script: { deploy: 'deploy.sh' } };
    const imageOnly = parseDeploySpec({ image: ` ${pinned} `, target: script }, 'deploy');
    assert.deepEqual([imageOnly.source, imageOnly.image], [null, pinned]);
    const both = parseDeploySpec({ image: 'registry.example.com/app:1.2', source: 'k8s/', target: script }, 'deploy');
    assert.deepEqual([both.source, both.image], ['k8s', 'registry.example.com/app:1.2']);
    assert.deepEqual(parseError({ target: script }), {
      path: 'deploy.source',
      message:
        'deploy.source: is required: the path in the workspace whose files become the release (or deploy.image for an image release)',
    });
    assert.match(
      parseError({ image: pinned, target: ssh3 }).message,
      /^deploy\.source: is required: a ssh target installs the release's files/,
    );
    assert.deepEqual(parseError({ image: 'app: 1', target: script }).path, 'deploy.image');
    assert.match(parseError({ image: 'x'.repeat(513), target: script }).message, /repository name longer than 255 characters/);
    assert.match(parseError({ image: 'Registry.example.com:5000/App', target: script }).message, /^deploy\.image: image reference/);
    assert.match(parseError({ image: ['app'], target: script }).message, /^deploy\.image: expected an image reference/);
  });

  it('names the place of every mistake', () => {
    const base = { source: 'dist', target: ssh3 };
    const cases: [unknown, string, RegExp][] = [
      [{ ...base, stratgy: 'rolling' }, 'deploy.stratgy', /unknown key `stratgy` \(did you mean `strategy`\?\)/],
      [{ ...base, strategy: { canry: {} } }, 'deploy.strategy.canry', /did you mean `canary`/],
      [{ ...base, strategy: 'bluegreen' }, 'deploy.strategy.bluegreen', /did you mean `blue-green`/],
      [
        { ...base, strategy: { rolling: {}, canary: {} } },
        'deploy.strategy',
        /exactly one of rolling, canary, blue-green, got rolling and canary/,
      ],
      [{ ...base, strategy: { canary: { frist: 1 } } }, 'deploy.strategy.canary.frist', /did you mean `first`/],
      [{ ...base, strategy: { canary: { first: 4 } } }, 'deploy.strategy.canary.first', /4 is more than the target's 3 hosts/],
      [{ ...base, strategy: { canary: { first: '0%' } } }, 'deploy.strategy.canary.first', /above 0% and at most 100%/],
      [{ ...base, strategy: { canary: { pause: 'soon' } } }, 'deploy.strategy.canary.pause', /expected a duration/],
      [{ ...base, strategy: { rolling: { batch: 0 } } }, 'deploy.strategy.rolling.batch', /at least 1/],
      [{ ...base, strategy: { 'blue-green': {} } }, 'deploy.strategy.blue-green.switch', /expected a command/],
      [
        { ...base, strategy: { 'blue-green': { switch: 'x', slots: ['current', 'next'] } } },
        'deploy.strategy.blue-green.slots',
        /"current" cannot name a slot/,
      ],
      [{ ...base, strategy: { 'blue-green': { switch: 'x', slots: ['a', 'a'] } } }, 'deploy.strategy.blue-green.slots', /different names/],
      [
        { ...base, strategy: { 'blue-green': { switch: 'x', slots: { a: { PORT: 1 }, b: {} } } } },
        'deploy.strategy.blue-green.slots',
        /both slots must set the same variables/,
      ],
      [
        { ...base, strategy: { 'blue-green': { switch: 'x', slots: { a: { TANDEM_SLOT: 1 }, b: { TANDEM_SLOT: 2 } } } } },
        'deploy.strategy.blue-green.slots.a.TANDEM_SLOT',
        /TANDEM_\* are Tandem's/,
      ],
      [
        { source: 'dist', target: { script: { deploy: 'x' } }, strategy: { 'blue-green': { switch: 'x' } } },
        'deploy.strategy.blue-green',
        /needs a local, ssh or container target/,
      ],
      [
        { source: 'dist', target: { script: { deploy: 'x' } }, service: { restart: 'x' } },
        'deploy.service',
        /a script target runs its own commands/,
      ],
      [{ ...base, source: '/abs' }, 'deploy.source', /relative to the job workspace/],
      [{ ...base, source: 'a/../../b' }, 'deploy.source', /leaves the job workspace/],
      [{ target: ssh3 }, 'deploy.source', /is required: the path in the workspace whose files become the release/],
      [{ source: 'dist' }, 'deploy.target', /is required/],
      [{ ...base, target: { ssh: { hosts: [], dir: '/x' } } }, 'deploy.target.ssh.hosts', /non-empty list/],
      [{ ...base, verify: [{ http: 'ftp://x' }] }, 'deploy.verify[0].http', /http:\/\/ or https:\/\//],
      [{ ...base, bake: 'long' }, 'deploy.bake', /expected a duration/],
      [{ ...base, rollback: 'manul' }, 'deploy.rollback', /did you mean `manual`/],
      ['deploy everything', 'deploy', /expected a map/],
    ];
    for (const [value, path, message] of cases) {
      const err = parseError(value);
      assert.equal(err.path, path, `${JSON.stringify(value)}: ${err.message}`);
      assert.match(err.message, message);
      assert.ok(err.message.startsWith(`${path}: `), err.message);
    }
  });
});
