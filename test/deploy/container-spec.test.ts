import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { expandDeployBlock, parseDeploySpec } from '../../src/deploy/index.js';
import { splitNetworkArgs } from '../../src/deploy/targets/container.js';
import { parseTargetSpec } from '../../src/deploy/targets/index.js';

const target = (yaml: string) => parseTargetSpec(parse(yaml), 'deploy.target');

function fails(yaml: string, place: string, detail: RegExp): void {
  assert.throws(
    () => target(yaml),
    (err: Error) => {
      assert.equal((err as Error & { path?: string }).path, place, err.message);
      assert.match(err.message, detail);
      return true;
    },
  );
}

describe('deploy.target.container', () => {
  it('defaults to one local host, the state dir after the name, pull if-not-present, keep 3', () => {
    assert.deepEqual(target('container: { name: web }'), {
      kind: 'container',
      hosts: [{ host: 'local', port: 0, dir: '/var/lib/tandem/containers/web', address: '127.0.0.1', container: 'web', name: 'local' }],
      ports: [],
      env: {},
      volumes: [],
      command: null,
      health: null,
      pull: 'if-not-present',
      stopTimeoutS: 10,
      engineArgs: [],
      runArgs: [],
      keep: 3,
      parallel: 1,
    });
  });

  it('takes ssh hosts as the ssh target does, and two entries on one machine by their own names and dirs', () => {
    const spec = target(`
container:
  name: web
  user: deploy
  hosts: ["10.0.0.5", "ops@10.0.0.6:2222", { host: local, container: web-a, address: 127.0.0.2 }, { host: local, container: web-b, dir: /srv/b }]
  known_hosts: /etc/tandem/known_hosts
  ports: ["\${TANDEM_HOST_ADDRESS}:8080:80", "9090:90/udp"]
  env: { LOG_LEVEL: info, WORKERS: 4 }
  volumes: ["/srv/data:/data:ro"]
  command: [serve, --port, "80"]
  health: { cmd: "wget -qO- http://127.0.0.1/health", interval: 500ms, retries: 10, timeout: 2s }
  pull: always
  stop_timeout: 30s
  engine_args: [--runtime, runc]
  run_args: [--memory, 512m]
  parallel: 2
`);
    assert.ok(spec.kind === 'container');
    assert.deepEqual(
      spec.hosts.map((h) => [h.name, h.user ?? '', h.dir, h.address]),
      [
        ['10.0.0.5:22', 'deploy', '/var/lib/tandem/containers/web', '10.0.0.5'],
        ['10.0.0.6:2222', 'ops', '/var/lib/tandem/containers/web', '10.0.0.6'],
        ['local:web-a', '', '/var/lib/tandem/containers/web-a', '127.0.0.2'],
        ['local:web-b', '', '/srv/b', '127.0.0.1'],
      ],
    );
    assert.deepEqual(spec.env, { LOG_LEVEL: 'info', WORKERS: '4' });
    assert.deepEqual(spec.health, { cmd: 'wget -qO- http://127.0.0.1/health', intervalMs: 500, retries: 10, timeoutMs: 2000 });
    assert.equal(spec.stopTimeoutS, 30);
    assert.equal(spec.knownHosts, '/etc/tandem/known_hosts');
  });

  it('names the place of each mistake', () => {
    fails('container: { name: web, prots: ["80:80"] }', 'deploy.target.container.prots', /did you mean "ports"/);
    fails('container: { name: web, ports: ["80"] }', 'deploy.target.container.ports[0]', /not "host_port:container_port"/);
    fails('container: { name: web, volumes: ["/data"] }', 'deploy.target.container.volumes[0]', /not "source:path"/);
    fails('container: { name: "-web" }', 'deploy.target.container.name', /not a container name/);
    fails('container: { hosts: [local] }', 'deploy.target.container.hosts[0]', /no container name/);
    fails('container: { name: web, hosts: [local, local] }', 'deploy.target.container.hosts[1]', /shares local with hosts\[0\]/);
    fails('container: { name: web, hosts: ["-oProxyCommand=x"] }', 'deploy.target.container.hosts[0]', /not a valid host name/);
    fails('container: { name: web, hosts: [{ host: local, port: 22 }] }', 'deploy.target.container.hosts[0]', /local host takes no port/);
    fails('container: { name: web, env: { "1X": a } }', 'deploy.target.container.env.1X', /not a variable name/);
    fails('container: { name: web, env: { A: "x\\ny" } }', 'deploy.target.container.env.A', /one line/);
    fails('container: { name: web, health: { cmd: true } }', 'deploy.target.container.health.cmd', /non-empty string/);
    fails('container: { name: web, health: { cmd: x, interval: soon } }', 'deploy.target.container.health.interval', /duration/);
    fails('container: { name: web, pull: sometimes }', 'deploy.target.container.pull', /if-not-present, always, never/);
    fails('container: { name: web, keep: 0 }', 'deploy.target.container.keep', /integer from 1/);
  });

  it('counts its hosts for strategies, allows blue-green, and keeps commands for the container', () => {
    const block = {
      image: 'registry.example.com/web:$TAG',
      target: { container: { name: 'web', hosts: ['a', 'b', 'c', 'd'], health: 'test -e /ready-$TAG', ports: ['$PORT:80'] } },
      strategy: { canary: { first: '25%' } },
    };
    const expanded = expandDeployBlock(block, { TAG: 'job-tag', PORT: '8080' }) as typeof block;
    const spec = parseDeploySpec(expanded, 'deploy');
    assert.deepEqual(spec.strategy, { kind: 'canary', first: 1, pauseMs: null, batch: 3, maxUnavailable: 3 });
    assert.ok(spec.target.kind === 'container');
    assert.equal(spec.target.health?.cmd, 'test -e /ready-$TAG', "the health command is the container shell's");
    assert.deepEqual(spec.target.ports, ['8080:80'], 'ports take job variables');
    const bg = parseDeploySpec({ ...expanded, strategy: { 'blue-green': { switch: 'true' } } }, 'deploy');
    assert.equal(bg.strategy.kind, 'blue-green');
    assert.throws(
      () => parseDeploySpec({ ...expanded, image: undefined, source: '.' }, 'deploy'),
      /^DeployConfigError: deploy\.image: is required: a container target runs the release image$/,
    );
    assert.throws(
      () => parseDeploySpec({ ...expanded, service: { start: 'x' } }, 'deploy'),
      /^DeployConfigError: deploy\.service: a container target runs its own commands/,
    );
  });
});

describe('splitNetworkArgs', () => {
  it('gives the network holder the flags of a network namespace, in both spellings, and the container the rest', () => {
    const { network, own } = splitNetworkArgs([
      '--init',
      '--network',
      'web',
      '--dns=10.0.0.2',
      '--memory',
      '512m',
      '-P',
      '--add-host',
      'db:10.0.0.9',
      '--read-only',
    ]);
    assert.deepEqual(network, ['--network', 'web', '--dns=10.0.0.2', '-P', '--add-host', 'db:10.0.0.9']);
    assert.deepEqual(own, ['--init', '--memory', '512m', '--read-only']);
  });
});
