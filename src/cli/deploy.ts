// Commands for environments and releases: env list/releases/protect/promote/abort, and rollback.
import type { EnvironmentJson, ReleaseJson } from '../api/index.js';
import { ApiClient, CliError, type ApiOptions } from './api-client.js';
import { confirm } from './prompt.js';
import { followPipeline } from './remote.js';
import { colourStatus, printJson, printTable } from './output.js';

type Listing = ApiOptions & { json?: boolean };
const envPath = (repo: string, env: string) => `/api/v1/repos/${encodeURIComponent(repo)}/environments/${encodeURIComponent(env)}`;

export async function envList(repo: string, opts: Listing) {
  const envs = await ApiClient.fromOptions(opts).json<EnvironmentJson[]>('GET', `/api/v1/repos/${encodeURIComponent(repo)}/environments`);
  if (opts.json) return printJson(envs);
  printTable(
    envs.map((e) => ({
      name: e.name,
      tier: e.tier ?? '',
      protected: e.protected,
      current: e.current ? `#${e.current.id} ${e.current.version}` : '-',
      since: e.current?.finishedAt ?? '',
      latest: e.latest ? `#${e.latest.id} ${e.latest.version} ${colourStatus(e.latest.status)}` : '',
      url: e.url ?? '',
    })),
    ['name', 'tier', 'protected', 'current', 'since', 'latest', 'url'],
  );
}

export async function envReleases(repo: string, env: string, opts: Listing & { limit?: string }) {
  const releases = await ApiClient.fromOptions(opts).json<ReleaseJson[]>(
    'GET',
    `${envPath(repo, env)}/releases?limit=${Number(opts.limit ?? 20)}`,
  );
  if (opts.json) return printJson(releases);
  printTable(
    releases.map((r) => ({ ...r, sha: r.sha.slice(0, 8), status: colourStatus(r.status), statusReason: r.statusReason ?? '' })),
    ['id', 'kind', 'version', 'sha', 'status', 'createdBy', 'createdAt', 'statusReason'],
  );
}

export async function envProtect(repo: string, env: string, opts: ApiOptions & { off?: boolean; json?: boolean }) {
  const result = await ApiClient.fromOptions(opts).json<EnvironmentJson>('PUT', envPath(repo, env), { protected: !opts.off });
  if (opts.json) return printJson(result);
  console.log(`${repo}/${env}: ${result.protected ? 'protected (deploys wait for an approval)' : 'not protected'}`);
}

export async function envDecide(
  decision: 'promote' | 'abort',
  repo: string,
  env: string,
  release: string,
  opts: ApiOptions & { json?: boolean },
) {
  const result = await ApiClient.fromOptions(opts).json<ReleaseJson>(
    'POST',
    `${envPath(repo, env)}/releases/${Number(release)}/${decision}`,
    {},
  );
  if (opts.json) return printJson(result);
  console.log(`Release #${result.id} (${result.version}): ${decision === 'promote' ? 'promoted' : 'aborted'}`);
}

/**
 * A rollback changes what is live: on a terminal it asks first (unless --yes); without one nobody
 * can answer, so it needs --yes rather than going ahead unasked.
 */
async function confirmRollback(api: ApiClient, repo: string, env: string, to: string | undefined): Promise<void> {
  if (!process.stdin.isTTY) throw new CliError(`rollback of ${repo}/${env}: pass --yes to confirm it (no terminal to ask on)`);
  const envs = await api.json<EnvironmentJson[]>('GET', `/api/v1/repos/${encodeURIComponent(repo)}/environments`);
  const current = envs.find((e) => e.name === env)?.current;
  const target = to === undefined ? 'the release live before the current one' : `release #${Number(to)}`;
  const live = current ? ` (live now: #${current.id} ${current.version})` : '';
  if (!(await confirm(`Roll ${repo}/${env} back to ${target}${live}? [y/N] `))) throw new CliError('rollback canceled; nothing changed');
}

export async function rollback(
  repo: string,
  env: string,
  opts: ApiOptions & { to?: string; follow?: boolean; json?: boolean; yes?: boolean },
) {
  const api = ApiClient.fromOptions(opts);
  if (!opts.yes) await confirmRollback(api, repo, env, opts.to);
  const release = await api.json<ReleaseJson & { pipelineId: number }>(
    'POST',
    `${envPath(repo, env)}/rollback`,
    opts.to === undefined ? {} : { to: Number(opts.to) },
  );
  if (opts.json && !opts.follow) return printJson(release);
  console.log(`Rolling ${env} back to ${release.version} (release #${release.id}, pipeline #${release.pipelineId})`);
  if (opts.follow) {
    const status = await followPipeline(api, release.pipelineId);
    if (status !== 'success') process.exitCode = 1;
  }
}
