import { nearest } from '../../pipeline/index.js';
import type { ServiceSpec, SshHostSpec, SshTargetSpec, TargetSpec } from './types.js';
import { DeployConfigError } from '../config-error.js';
import { kubernetesTarget } from './kubernetes-spec.js';
import { parseContainerTarget } from './container-spec.js';

const DEFAULT_KEEP = 5;
export const DEFAULT_SSH_PORT = 22;

type Mapping = Record<string, unknown>;

export function fail(where: string, message: string): never {
  throw new DeployConfigError(where, message);
}

export function mapping(value: unknown, where: string, allowed: readonly string[]): Mapping {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(where, `must be a mapping with keys ${allowed.join(', ')}`);
  for (const key of Object.keys(value)) {
    if (allowed.includes(key)) continue;
    const hint = nearest(key, allowed);
    fail(`${where}.${key}`, `unknown key${hint ? ` (did you mean "${hint}"?)` : ''}; allowed: ${allowed.join(', ')}`);
  }
  return value as Mapping;
}

export function text(value: unknown, where: string): string {
  if (typeof value !== 'string' || value.trim() === '') fail(where, 'must be a non-empty string');
  return value;
}

export function optionalText(value: unknown, where: string): string | undefined {
  return value === undefined || value === null ? undefined : text(value, where);
}

export function integer(value: unknown, where: string, min: number, max: number, fallback?: number): number {
  if ((value === undefined || value === null) && fallback !== undefined) return fallback;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max)
    fail(where, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

export function absolutePath(value: unknown, where: string): string {
  const path = text(value, where);
  if (!path.startsWith('/')) fail(where, `must be an absolute path, got "${path}"`);
  if (/[\n\r]/.test(path)) fail(where, 'must not contain a line break');
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}

/** Words that ssh could take as options (a leading '-') or split (whitespace) are refused. */
function sshWord(value: unknown, where: string, what: 'host' | 'user'): string {
  const word = text(value, where);
  if (word.startsWith('-') || /[\s@]/.test(word)) fail(where, `"${word}" is not a valid ${what} name`);
  return word;
}

export interface HostDefaults {
  user?: string;
  port: number;
  dir?: string;
}

const HOST_STRING = /^(?:([^@\s]+)@)?(\[[^\]\s]+\]|[^:@\s[\]]+)(?::(\d+))?$/;

export function sshHost(value: unknown, where: string, defaults: HostDefaults): Omit<SshHostSpec, 'name'> {
  let host: string;
  let user = defaults.user;
  let port = defaults.port;
  let dir = defaults.dir;
  if (typeof value === 'string') {
    const m = value.trim().match(HOST_STRING);
    if (!m) fail(where, `"${value}" is not "host", "host:port" or "user@host:port" (an IPv6 address goes in brackets: "[::1]:22")`);
    host = sshWord(m[2].replace(/^\[(.*)\]$/, '$1'), where, 'host');
    if (m[1] !== undefined) user = sshWord(m[1], where, 'user');
    if (m[3] !== undefined) port = integer(m[3], where, 1, 65535);
  } else {
    const h = mapping(value, where, ['host', 'port', 'user', 'dir']);
    host = sshWord(h.host, `${where}.host`, 'host');
    if (h.port !== undefined) port = integer(h.port, `${where}.port`, 1, 65535);
    if (h.user !== undefined) user = sshWord(h.user, `${where}.user`, 'user');
    if (h.dir !== undefined) dir = absolutePath(h.dir, `${where}.dir`);
  }
  if (dir === undefined) fail(where, 'has no dir: set dir on the ssh target or on this host');
  return user === undefined ? { host, port, dir } : { host, port, user, dir };
}

/** `host:port` as ssh names a host, an IPv6 address in brackets. */
export function sshAddress(h: { host: string; port: number }): string {
  return `${h.host.includes(':') ? `[${h.host}]` : h.host}:${h.port}`;
}

/** The target's `known_hosts` and `identity_file`, set on `spec` when given. */
export function sshAuth(s: Mapping, where: string, spec: { knownHosts?: string; identityFile?: string }): void {
  const knownHosts = optionalText(s.known_hosts, `${where}.known_hosts`);
  if (knownHosts !== undefined) spec.knownHosts = knownHosts;
  const identityFile = optionalText(s.identity_file, `${where}.identity_file`);
  if (identityFile !== undefined) spec.identityFile = identityFile;
}

