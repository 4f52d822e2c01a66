// Commands that talk to a running server: repo, var, run, artifact, agent list.
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import {
  FINISHED_STATUSES,
  formatCoverage,
  type PipelineJson,
  type PipelineSummaryJson,
  type RepoJson,
  type RepoVisibility,
} from '../api/index.js';
import { ApiClient, CliError, type ApiOptions } from './api-client.js';
import { credentialLine, credentialsBody, type CredentialCliOptions } from './credential-options.js';
import { forgeBody, type ForgeCliOptions } from './forge-options.js';
import { registryBody, registryLine, type RegistryCliOptions } from './registry-options.js';
import { colourJobStatus, colourStatus, printJson, printTable } from './output.js';
import { explainEmptyLog } from './no-log.js';
import { promptHidden, readStdin } from './prompt.js';

type Listing = ApiOptions & { json?: boolean };

type RepoSettingsOptions = ApiOptions &
  CredentialCliOptions &
  ForgeCliOptions &
  RegistryCliOptions & {
    path?: string;
    defaultBranch?: string;
    pollInterval?: string;
    visibility?: RepoVisibility;
    quarantineFlakyTests?: 'on' | 'off';
    maxConcurrentJobs?: string;
    json?: boolean;
  };

/**
 * `--max-concurrent-jobs`: `none` clears the limit; anything not digits goes as given, so that the
 * server refuses it naming the field (Number() would turn it into NaN, which JSON sends as null).
 */
function maxConcurrentJobsBody(value: string | undefined): number | string | null | undefined {
  if (value === undefined) return undefined;
  if (value === 'none') return null;
  return /^[0-9]+$/.test(value) ? Number(value) : value;
}

/** The settings `repo add` and `repo edit` share, as the request body has them: undefined where no option names one. */
async function repoSettings(opts: RepoSettingsOptions) {
  return {
    path: opts.path,
    defaultBranch: opts.defaultBranch,
    pollInterval: opts.pollInterval === undefined ? undefined : Number(opts.pollInterval),
    visibility: opts.visibility,
    quarantineFlakyTests: opts.quarantineFlakyTests === undefined ? undefined : opts.quarantineFlakyTests === 'on',
    maxConcurrentJobs: maxConcurrentJobsBody(opts.maxConcurrentJobs),
    credentials: await credentialsBody(opts),
    forge: await forgeBody(opts),
    registry: await registryBody(opts),
  };
}

export async function repoAdd(name: string, url: string, opts: RepoSettingsOptions & { webhookSecret?: string }) {
  const settings = await repoSettings(opts);
  const repo = await ApiClient.fromOptions(opts).json<RepoJson>('POST', '/api/v1/repos', {
    name,
    url,
    ...settings,
    webhookSecret: opts.webhookSecret,
    // `--forge none` on a new repository: nothing to stop, so no forge field (nor registry).
    forge: settings.forge ?? undefined,
    registry: settings.registry ?? undefined,
  });
  if (opts.json) printJson(repo);
  else
    console.log(
      `Added ${name} (${repo.url}, default branch ${repo.defaultBranch}, ${repo.visibility})${credentialLine(repo.credentials)}${forgeLine(repo)}${registryLine(repo)}`,
    );
}

/** Changes only what the options name; `--no-credentials` removes the repository's credential, `--forge none` stops commit statuses. */
export async function repoEdit(name: string, url: string | undefined, opts: RepoSettingsOptions) {
  const repo = await ApiClient.fromOptions(opts).json<RepoJson>('PATCH', `/api/v1/repos/${encodeURIComponent(name)}`, {
    url,
    ...(await repoSettings(opts)),
  });
  if (opts.json) printJson(repo);
  else
    console.log(
      `Changed ${name} (${repo.visibility}${repo.quarantineFlakyTests ? ', flaky tests quarantined' : ''}${repo.maxConcurrentJobs === null ? '' : `, at most ${repo.maxConcurrentJobs} jobs at once`})${credentialLine(repo.credentials)}${forgeLine(repo)}${registryLine(repo)}`,
    );
}

function forgeLine(repo: RepoJson): string {
  const f = repo.forge;
  return f ? `; statuses (${f.statuses}) go to ${f.type} ${f.project} at ${f.apiUrl}${f.appId ? ` as GitHub App ${f.appId}` : ''}` : '';
}

export async function repoList(opts: Listing) {
  const repos = await ApiClient.fromOptions(opts).json<Record<string, unknown>[]>('GET', '/api/v1/repos');
  if (opts.json) printJson(repos);
  else printTable(repos, ['name', 'path', 'url', 'defaultBranch', 'pollInterval', 'visibility', 'maxConcurrentJobs']);
}

export async function repoRemove(name: string, opts: ApiOptions) {
  await ApiClient.fromOptions(opts).json('DELETE', `/api/v1/repos/${encodeURIComponent(name)}`);
  console.log(`Removed ${name}`);
}

