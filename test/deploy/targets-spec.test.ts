import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { parseServiceSpec, parseTargetSpec } from '../../src/deploy/targets/index.js';

const target = (yaml: string) => parseTargetSpec(parse(yaml), 'deploy.target');

describe('parseTargetSpec', () => {
  it('normalizes a local target with the default keep', () => {
    assert.deepEqual(target('local: { dir: /srv/demo/ }'), { kind: 'local', dir: '/srv/demo', keep: 5 });
    assert.deepEqual(target('local: { dir: /srv/demo, keep: 2 }'), { kind: 'local', dir: '/srv/demo', keep: 2 });
  });

  it('splits ssh host strings and applies the target defaults to each host', () => {
    const spec = target(`
ssh:
  hosts: [web1, "web2:2222", "deploy@web3:2200", "[::1]:22", { host: web1, port: 22, dir: /srv/other, user: ops }]
  user: app
  port: 2201
  dir: /srv/demo
  known_hosts: /etc/tandem/known_hosts
  identity_file: keys/deploy
  keep: 3
  parallel: 2
`);
    assert.deepEqual(spec, {
      kind: 'ssh',
      hosts: [
        { host: 'web1', port: 2201, user: 'app', dir: '/srv/demo', name: 'web1:2201' },
        { host: 'web2', port: 2222, user: 'app', dir: '/srv/demo', name: 'web2:2222' },
        { host: 'web3', port: 2200, user: 'deploy', dir: '/srv/demo', name: 'web3:2200' },
        { host: '::1', port: 22, user: 'app', dir: '/srv/demo', name: '[::1]:22' },
        { host: 'web1', port: 22, user: 'ops', dir: '/srv/other', name: 'web1:22' },
      ],
      knownHosts: '/etc/tandem/known_hosts',
      identityFile: 'keys/deploy',
      keep: 3,
      parallel: 2,
    });
  });

  it('names hosts that share an address by their dir, and runs all hosts at once by default', () => {
    const spec = target('ssh: { hosts: [{ host: h, dir: /a }, { host: h, dir: /b }] }');
    assert.ok(spec.kind === 'ssh');
    assert.deepEqual(
      spec.hosts.map((h) => h.name),
      ['h:22:/a', 'h:22:/b'],
    );
    assert.equal(spec.parallel, 2);
    assert.equal(spec.keep, 5);
    assert.equal(spec.hosts[0].user, undefined);
  });

  it('takes script commands', () => {
    assert.deepEqual(target('script: { deploy: helm upgrade x ./chart, rollback: helm rollback x }'), {
      kind: 'script',
      deploy: 'helm upgrade x ./chart',
      rollback: 'helm rollback x',
    });
  });

  it('normalizes a kubernetes target with the default rollout timeout', () => {
    assert.deepEqual(target('kubernetes: { namespace: web }'), { kind: 'kubernetes', namespace: 'web', timeoutMs: 300_000 });
    assert.deepEqual(target('kubernetes: { namespace: web, kubeconfig: /run/kube, context: prod, timeout: 90s }'), {
      kind: 'kubernetes',
      namespace: 'web',
      timeoutMs: 90_000,
      kubeconfig: '/run/kube',
      context: 'prod',
    });
  });

  const errors: [string, RegExp][] = [
    [
      'local: { dir: /a }\nssh: { hosts: [h], dir: /a }',
      /^deploy\.target: needs exactly one of local, ssh, script, container, kubernetes, got local and ssh$/,
    ],
    ['{}', /^deploy\.target: needs exactly one of local, ssh, script, container, kubernetes$/],
    ['kubernetes: { namespace: Web }', /^deploy\.target\.kubernetes\.namespace: "Web" is not a namespace name/],
    ['kubernetes: { namespace: web, namspace: x }', /^deploy\.target\.kubernetes\.namspace: unknown key \(did you mean "namespace"\?\)/],
    ['kubernetes: { kubeconfig: /k }', /^deploy\.target\.kubernetes\.namespace: must be a non-empty string$/],
    ['kubernetes: { namespace: web, timeout: soon }', /^deploy\.target\.kubernetes\.timeout: expected a duration of at least 1s/],
    [
      'kubernetes: { namespace: web, helm_release: Shop_1 }',
      /^deploy\.target\.kubernetes\.helm_release: "Shop_1" is not a Helm release name/,
    ],
    [
      'kubernetes: { namespace: web, kubeconfig: $KUBECONFIG_PROD }',
      /^deploy\.target\.kubernetes\.kubeconfig: names \$KUBECONFIG_PROD, which this job does not have: give the repository a file variable/,
    ],
    ['lokal: { dir: /a }', /^deploy\.target\.lokal: unknown key \(did you mean "local"\?\)/],
    ['[local]', /^deploy\.target: must be a mapping/],
    ['local: { dir: srv/demo }', /^deploy\.target\.local\.dir: must be an absolute path, got "srv\/demo"$/],
    ['local: { dir: /a, kep: 3 }', /^deploy\.target\.local\.kep: unknown key \(did you mean "keep"\?\)/],
    ['local: { dir: /a, keep: 0 }', /^deploy\.target\.local\.keep: must be an integer from 1 to 10000, got 0$/],
    ['local: {}', /^deploy\.target\.local\.dir: must be a non-empty string$/],
    ['ssh: { hosts: [], dir: /a }', /^deploy\.target\.ssh\.hosts: must be a non-empty list of hosts$/],
    ['ssh: { hosts: [a, "-oProxyCommand=x"], dir: /a }', /^deploy\.target\.ssh\.hosts\[1\]: "-oProxyCommand=x" is not a valid host name$/],
    ['ssh: { hosts: [a, "b:99999"], dir: /a }', /^deploy\.target\.ssh\.hosts\[1\]: must be an integer from 1 to 65535, got "99999"$/],
    [
      'ssh: { hosts: [a, "::1"], dir: /a }',
      /^deploy\.target\.ssh\.hosts\[1\]: "::1" is not "host", "host:port" or "user@host:port" \(an IPv6 address goes in brackets/,
    ],
    ['ssh: { hosts: [a, { host: b }] }', /^deploy\.target\.ssh\.hosts\[0\]: has no dir: set dir on the ssh target or on this host$/],
    ['ssh: { hosts: [a, { host: b, dir: rel }], dir: /a }', /^deploy\.target\.ssh\.hosts\[1\]\.dir: must be an absolute path/],
    ['ssh: { hosts: [a, { hots: b }], dir: /a }', /^deploy\.target\.ssh\.hosts\[1\]\.hots: unknown key \(did you mean "host"\?\)/],
    ['ssh: { hosts: [a, "a:22"], dir: /a }', /^deploy\.target\.ssh\.hosts\[1\]: repeats hosts\[0\] \(a:22 \/a\)$/],
    ['ssh: { hosts: [a], dir: /a, user: "-l" }', /^deploy\.target\.ssh\.user: "-l" is not a valid user name$/],
    ['ssh: { hosts: [a], dir: /a, known_hosts: "" }', /^deploy\.target\.ssh\.known_hosts: must be a non-empty string$/],
    ['script: { verify: "true" }', /^deploy\.target\.script\.deploy: must be a non-empty string$/],
  ];
  for (const [yaml, message] of errors) {
    it(`refuses ${yaml.replaceAll('\n', ' ')}`, () => {
      assert.throws(
        () => target(yaml),
        (err: Error) => {
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }
});

describe('parseServiceSpec', () => {
  it('takes the service commands, none when absent', () => {
    assert.deepEqual(parseServiceSpec(parse('{ restart: ./restart.sh, stop: ./stop.sh }'), 'deploy.service'), {
      restart: './restart.sh',
      stop: './stop.sh',
    });
    assert.deepEqual(parseServiceSpec(undefined, 'deploy.service'), {});
  });

  it('names a bad key or value', () => {
    assert.throws(
      () => parseServiceSpec({ restrat: 'x' }, 'deploy.service'),
      /^DeployConfigError: deploy\.service\.restrat: unknown key \(did you mean "restart"\?\)/,
    );
    assert.throws(
      () => parseServiceSpec({ start: 3 }, 'deploy.service'),
      /^DeployConfigError: deploy\.service\.start: must be a non-empty string$/,
    );
  });
});
