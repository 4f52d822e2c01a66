// A job's `image:` and `services:` as GitLab defines them, read from the compiled pipeline (plain
// JSON, variables not yet expanded) into what the container executor runs.
import { expandVariables } from '../pipeline/index.js';

export const PULL_POLICIES = ['always', 'if-not-present', 'never'] as const;
export type PullPolicy = (typeof PULL_POLICIES)[number];

/**
 * GitLab Runner's default is `always`, which needs a registry for every job; Tandem pulls only
 * what is missing (a job can still ask for `always`).
 */
export const DEFAULT_PULL_POLICY: PullPolicy[] = ['if-not-present'];

export interface ImageSpec {
  name: string;
  /** null: the image's own entrypoint; [] (or GitLab's `[""]`): none. */
  entrypoint: string[] | null;
  /** Tried in order until one gives the image. */
  pullPolicy: PullPolicy[];
  /** `docker: {user, platform}`. */
  user: string | null;
  platform: string | null;
}

export interface ServiceSpec extends ImageSpec {
  /** Host names the job reaches the service by. */
  aliases: string[];
  /** Arguments after the image (the service's command); null: the image's own. */
  command: string[] | null;
  variables: Record<string, string>;
}

export interface ContainerJob {
  image: ImageSpec;
  services: ServiceSpec[];
}

type Plain = Record<string, unknown>;

function isMap(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Not expanded: a command's `$VAR` is for the shell in the container, as in GitLab. */
function stringList(value: unknown, where: string): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new Error(`${where}: expected a list of strings`);
  return value;
}

function optionalString(value: unknown, where: string, env: Record<string, string>): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw new Error(`${where}: expected a string`);
  return expandVariables(value, env);
}

function pullPolicyOf(value: unknown, where: string): PullPolicy[] {
  if (value === undefined || value === null) return DEFAULT_PULL_POLICY;
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) return DEFAULT_PULL_POLICY;
  for (const policy of list) {
    if (!PULL_POLICIES.includes(policy as PullPolicy))
      throw new Error(`${where}: unknown pull policy ${JSON.stringify(policy)} (expected ${PULL_POLICIES.join(', ')})`);
  }
  return list as PullPolicy[];
}

function imageOf(value: unknown, where: string, env: Record<string, string>): { spec: ImageSpec; raw: Plain } {
  const raw: Plain = typeof value === 'string' ? { name: value } : isMap(value) ? value : {};
  if (typeof raw.name !== 'string') throw new Error(`${where}: expected an image name or {name: ...}`);
  const name = expandVariables(raw.name, env).trim();
  if (name === '') throw new Error(`${where}: the image name ${JSON.stringify(raw.name)} is empty once its variables are expanded`);
  const entrypoint = raw.entrypoint === undefined ? null : stringList(raw.entrypoint, `${where}.entrypoint`);
  const docker = raw.docker ?? {};
  if (!isMap(docker)) throw new Error(`${where}.docker: expected a mapping (user, platform)`);
  const spec: ImageSpec = {
    name,
    // GitLab's documented way to clear an entrypoint is `[""]`.
    entrypoint: entrypoint && entrypoint.every((part) => part === '') ? [] : entrypoint,
    pullPolicy: pullPolicyOf(raw.pull_policy, `${where}.pull_policy`),
    user: optionalString(docker.user, `${where}.docker.user`, env),
    platform: optionalString(docker.platform, `${where}.docker.platform`, env),
  };
  return { spec, raw };
}

/**
 * GitLab's default service host names: the image name without tag, digest and registry port, with
 * `/` turned into `__` and into `-` (`registry:5000/tools/pg:16` -> `registry__tools__pg`, `registry-tools-pg`).
 */
export function defaultAliases(image: string): string[] {
  const withoutDigest = image.split('@')[0];
  const slash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.lastIndexOf(':');
  const withoutTag = colon > slash ? withoutDigest.slice(0, colon) : withoutDigest;
  const withoutPort = withoutTag.replace(/^([^/]*?):\d+(\/)/, '$1$2');
  return [...new Set([withoutPort.replaceAll('/', '__'), withoutPort.replaceAll('/', '-')])];
}

function serviceOf(value: unknown, where: string, env: Record<string, string>): ServiceSpec {
  const { spec: image, raw } = imageOf(value, where, env);
  const alias = optionalString(raw.alias, `${where}.alias`, env);
  // GitLab accepts several aliases in one string, separated by spaces or commas.
  const aliases = alias ? alias.split(/[\s,]+/).filter(Boolean) : defaultAliases(image.name);
  for (const a of aliases) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(a)) throw new Error(`${where}.alias: ${JSON.stringify(a)} is not a valid host name`);
  }
  const variables: Record<string, string> = {};
  if (raw.variables !== undefined) {
    if (!isMap(raw.variables)) throw new Error(`${where}.variables: expected a mapping`);
    for (const [key, v] of Object.entries(raw.variables)) variables[key] = expandVariables(String(v), env);
  }
  return {
    ...image,
    aliases,
    command: raw.command === undefined ? null : stringList(raw.command, `${where}.command`),
    variables,
  };
}

/** The image and services of a job, with the job's variables expanded in them as GitLab does. */
export function containerJobOf(image: unknown, services: unknown[] | null, env: Record<string, string>): ContainerJob {
  return {
    image: imageOf(image, 'image', env).spec,
    services: (services ?? []).map((s, i) => serviceOf(s, `services[${i}]`, env)),
  };
}
