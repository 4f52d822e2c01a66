// Validation of a job's whole `deploy:` block into a DeploySpec: plain JSON data, so the server can
// store it with the job and the agent that runs the deployment gets exactly what was validated.
// Errors stop at the first problem and name its place (`deploy.strategy.canary.first: ...`).
import { posix } from 'node:path';
import { parseImageRef } from '../image-ref.js';
import { nearest } from '../pipeline/index.js';
import { DeployConfigError, describeValue as describe, isMapping } from './config-error.js';
import { parseServiceSpec, parseTargetSpec, type ServiceSpec, type TargetSpec } from './targets/index.js';
import { parseBake, parseChecks, parseDurationMs, type Check } from './verify/index.js';

/** One of blue-green's two slots: a link name in the deploy dir, and variables its commands and checks see. */
export interface BlueGreenSlot {
  name: string;
  /** e.g. {PORT: '18081'}: exported to service and switch commands, expanded in checks. */
  vars: Record<string, string>;
}

/**
 * Resolved against the target's host count at parse time (percentages, defaults), so a strategy
 * only ever sees host numbers.
 */
export type StrategySpec =
  /** Hosts in batches of `batch`; within a batch at most `maxUnavailable` hosts are switched at once. */
  | { kind: 'rolling'; batch: number; maxUnavailable: number }
  /**
   * `first` hosts analysed for `pauseMs` (null: until a person decides), then the rest as rolling
   * with `batch` and `maxUnavailable`.
   */
  | {
      kind: 'canary';
      first: number;
      pauseMs: number | null;
      batch: number;
      maxUnavailable: number;
      /** kubernetes: the canary Deployments run this percentage of the replicas. */
      weight?: number;
    }
  /** The release goes to the idle slot, `switch` moves traffic to it (null: the kubernetes target's Services). */
  | { kind: 'blue-green'; switch: string | null; slots: [BlueGreenSlot, BlueGreenSlot] };

export interface DeploySpec {
  /**
   * Path in the job's workspace (relative, normalized, never leaving it) whose files become the
   * release; null for an image-only release.
   */
  source: string | null;
  /** The image the release runs, as written (a tag or a digest); the agent pins it to a digest before the release starts. */
  image: string | null;
  target: TargetSpec;
  service: ServiceSpec;
  strategy: StrategySpec;
  verify: Check[];
  bakeMs: number;
  rollback: 'auto' | 'manual';
}

type Mapping = Record<string, unknown>;

const DEPLOY_KEYS = ['source', 'image', 'target', 'service', 'strategy', 'verify', 'bake', 'rollback'];
const STRATEGIES = ['rolling', 'canary', 'blue-green'] as const;
const DEFAULT_SLOTS = ['blue', 'green'];
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Links the deploy dir already uses: a slot of that name would overwrite them. */
const RESERVED_LINKS = ['current', 'releases'];

