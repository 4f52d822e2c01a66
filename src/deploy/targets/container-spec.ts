// Validation of `deploy.target.container` into a ContainerTargetSpec; errors name their place
// (`deploy.target.container.ports[0]: ...`). Behaviour: docs/pipeline-reference.md#container-target.
import { parseDurationMs } from '../verify/index.js';
import {
  absolutePath,
  DEFAULT_SSH_PORT,
  fail,
  integer,
  mapping,
  optionalText,
  sshAddress,
  sshAuth,
  sshHost,
  text,
  type HostDefaults,
} from './spec.js';
import type { ContainerHealthSpec, ContainerHostSpec, ContainerTargetSpec } from './types.js';

const DEFAULT_KEEP = 3;
const DEFAULT_STOP_TIMEOUT_S = 10;
const DEFAULT_STATE_ROOT = '/var/lib/tandem/containers';
const PULL_POLICIES = ['if-not-present', 'always', 'never'] as const;
const KEYS = [
  'name',
  'hosts',
  'user',
  'port',
  'dir',
  'known_hosts',
  'identity_file',
  'parallel',
  'ports',
  'env',
  'volumes',
  'command',
  'health',
  'pull',
  'stop_timeout',
  'engine_args',
  'run_args',
  'keep',
];
const HOST_KEYS = ['host', 'port', 'user', 'dir', 'address', 'container'];
/** podman's container names; the target appends `-<release>` (and `-<slot>`). */
const CONTAINER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** `[ip:]host_port:container_port[/proto]`, any part may be a `$VAR` expanded on activation. */
const PORT = /^(?:(?:\[[^\]]+\]|[^:[\]\s]+):)?[^:\s]+:[^:\s/]+(?:\/(?:tcp|udp|sctp))?$/;

function list(value: unknown, where: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) fail(where, 'must be a list');
  return value;
}

function words(value: unknown, where: string): string[] {
  return list(value, where).map((v, i) => text(v, `${where}[${i}]`));
}

function containerName(value: unknown, where: string): string {
  const name = text(value, where);
  if (!CONTAINER_NAME.test(name))
    fail(where, `"${name}" is not a container name: letters, digits, '_', '.' and '-', starting with a letter or digit`);
  return name;
}

function durationMs(value: unknown, where: string, fallbackMs: number): number {
  if (value === undefined || value === null) return fallbackMs;
  const ms = parseDurationMs(value);
  if (ms === null) fail(where, `must be a duration like "500ms", "2s" or "1m", got ${JSON.stringify(value)}`);
  return ms;
}

function health(value: unknown, where: string): ContainerHealthSpec | null {
  if (value === undefined || value === null) return null;
  const h = typeof value === 'string' ? { cmd: value } : mapping(value, where, ['cmd', 'interval', 'retries', 'timeout']);
  return {
    cmd: text(h.cmd, `${where}.cmd`),
    intervalMs: durationMs(h.interval, `${where}.interval`, 1_000),
    retries: integer(h.retries, `${where}.retries`, 1, 10_000, 30),
    timeoutMs: durationMs(h.timeout, `${where}.timeout`, 5_000),
  };
}

function env(value: unknown, where: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) fail(where, 'must be a mapping of variable names to values');
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(value)) {
    if (!ENV_NAME.test(name)) fail(`${where}.${name}`, `"${name}" is not a variable name`);
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') fail(`${where}.${name}`, 'must be a text or a number');
    if (/[\r\n]/.test(String(v))) fail(`${where}.${name}`, 'must be one line (podman reads env files line by line)');
    out[name] = String(v);
  }
  return out;
}

