// Validation of `deploy.verify` and `deploy.bake` as users write them. Errors stop at the first problem
// and name its exact place (`deploy.verify[1].prometheus.pass`), since the caller may map that path
// back to a line in the pipeline file.
import { nearest } from '../../pipeline/index.js';
import { compileUntrustedRegex, RegexSyntaxError } from '../../pipeline/index.js';
import { DeployConfigError, describeValue as describe, isMapping } from '../config-error.js';
import type { Check, CompareOp, Condition, NoData } from './types.js';

export const DEFAULT_INTERVAL_MS = 5_000;
export const DEFAULT_FAILURES = 3;
const MAX_DEFAULT_TIMEOUT_MS = 10_000;

const KINDS = ['http', 'tcp', 'command', 'prometheus'] as const;
type Kind = (typeof KINDS)[number];
const COMMON_KEYS = ['name', 'interval', 'failures', 'timeout'];
const KIND_KEYS: Record<Kind, string[]> = {
  http: ['expect_status', 'body', 'max_latency'],
  tcp: [],
  command: [],
  prometheus: [],
};
const PROMETHEUS_KEYS = ['url', 'query', 'pass', 'no_data'];
const NO_DATA: NoData[] = ['fail', 'pass', 'pause'];

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/**
 * Milliseconds from "500ms", "1s", "2m", "1m30s", "1h" or plain seconds (a number or numeric text,
 * fractions allowed); null when the value is not a duration.
 */