function mapping(value: unknown, path: string, allowed: readonly string[]): Mapping {
  if (!isMapping(value)) throw new DeployConfigError(path, `expected a map with keys ${allowed.join(', ')}, got ${describe(value)}`);
  for (const key of Object.keys(value)) {
    if (allowed.includes(key)) continue;
    const hint = nearest(key, allowed);
    throw new DeployConfigError(
      `${path}.${key}`,
      `unknown key \`${key}\`${hint ? ` (did you mean \`${hint}\`?)` : ''}; expected one of ${allowed.join(', ')}`,
    );
  }
  return value;
}

function text(value: unknown, path: string, what: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new DeployConfigError(path, `expected ${what}, got ${describe(value)}`);
  return value.trim();
}

function source(value: unknown, path: string): string {
  const raw = text(value, path, 'a path in the job workspace, e.g. dist/');
  if (raw.startsWith('/'))
    throw new DeployConfigError(path, `expected a path relative to the job workspace, got the absolute path ${JSON.stringify(raw)}`);
  const normalized = posix.normalize(raw).replace(/\/+$/, '') || '.';
  if (normalized === '..' || normalized.startsWith('../'))
    throw new DeployConfigError(path, `${JSON.stringify(raw)} leaves the job workspace`);
  return normalized;
}

/** An image reference as Docker reads it (checked here, resolved to a digest by the agent). */
function image(value: unknown, path: string): string | null {
  if (value === undefined || value === null) return null;
  const ref = text(value, path, 'an image reference, e.g. registry.example.com/app:1.2 or registry.example.com/app@sha256:...');
  try {
    parseImageRef(ref);
  } catch (err) {
    throw new DeployConfigError(path, (err as Error).message);
  }
  return ref;
}

/** A host count: a whole number, or "N%" of the target's hosts rounded up (at least 1). */
function hostCount(value: unknown, path: string, hosts: number): number {
  const percent = typeof value === 'string' ? value.trim().match(/^(\d+(?:\.\d+)?)%$/) : null;
  if (percent) {
    const p = Number(percent[1]);
    if (p <= 0 || p > 100) throw new DeployConfigError(path, `expected a percentage above 0% and at most 100%, got ${describe(value)}`);
    return Math.max(1, Math.ceil((hosts * p) / 100));
  }
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw new DeployConfigError(path, `expected a number of hosts (at least 1) or a percentage like "25%", got ${describe(value)}`);
  }
  if (n > hosts) throw new DeployConfigError(path, `${n} is more than the target's ${hosts} host${hosts === 1 ? '' : 's'}`);
  return n;
}

/** `batch` and `max_unavailable` of rolling, and of canary for the hosts after the first batch. */
function batching(s: Mapping, path: string, hosts: number, defaultBatch: number): { batch: number; maxUnavailable: number } {
  const batch = s.batch === undefined ? defaultBatch : hostCount(s.batch, `${path}.batch`, hosts);
  const maxUnavailable = s.max_unavailable === undefined ? batch : hostCount(s.max_unavailable, `${path}.max_unavailable`, hosts);
  return { batch, maxUnavailable: Math.min(maxUnavailable, batch) };
}

function slots(value: unknown, path: string): [BlueGreenSlot, BlueGreenSlot] {
  if (value === undefined)
    return [
      { name: DEFAULT_SLOTS[0], vars: {} },
      { name: DEFAULT_SLOTS[1], vars: {} },
    ];
  let entries: [string, unknown][];
  if (Array.isArray(value)) entries = value.map((name, i) => [text(name, `${path}[${i}]`, 'a slot name'), {}]);
  else if (isMapping(value)) entries = Object.entries(value);
  else
    throw new DeployConfigError(
      path,
      `expected two slot names ([blue, green]) or a map of two slots to their variables, got ${describe(value)}`,
    );
  if (entries.length !== 2) throw new DeployConfigError(path, `expected exactly two slots, got ${entries.length}`);
  const parsed = entries.map(([name, vars]): BlueGreenSlot => {
    const at = Array.isArray(value) ? path : `${path}.${name}`;
    if (!/^[A-Za-z0-9_][A-Za-z0-9_-]*$/.test(name) || RESERVED_LINKS.includes(name)) {
      throw new DeployConfigError(at, `"${name}" cannot name a slot: letters, digits, '_' and '-', not ${RESERVED_LINKS.join(' or ')}`);
    }
    if (vars === null || vars === undefined) return { name, vars: {} };
    if (!isMapping(vars)) throw new DeployConfigError(at, `expected a map of variables for slot ${name}, got ${describe(vars)}`);
    const out: Record<string, string> = {};
    for (const [key, v] of Object.entries(vars)) {
      if (!VAR_NAME.test(key) || key.startsWith('TANDEM_'))
        throw new DeployConfigError(`${at}.${key}`, `"${key}" is not a variable name of the slot's own (TANDEM_* are Tandem's)`);
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')
        throw new DeployConfigError(`${at}.${key}`, `expected a text or number, got ${describe(v)}`);
      out[key] = String(v);
    }
    return { name, vars: out };
  });
  if (parsed[0].name === parsed[1].name)
    throw new DeployConfigError(path, `the two slots need different names, got "${parsed[0].name}" twice`);
  const keys = (slot: BlueGreenSlot) => Object.keys(slot.vars).sort().join(', ');
  if (keys(parsed[0]) !== keys(parsed[1])) {
    throw new DeployConfigError(
      path,
      `both slots must set the same variables: ${parsed[0].name} sets [${keys(parsed[0])}], ${parsed[1].name} [${keys(parsed[1])}]`,
    );
  }
  return [parsed[0], parsed[1]];
}

function hostsOf(target: TargetSpec): number {
  return target.kind === 'ssh' || target.kind === 'container' ? target.hosts.length : 1;
}

/** A canary's `pause`: how long its analysis runs; null (absent) holds it until a person decides. */
function pause(value: unknown, path: string): number | null {
  if (value === undefined || value === null) return null;
  const ms = parseDurationMs(value);
  if (ms === null) throw new DeployConfigError(path, `expected a duration like "30s" or "5m", got ${describe(value)}`);
  return ms;
}

const DEFAULT_CANARY_WEIGHT = 25;

/** On a kubernetes target the canary is a share of the replicas, not of the (single) host. */
function kubernetesCanary(c: Mapping, path: string): StrategySpec {
  let weight = DEFAULT_CANARY_WEIGHT;
  if (c.weight !== undefined) {
    const m = typeof c.weight === 'string' ? c.weight.trim().match(/^(\d+)%$/) : null;
    const n = m ? Number(m[1]) : c.weight;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 99)
      throw new DeployConfigError(
        `${path}.weight`,
        `expected a share of the replicas from 1% to 99%, like "20%", got ${describe(c.weight)}`,
      );
    weight = n;
  }
  return { kind: 'canary', first: 1, pauseMs: pause(c.pause, `${path}.pause`), batch: 1, maxUnavailable: 1, weight };
}

function strategy(value: unknown, path: string, target: TargetSpec): StrategySpec {
  const hosts = hostsOf(target);
  if (value === undefined || value === null) return { kind: 'rolling', batch: hosts, maxUnavailable: hosts };
  // `strategy: rolling` or `strategy: canary` alone take every default.
  const s = typeof value === 'string' ? { [value.trim()]: {} } : value;
  const kinds = Object.keys(mapping(s, path, STRATEGIES));
  if (kinds.length !== 1)
    throw new DeployConfigError(
      path,
      `expected exactly one of ${STRATEGIES.join(', ')}, got ${kinds.length === 0 ? 'none' : kinds.join(' and ')}`,
    );
  const kind = kinds[0] as (typeof STRATEGIES)[number];
  const at = `${path}.${kind}`;
  const body = (s as Mapping)[kind] ?? {};
  switch (kind) {
    case 'rolling':
      return { kind, ...batching(mapping(body, at, ['batch', 'max_unavailable']), at, hosts, hosts) };
    case 'canary': {
      if (target.kind === 'kubernetes') return kubernetesCanary(mapping(body, at, ['weight', 'pause']), at);
      const c = mapping(body, at, ['first', 'pause', 'batch', 'max_unavailable']);
      const first = c.first === undefined ? 1 : hostCount(c.first, `${at}.first`, hosts);
      // By default every host after the canary goes in one batch.
      return { kind, first, pauseMs: pause(c.pause, `${at}.pause`), ...batching(c, at, hosts, Math.max(1, hosts - first)) };
    }
    case 'blue-green': {
      if (target.kind === 'script')
        throw new DeployConfigError(at, 'needs a local, ssh or container target: a script target switches traffic with its own commands');
      const b = mapping(body, at, ['switch', 'slots']);
      if (target.kind === 'kubernetes' && b.switch !== undefined)
        throw new DeployConfigError(
          `${at}.switch`,
          "a kubernetes target switches traffic itself, by pointing its Services' selector at the slot",
        );
      return {
        kind,
        switch:
          target.kind === 'kubernetes' ? null : text(b.switch, `${at}.switch`, 'a command that moves traffic to the slot in $TANDEM_SLOT'),
        slots: slots(b.slots, `${at}.slots`),
      };
    }
  }
}

/**
 * Validates a job's `deploy` value (`where` names it in errors, e.g. "deploy"): defaults applied
 * (strategy rolling with every host in one batch, rollback auto, no checks, bake 0).
 */
export function parseDeploySpec(value: unknown, where: string): DeploySpec {
  const d = mapping(value, where, DEPLOY_KEYS);
  if (d.target === undefined) throw new DeployConfigError(`${where}.target`, 'is required: local, ssh or script');
  const target = parseTargetSpec(d.target, `${where}.target`);
  const service = parseServiceSpec(d.service, `${where}.service`);
  if ((target.kind === 'script' || target.kind === 'container' || target.kind === 'kubernetes') && Object.keys(service).length > 0) {
    throw new DeployConfigError(
      `${where}.service`,
      `a ${target.kind} target runs its own commands; service commands apply to local and ssh targets`,
    );
  }
  const verify = parseChecks(d.verify, `${where}.verify`);
  const bakeMs = parseBake(d.bake, `${where}.bake`);
  const rollback = d.rollback ?? 'auto';
  if (rollback !== 'auto' && rollback !== 'manual') {
    const hint = typeof rollback === 'string' ? nearest(rollback, ['auto', 'manual']) : null;
    throw new DeployConfigError(
      `${where}.rollback`,
      `expected auto or manual, got ${describe(rollback)}${hint ? ` (did you mean \`${hint}\`?)` : ''}`,
    );
  }
  const releaseImage = image(d.image, `${where}.image`);
  if (releaseImage === null && target.kind === 'container') {
    throw new DeployConfigError(`${where}.image`, 'is required: a container target runs the release image');
  }
  // Files are what local and ssh targets install; an image-only release has none.
  if (d.source === undefined && (releaseImage === null || target.kind === 'local' || target.kind === 'ssh')) {
    throw new DeployConfigError(
      `${where}.source`,
      releaseImage === null
        ? 'is required: the path in the workspace whose files become the release (or deploy.image for an image release)'
        : `is required: a ${target.kind} target installs the release's files`,
    );
  }
  if (d.source === undefined && target.kind === 'kubernetes')
    throw new DeployConfigError(`${where}.source`, 'is required: a kubernetes target applies the manifests in it');
  return {
    source: d.source === undefined ? null : source(d.source, `${where}.source`),
    image: releaseImage,
    target,
    service,
    strategy: strategy(d.strategy, `${where}.strategy`, target),
    verify,
    bakeMs,
    rollback,
  };
}