function hostEntry(value: unknown, where: string, defaults: HostDefaults, container: string | undefined): Omit<ContainerHostSpec, 'name'> {
  const h = typeof value === 'string' ? { host: value } : mapping(value, where, HOST_KEYS);
  const own = h.container === undefined ? container : containerName(h.container, `${where}.container`);
  if (own === undefined) fail(where, 'has no container name: set name on the container target or container on this host');
  const dir = h.dir === undefined ? (defaults.dir ?? `${DEFAULT_STATE_ROOT}/${own}`) : absolutePath(h.dir, `${where}.dir`);
  const address = optionalText(h.address, `${where}.address`);
  if (address !== undefined && /[\s/]/.test(address)) fail(`${where}.address`, `"${address}" is not a host name or address`);
  if (typeof h.host === 'string' && h.host.trim() === 'local') {
    if (h.port !== undefined || h.user !== undefined) fail(where, 'a local host takes no port or user');
    return { host: 'local', port: 0, dir, address: address ?? '127.0.0.1', container: own };
  }
  const ssh = Object.fromEntries(Object.entries(h).filter(([key]) => key !== 'address' && key !== 'container'));
  const parsed = sshHost(typeof value === 'string' ? value : ssh, where, { ...defaults, dir });
  return { ...parsed, address: address ?? parsed.host, container: own };
}

/**
 * `deploy.target.container`: hosts default to the agent's own podman; several entries on one
 * machine (two local ones, say) need their own container name and state dir.
 */
export function parseContainerTarget(value: unknown, where: string): ContainerTargetSpec {
  const c = mapping(value, where, KEYS);
  const name = c.name === undefined ? undefined : containerName(c.name, `${where}.name`);
  const defaults: HostDefaults = { port: integer(c.port, `${where}.port`, 1, 65535, DEFAULT_SSH_PORT) };
  if (c.user !== undefined) defaults.user = text(c.user, `${where}.user`);
  if (c.dir !== undefined) defaults.dir = absolutePath(c.dir, `${where}.dir`);
  const entries = c.hosts === undefined ? ['local'] : list(c.hosts, `${where}.hosts`);
  if (entries.length === 0) fail(`${where}.hosts`, 'must name at least one host (local, or an ssh host)');
  const parsed = entries.map((h, i) => hostEntry(h, `${where}.hosts[${i}]`, defaults, name));

  const machine = (h: Omit<ContainerHostSpec, 'name'>) => (h.host === 'local' ? 'local' : sshAddress(h));
  const hosts = parsed.map((h, i): ContainerHostSpec => {
    const same = parsed.findIndex((o) => machine(o) === machine(h) && (o.container === h.container || o.dir === h.dir));
    if (same !== i) {
      fail(
        `${where}.hosts[${i}]`,
        `shares ${machine(h)} with hosts[${same}] and needs its own container name and dir (set container and dir on it)`,
      );
    }
    const shared = parsed.some((o) => o !== h && machine(o) === machine(h));
    return { ...h, name: shared ? `${machine(h)}:${h.container}` : machine(h) };
  });

  const ports = words(c.ports, `${where}.ports`);
  ports.forEach((p, i) => {
    if (!PORT.test(p))
      fail(`${where}.ports[${i}]`, `"${p}" is not "host_port:container_port" or "ip:host_port:container_port" (optionally /tcp or /udp)`);
  });
  const volumes = words(c.volumes, `${where}.volumes`);
  volumes.forEach((v, i) => {
    if (v.split(':').length < 2 || v.split(':').length > 3)
      fail(`${where}.volumes[${i}]`, `"${v}" is not "source:path" or "source:path:options"`);
  });
  const pull = c.pull ?? 'if-not-present';
  if (!PULL_POLICIES.includes(pull as (typeof PULL_POLICIES)[number])) {
    fail(`${where}.pull`, `must be one of ${PULL_POLICIES.join(', ')}, got ${JSON.stringify(pull)}`);
  }
  const spec: ContainerTargetSpec = {
    kind: 'container',
    hosts,
    ports,
    env: env(c.env, `${where}.env`),
    volumes,
    command: c.command === undefined || c.command === null ? null : words(c.command, `${where}.command`),
    health: health(c.health, `${where}.health`),
    pull: pull as ContainerTargetSpec['pull'],
    stopTimeoutS: Math.ceil(durationMs(c.stop_timeout, `${where}.stop_timeout`, DEFAULT_STOP_TIMEOUT_S * 1_000) / 1_000),
    engineArgs: words(c.engine_args, `${where}.engine_args`),
    runArgs: words(c.run_args, `${where}.run_args`),
    keep: integer(c.keep, `${where}.keep`, 1, 10_000, DEFAULT_KEEP),
    parallel: integer(c.parallel, `${where}.parallel`, 1, 10_000, hosts.length),
  };
  sshAuth(c, where, spec);
  return spec;
}