export function parseDurationMs(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : null;
  if (typeof value !== 'string') return null;
  const text = value.trim();
  if (/^\d+(?:\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  if (!/^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/.test(text)) return null;
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(amount) * UNIT_MS[unit];
  return Math.round(ms);
}

/** `deploy.bake` in ms; absent means 0 (every check passes once). */
export function parseBake(value: unknown, where: string): number {
  if (value === undefined || value === null) return 0;
  const ms = parseDurationMs(value);
  if (ms === null) throw new DeployConfigError(where, `expected a duration like "10s", "2m" or "1m30s", got ${describe(value)}`);
  return ms;
}

/** The checks of `deploy.verify`, validated and with defaults filled in; absent means none. */
export function parseChecks(value: unknown, where: string): Check[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new DeployConfigError(where, `expected a list of checks, got ${describe(value)}`);
  const checks = value.map((item, i) => parseCheck(item, `${where}[${i}]`));
  const seen = new Set<string>();
  checks.forEach((check, i) => {
    if (seen.has(check.name)) {
      throw new DeployConfigError(
        `${where}[${i}]`,
        `another check is already named "${check.name}"; give one of them a different \`name\``,
      );
    }
    seen.add(check.name);
  });
  return checks;
}

function parseCheck(item: unknown, path: string): Check {
  if (!isMapping(item))
    throw new DeployConfigError(path, `expected a check (a map with one of ${KINDS.join(', ')}), got ${describe(item)}`);
  const kinds = KINDS.filter((k) => k in item);
  if (kinds.length > 1) throw new DeployConfigError(path, `a check has exactly one of ${KINDS.join(', ')}; found ${kinds.join(' and ')}`);
  if (kinds.length === 0) {
    const candidates = [...KINDS, ...COMMON_KEYS];
    const unknown = Object.keys(item).find((key) => !candidates.includes(key));
    if (unknown !== undefined) throw unknownKey(`${path}.${unknown}`, unknown, candidates);
    throw new DeployConfigError(path, `a check needs one of ${KINDS.join(', ')}`);
  }
  const kind = kinds[0];
  const allowed = [kind, ...COMMON_KEYS, ...KIND_KEYS[kind]];
  for (const key of Object.keys(item)) {
    if (allowed.includes(key)) continue;
    const owner = KINDS.find((k) => KIND_KEYS[k].includes(key));
    if (owner) throw new DeployConfigError(`${path}.${key}`, `\`${key}\` applies to ${owner} checks only`);
    throw unknownKey(`${path}.${key}`, key, allowed);
  }

  const intervalMs = optionalDuration(item.interval, `${path}.interval`) ?? DEFAULT_INTERVAL_MS;
  const timeoutMs = optionalDuration(item.timeout, `${path}.timeout`) ?? Math.min(intervalMs, MAX_DEFAULT_TIMEOUT_MS);
  const failures = item.failures === undefined ? DEFAULT_FAILURES : item.failures;
  if (typeof failures !== 'number' || !Number.isInteger(failures) || failures < 1) {
    throw new DeployConfigError(
      `${path}.failures`,
      `expected a whole number of consecutive failures, at least 1, got ${describe(failures)}`,
    );
  }
  let explicitName: string | null = null;
  if (item.name !== undefined) {
    if (typeof item.name !== 'string' || item.name.trim() === '')
      throw new DeployConfigError(`${path}.name`, `expected a non-empty text, got ${describe(item.name)}`);
    explicitName = item.name.trim();
  }
  const common = { intervalMs, timeoutMs, failures };
  const kindPath = `${path}.${kind}`;

  switch (kind) {
    case 'http': {
      const url = httpUrl(item.http, kindPath);
      const body = item.body === undefined ? null : regex(item.body, `${path}.body`);
      return {
        kind,
        name: explicitName ?? `http ${url}`,
        ...common,
        url,
        expectStatus: item.expect_status === undefined ? null : statuses(item.expect_status, `${path}.expect_status`),
        body,
        maxLatencyMs: optionalDuration(item.max_latency, `${path}.max_latency`),
      };
    }
    case 'tcp': {
      const { host, port } = hostPort(item.tcp, kindPath);
      return { kind, name: explicitName ?? `tcp ${host.includes(':') ? `[${host}]` : host}:${port}`, ...common, host, port };
    }
    case 'command': {
      const command = nonEmptyText(item.command, kindPath, 'a shell command');
      return { kind, name: explicitName ?? `command ${command}`, ...common, command };
    }
    case 'prometheus': {
      const spec = item.prometheus;
      if (!isMapping(spec)) throw new DeployConfigError(kindPath, `expected a map with url, query and pass, got ${describe(spec)}`);
      for (const key of Object.keys(spec)) {
        if (!PROMETHEUS_KEYS.includes(key)) throw unknownKey(`${kindPath}.${key}`, key, PROMETHEUS_KEYS);
      }
      const url = httpUrl(spec.url, `${kindPath}.url`);
      const query = nonEmptyText(spec.query, `${kindPath}.query`, 'a PromQL query');
      const condition = comparison(spec.pass, `${kindPath}.pass`);
      const noData = spec.no_data === undefined ? 'fail' : spec.no_data;
      if (!NO_DATA.includes(noData as NoData)) {
        const hint = typeof noData === 'string' ? nearest(noData, NO_DATA) : null;
        throw new DeployConfigError(
          `${kindPath}.no_data`,
          `expected fail, pass or pause, got ${describe(noData)}${hint ? ` (did you mean \`${hint}\`?)` : ''}`,
        );
      }
      return {
        kind,
        name: explicitName ?? `prometheus ${query} ${condition.op} ${condition.value}`,
        ...common,
        url,
        query,
        condition,
        noData: noData as NoData,
      };
    }
  }
}

function unknownKey(path: string, key: string, candidates: string[]): DeployConfigError {
  const hint = nearest(key, candidates);
  return new DeployConfigError(
    path,
    `unknown key \`${key}\`${hint ? ` (did you mean \`${hint}\`?)` : `; expected one of ${candidates.join(', ')}`}`,
  );
}

function optionalDuration(value: unknown, path: string): number | null {
  if (value === undefined) return null;
  const ms = parseDurationMs(value);
  if (ms === null || ms === 0)
    throw new DeployConfigError(path, `expected a positive duration like "500ms", "1s", "2m" or "1m30s", got ${describe(value)}`);
  return ms;
}

function nonEmptyText(value: unknown, path: string, what: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new DeployConfigError(path, `expected ${what}, got ${describe(value)}`);
  return value.trim();
}

/** `$NAME` or `${NAME}`: a variable the deployment expands when it runs the check (src/deploy/checks.ts). */
export const CHECK_VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)|\$\$/g;

function httpUrl(value: unknown, path: string): string {
  const text = nonEmptyText(value, path, 'an http:// or https:// URL');
  // A URL starting with a variable ($CI_ENVIRONMENT_URL/health) can only be checked once expanded; in
  // others each variable stands for a value valid anywhere in a URL (a port per blue-green slot).
  if (text.startsWith('$') && !text.startsWith('$$')) return text;
  let url: URL;
  try {
    url = new URL(text.replace(CHECK_VARIABLE, '1'));
  } catch {
    throw new DeployConfigError(path, `expected an http:// or https:// URL, got ${describe(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new DeployConfigError(path, `expected an http:// or https:// URL, got ${describe(value)}`);
  return text;
}

function hostPort(value: unknown, path: string): { host: string; port: number } {
  const text = nonEmptyText(value, path, 'host:port');
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:\s[\]]+):(\d+)$/.exec(text);
  const port = m ? Number(m[2]) : 0;
  if (!m || port < 1 || port > 65_535)
    throw new DeployConfigError(path, `expected host:port like "127.0.0.1:5432" (port 1-65535), got ${describe(value)}`);
  return { host: m[1], port };
}

function statuses(value: unknown, path: string): number[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw new DeployConfigError(path, 'expected an HTTP status or a list of them, got an empty list');
  return list.map((status, i) => {
    const n = typeof status === 'string' && /^\d{3}$/.test(status.trim()) ? Number(status) : status;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 100 || n > 599) {
      throw new DeployConfigError(
        Array.isArray(value) ? `${path}[${i}]` : path,
        `expected an HTTP status (100-599), got ${describe(status)}`,
      );
    }
    return n;
  });
}

function regex(value: unknown, path: string): string {
  const source = nonEmptyText(value, path, 'a regular expression');
  try {
    compileUntrustedRegex(source, '');
  } catch (err) {
    if (!(err instanceof RegexSyntaxError)) throw err;
    throw new DeployConfigError(path, `expected a regular expression (RE2 syntax): ${err.message}`);
  }
  return source;
}

function comparison(value: unknown, path: string): Condition {
  const m = typeof value === 'string' ? /^\s*(<=|>=|==|!=|<|>)\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$/.exec(value) : null;
  if (!m)
    throw new DeployConfigError(path, `expected a comparison like '< 0.05' (one of < <= > >= == != and a number), got ${describe(value)}`);
  return { op: m[1] as CompareOp, value: Number(m[2]) };
}
