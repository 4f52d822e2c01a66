// Where a repository may point, by who sets it. A repository URL is read by the server (mirrors)
// and the agents with their own rights: a local path or file:// URL reads this host's files (other
// repositories, the mirrors, the data dir), and a host inside the server's network is reached from
// there (SSRF). Both are for instance admins, who trust the host anyway (docs/operations.md).
import { lookup } from 'node:dns/promises';
import { realpath } from 'node:fs/promises';
import { BlockList, isIP } from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import { normalizeRepoUrl, redactUrl, repoUrlTarget, SourceError, splitUrlCredentials, type UrlCredentials } from '../source/index.js';
import { saveRepoCredential, urlCredential, type RepoSecretsContext } from '../repos/index.js';
import { ApiError } from './http.js';

/** Loopback, private, link-local, shared, multicast and reserved ranges (RFC 6890): not "the internet". */
const INTERNAL = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const) {
  INTERNAL.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 127], // unspecified and loopback
  ['64:ff9b::', 96], // NAT64 reaches IPv4 addresses, internal ones too
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  INTERNAL.addSubnet(net, bits, 'ipv6');
}

// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) reach IPv4 hosts, and DNS has no reason to answer
// with them. Kept apart: a BlockList holding this subnet matches every IPv4 address too.
const IPV4_MAPPED = new BlockList();
IPV4_MAPPED.addSubnet('::ffff:0:0', 96, 'ipv6');

export function isInternalAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return INTERNAL.check(address, 'ipv4');
  return family === 0 || INTERNAL.check(address, 'ipv6') || IPV4_MAPPED.check(address, 'ipv6');
}

/** The addresses a host (name or IP address) stands for; rejects when the name does not resolve. */
async function hostAddresses(host: string): Promise<string[]> {
  return isIP(host) ? [host] : (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
}

/**
 * Why a pipeline's include:remote may not reach this host: it resolves to an address inside the
 * server's network (SSRF); null when it may. Names that do not resolve are left to the fetch's error.
 */
export async function internalRemoteHost(host: string): Promise<string | null> {
  const bare = host.replace(/^\[|\]$/g, '');
  const addresses = await hostAddresses(bare).catch((): string[] => []);
  const internal = addresses.find(isInternalAddress);
  return internal === undefined
    ? null
    : `host \`${host}\` is ${internal === bare ? '' : `${internal}, `}an address inside the server's network (loopback, private or link-local)`;
}

/** The real path of p, or of its nearest existing parent plus the rest (a path that does not exist yet). */
async function realPathOf(p: string): Promise<string> {
  try {
    return await realpath(p);
  } catch {
    const parent = path.dirname(p);
    return parent === p ? p : path.join(await realPathOf(parent), path.basename(p));
  }
}

async function underAllowedPath(target: string, allowed: readonly string[]): Promise<boolean> {
  const real = await realPathOf(target);
  for (const dir of allowed) {
    const root = await realPathOf(path.resolve(dir));
    if (real === root || real.startsWith(root.endsWith(path.sep) ? root : root + path.sep)) return true;
  }
  return false;
}

export interface RepoUrlSetter {
  admin: boolean;
}

export interface CheckedRepoUrl {
  /** Normalised, without credentials: what is stored, shown and given to git. */
  url: string;
  /** What the URL carried as `user:password@`, to be stored encrypted (`saveRepoCredential`). */
  credentials: UrlCredentials | null;
}

/**
 * The normalised URL and its credentials, if this caller may point a repository there: 422 for a
 * URL that is not one (or whose host does not resolve), 403 for a place only an admin may use.
 */
export async function checkRepoUrl(
  input: string,
  who: RepoUrlSetter,
  config: { allowedLocalRepoPaths: readonly string[] },
): Promise<CheckedRepoUrl> {
  let checked: CheckedRepoUrl;
  try {
    checked = splitUrlCredentials(normalizeRepoUrl(input));
  } catch (err) {
    if (err instanceof SourceError) throw new ApiError(422, `url: ${err.message}`);
    throw err;
  }
  if (!who.admin) await checkReach(checked.url, config);
  return checked;
}

async function checkReach(url: string, config: { allowedLocalRepoPaths: readonly string[] }): Promise<void> {
  const target = repoUrlTarget(url);
  if (target.kind === 'local') {
    if (await underAllowedPath(target.path, config.allowedLocalRepoPaths)) return;
    throw new ApiError(
      403,
      `url: ${redactUrl(url)} is a path on the Tandem server: only an instance administrator may point a repository at local paths or file:// URLs${config.allowedLocalRepoPaths.length > 0 ? ' outside allowedLocalRepoPaths' : ''}`,
    );
  }
  let addresses: string[];
  try {
    addresses = await hostAddresses(target.host);
  } catch (err) {
    throw new ApiError(422, `url: host "${target.host}" does not resolve (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const internal = addresses.find(isInternalAddress);
  if (internal !== undefined) {
    throw new ApiError(
      403,
      `url: host "${target.host}" is ${internal === target.host ? '' : `${internal}, `}an address inside the server's network (loopback, private or link-local): only an instance administrator may point a repository there`,
    );
  }
}

/**
 * Refuses (403) a URL the server itself sends to (a forge's API root, a notification webhook) whose
 * host is inside the server's network, unless an instance admin sets it, as for repository URLs. A
 * URL that does not parse is left to the caller's validation, which names the field.
 */
export async function checkOutboundUrl(url: string, who: RepoUrlSetter, what: { field: string; sends: string }): Promise<void> {
  if (who.admin) return;
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return;
  }
  const internal = await internalRemoteHost(host);
  if (internal !== null) throw new ApiError(403, `${what.field}: ${internal}: only an instance administrator may send ${what.sends} there`);
}

/**
 * Moves credentials that repository URLs stored before migration 013 carried into the encrypted
 * column, so the URL shown to guests, job tokens and logs has none. Runs at start.
 */
export async function moveUrlCredentials(ctx: RepoSecretsContext, log: Logger): Promise<void> {
  const repos = await ctx.store.db.selectFrom('repos').select(['id', 'url']).where('url', 'like', 'http%://%@%').execute();
  for (const repo of repos) {
    const { url, credentials } = splitUrlCredentials(repo.url);
    if (credentials === null) continue;
    await saveRepoCredential(ctx, repo.id, urlCredential(credentials));
    await ctx.store.db.updateTable('repos').set({ url }).where('id', '=', repo.id).execute();
    log.info({ repoId: repo.id, url }, 'moved the credentials of a repository URL into encrypted storage');
  }
}