/**
 * The value as an argument, from stdin (`--value-stdin`: all of it, less one trailing newline, which
 * `echo` and editors add), or typed on a terminal without echo: the last two keep it out of the shell
 * history.
 */
async function variableValue(key: string, value: string | undefined, fromStdin: boolean): Promise<string> {
  if (value !== undefined && fromStdin) throw new CliError('value: give it as an argument or with --value-stdin, not both');
  if (value !== undefined) return value;
  if (fromStdin) return (await readStdin()).replace(/\r?\n$/, '');
  if (!process.stdin.isTTY) throw new CliError('value: missing; give it as an argument or with --value-stdin (no terminal to ask on)');
  return promptHidden(`Value of ${key}: `);
}

export async function varSet(
  repo: string,
  key: string,
  value: string | undefined,
  opts: ApiOptions & { masked?: boolean; protected?: boolean; file?: boolean; valueStdin?: boolean },
) {
  await ApiClient.fromOptions(opts).json('POST', `/api/v1/repos/${encodeURIComponent(repo)}/variables`, {
    key,
    value: await variableValue(key, value, opts.valueStdin ?? false),
    masked: opts.masked ?? false,
    protected: opts.protected ?? false,
    file: opts.file ?? false,
  });
  console.log(`Set ${key} on ${repo}`);
}

export async function varList(repo: string, opts: Listing) {
  const vars = await ApiClient.fromOptions(opts).json<Record<string, unknown>[]>(
    'GET',
    `/api/v1/repos/${encodeURIComponent(repo)}/variables`,
  );
  if (opts.json) printJson(vars);
  else printTable(vars, ['key', 'masked', 'protected', 'file', 'updatedAt']);
}

export async function varRemove(repo: string, key: string, opts: ApiOptions) {
  await ApiClient.fromOptions(opts).json('DELETE', `/api/v1/repos/${encodeURIComponent(repo)}/variables/${encodeURIComponent(key)}`);
  console.log(`Removed ${key} from ${repo}`);
}

export async function runList(repo: string, opts: Listing & { limit?: string }) {
  const runs = await ApiClient.fromOptions(opts).json<PipelineSummaryJson[]>(
    'GET',
    `/api/v1/repos/${encodeURIComponent(repo)}/pipelines?limit=${Number(opts.limit ?? 20)}`,
  );
  if (opts.json) printJson(runs);
  else
    printTable(
      runs.map((p) => ({ ...p, sha: p.sha.slice(0, 8), status: colourStatus(p.status) })),
      ['id', 'status', 'ref', 'sha', 'source', 'createdAt', 'duration'],
    );
}

function printPipeline(p: PipelineJson): void {
  console.log(`Pipeline #${p.id} ${colourStatus(p.status)}  ${p.repo} ${p.ref} ${p.sha.slice(0, 8)} (${p.source})`);
  // Null for pipelines made before the commit was recorded.
  if (p.commit) console.log(`${p.commit.title}  ${p.commit.author}  ${p.commit.timestamp}`);
  if (p.error) console.log(p.error);
  if (p.coverage !== null) console.log(`Coverage ${formatCoverage(p.coverage)}`);
  if (p.parent)
    console.log(
      `Triggered by pipeline #${p.parent.id} ${colourStatus(p.parent.status)}  ${p.parent.repo} (job ${p.parent.triggerJob?.name ?? '?'})`,
    );
  for (const d of p.downstream)
    console.log(
      `Downstream pipeline #${d.id} ${colourStatus(d.status)}  ${d.repo} ${d.ref} (${d.source}, job ${d.triggerJob?.name ?? '?'})`,
    );
  printTable(
    p.jobs
      .filter((j) => !j.retried)
      .map((j) => ({
        ...j,
        status: colourJobStatus(j.status, j.allowFailure, j.quarantinedTests),
        coverage: j.coverage === null ? '' : formatCoverage(j.coverage),
      })),
    ['id', 'stage', 'name', 'status', 'attempt', 'duration', 'coverage', 'failureReason'],
  );
}

export async function runShow(id: string, opts: Listing) {
  const p = await ApiClient.fromOptions(opts).json<PipelineJson>('GET', `/api/v1/pipelines/${Number(id)}`);
  if (opts.json) printJson(p);
  else printPipeline(p);
}

/** Follows a pipeline until it ends, redrawing a one-line-per-job progress view; returns the final status. */
export async function followPipeline(api: ApiClient, id: number): Promise<string> {
  let last = '';
  const render = async () => {
    const p = await api.json<PipelineJson>('GET', `/api/v1/pipelines/${id}`);
    const jobs = p.jobs.filter((j) => !j.retried);
    const done = jobs.filter((j) => FINISHED_STATUSES.has(j.status)).length;
    const line =
      `#${id} ${p.status}: ${done}/${jobs.length} jobs done` +
      (jobs.some((j) => j.status === 'running')
        ? ` (running: ${jobs
            .filter((j) => j.status === 'running')
            .map((j) => j.name)
            .join(', ')})`
        : '');
    if (line !== last) {
      if (process.stdout.isTTY) process.stdout.write(`\r\x1b[2K${line}`);
      else console.log(line);
      last = line;
    }
    return p;
  };
  let p = await render();
  if (!FINISHED_STATUSES.has(p.status) && p.status !== 'manual') {
    await api.sse(`/api/v1/pipelines/${id}/events`, () => {
      void render();
    });
    p = await render();
  }
  if (process.stdout.isTTY) process.stdout.write('\n');
  printPipeline(p);
  return p.status;
}