function sshTarget(value: unknown, where: string): SshTargetSpec {
  const s = mapping(value, where, ['hosts', 'user', 'port', 'dir', 'known_hosts', 'identity_file', 'keep', 'parallel']);
  const defaults: HostDefaults = { port: integer(s.port, `${where}.port`, 1, 65535, DEFAULT_SSH_PORT) };
  if (s.user !== undefined) defaults.user = sshWord(s.user, `${where}.user`, 'user');
  if (s.dir !== undefined) defaults.dir = absolutePath(s.dir, `${where}.dir`);
  if (!Array.isArray(s.hosts) || s.hosts.length === 0) fail(`${where}.hosts`, 'must be a non-empty list of hosts');
  const parsed = s.hosts.map((h, i) => sshHost(h, `${where}.hosts[${i}]`, defaults));

  const hosts = parsed.map((h, i): SshHostSpec => {
    const same = parsed.findIndex((o) => o.host === h.host && o.port === h.port && o.dir === h.dir);
    if (same !== i) fail(`${where}.hosts[${i}]`, `repeats hosts[${same}] (${sshAddress(h)} ${h.dir})`);
    const shared = parsed.some((o) => o !== h && o.host === h.host && o.port === h.port);
    return { ...h, name: shared ? `${sshAddress(h)}:${h.dir}` : sshAddress(h) };
  });

  const spec: SshTargetSpec = {
    kind: 'ssh',
    hosts,
    keep: integer(s.keep, `${where}.keep`, 1, 10_000, DEFAULT_KEEP),
    parallel: integer(s.parallel, `${where}.parallel`, 1, 10_000, hosts.length),
  };
  sshAuth(s, where, spec);
  return spec;
}

const KINDS = ['local', 'ssh', 'script', 'container', 'kubernetes'] as const;

/**
 * Validates a pipeline's `deploy.target` value (`where` names it in errors, e.g. "deploy.target")
 * into the normalized spec: defaults applied, ssh host strings split, every host with its dir.
 */
export function parseTargetSpec(value: unknown, where: string): TargetSpec {
  const t = mapping(value, where, KINDS);
  const kinds = Object.keys(t);
  if (kinds.length !== 1) fail(where, `needs exactly one of ${KINDS.join(', ')}${kinds.length > 1 ? `, got ${kinds.join(' and ')}` : ''}`);
  const kind = kinds[0] as (typeof KINDS)[number];
  const at = `${where}.${kind}`;
  switch (kind) {
    case 'local': {
      const l = mapping(t.local, at, ['dir', 'keep']);
      return { kind, dir: absolutePath(l.dir, `${at}.dir`), keep: integer(l.keep, `${at}.keep`, 1, 10_000, DEFAULT_KEEP) };
    }
    case 'ssh':
      return sshTarget(t.ssh, at);
    case 'container':
      return parseContainerTarget(t.container, at);
    case 'script': {
      const s = mapping(t.script, at, ['deploy', 'verify', 'rollback']);
      const spec: TargetSpec = { kind, deploy: text(s.deploy, `${at}.deploy`) };
      const verify = optionalText(s.verify, `${at}.verify`);
      if (verify !== undefined) spec.verify = verify;
      const rollback = optionalText(s.rollback, `${at}.rollback`);
      if (rollback !== undefined) spec.rollback = rollback;
      return spec;
    }
    case 'kubernetes':
      return kubernetesTarget(t.kubernetes, at);
  }
}

/** Validates a pipeline's `deploy.service` value (absent: no commands). */
export function parseServiceSpec(value: unknown, where: string): ServiceSpec {
  if (value === undefined || value === null) return {};
  const s = mapping(value, where, ['stop', 'start', 'restart', 'reload']);
  const spec: ServiceSpec = {};
  for (const key of ['stop', 'start', 'restart', 'reload'] as const) {
    const command = optionalText(s[key], `${where}.${key}`);
    if (command !== undefined) spec[key] = command;
  }
  return spec;
}