/** `--variable KEY=VALUE` options as an object. */
export function variablesOf(options: readonly string[]): Record<string, string> {
  return Object.fromEntries(
    options.map((kv) => {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new CliError(`--variable ${kv}: expected KEY=VALUE`);
      return [kv.slice(0, eq), kv.slice(eq + 1)];
    }),
  );
}

export async function runTrigger(
  repo: string,
  opts: ApiOptions & { ref?: string; sha?: string; variable?: string[]; follow?: boolean; json?: boolean },
) {
  const api = ApiClient.fromOptions(opts);
  const variables = variablesOf(opts.variable ?? []);
  const created = await api.json<{ id: number; status: string }>('POST', `/api/v1/repos/${encodeURIComponent(repo)}/pipelines`, {
    ref: opts.ref,
    sha: opts.sha,
    variables,
  });
  if (opts.json && !opts.follow) return printJson(created);
  console.log(`Pipeline #${created.id} created`);
  if (opts.follow) {
    const status = await followPipeline(api, created.id);
    if (status !== 'success') process.exitCode = 1;
  }
}

export async function runLogs(jobId: string, opts: ApiOptions & { follow?: boolean }) {
  const api = ApiClient.fromOptions(opts);
  const id = Number(jobId);
  if (!opts.follow) {
    const text = await (await api.raw('GET', `/api/v1/jobs/${id}/log`)).text();
    process.stdout.write(text);
    if (text === '') await explainEmptyLog(api, id);
    return;
  }
  let status = 'unknown';
  let wrote = false;
  await api.sse(`/api/v1/jobs/${id}/log/stream`, (event, data) => {
    if (event === 'log') {
      const text = JSON.parse(data) as string;
      process.stdout.write(text);
      wrote ||= text !== '';
    }
    if (event === 'end') status = (JSON.parse(data) as { status: string }).status;
  });
  if (!wrote) await explainEmptyLog(api, id);
  if (status !== 'success') process.exitCode = 1;
}

export async function runAction(
  action: 'cancel' | 'retry' | 'play',
  id: string,
  opts: ApiOptions & { json?: boolean; pipeline?: boolean; comment?: string },
) {
  const api = ApiClient.fromOptions(opts);
  if (opts.pipeline && action !== 'play') {
    const p = await api.json<PipelineJson>('POST', `/api/v1/pipelines/${Number(id)}/${action}`);
    if (opts.json) printJson(p);
    else printPipeline(p);
    return;
  }
  // A play's comment (an approver's note) is kept with the job and shown on the release timeline.
  const body = action === 'play' && opts.comment ? { comment: opts.comment } : undefined;
  const result = await api.json<{ id: number; name?: string; status: string }>('POST', `/api/v1/jobs/${Number(id)}/${action}`, body);
  if (opts.json) printJson(result);
  else console.log(`Job #${result.id}${result.name ? ` (${result.name})` : ''}: ${colourStatus(result.status)}`);
}

export async function artifactGet(jobId: string, path: string | undefined, opts: ApiOptions & { output?: string }) {
  const api = ApiClient.fromOptions(opts);
  const url = path
    ? `/api/v1/jobs/${Number(jobId)}/artifacts/${path.split('/').map(encodeURIComponent).join('/')}`
    : `/api/v1/jobs/${Number(jobId)}/artifacts`;
  const res = await api.raw('GET', url);
  const target = opts.output ?? (path ? path.split('/').pop()! : `job-${jobId}-artifacts.tar.gz`);
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream);
  await pipeline(body, target === '-' ? process.stdout : createWriteStream(target));
  if (target !== '-') console.error(`Saved ${target}`);
}

export async function agentTags(id: string, tags: string, opts: ApiOptions & { json?: boolean }) {
  const list = tags
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  const result = await ApiClient.fromOptions(opts).json<{ id: number; tags: string[] }>('PATCH', `/api/v1/agents/${Number(id)}`, {
    tags: list,
  });
  if (opts.json) printJson(result);
  else console.log(`Agent #${result.id}: tags ${result.tags.join(', ') || '(none)'}`);
}

export async function agentList(opts: Listing) {
  const agents = await ApiClient.fromOptions(opts).json<Record<string, unknown>[]>('GET', '/api/v1/agents');
  if (opts.json) printJson(agents);
  else printTable(agents, ['id', 'name', 'online', 'runningJobs', 'tags', 'lastSeenAt']);
}
