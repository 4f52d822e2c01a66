// `tandem exec --from-job <id>`: a job of a server, run again on this machine. The server says what
// the job had (GET /api/v1/jobs/:id/reproduce); the commit is fetched here with the user's own git
// access into a checkout of its own, and the artifacts of its dependencies are downloaded, each
// checked by digest. Secrets never come: the server names them, and --variable supplies them.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import { promisify } from 'node:util';
import type { JobReproductionJson, JobVariable } from '../api/index.js';
import type { Reproduction } from '../exec/index.js';
import { ApiClient, CliError, type ApiOptions } from './api-client.js';

const run = promisify(execFile);

export interface FromJobFlags extends ApiOptions {
  /** Where the commit is checked out (default ./tandem-job-<id>). */
  dir?: string;
  /** Clone from here instead of the URL the server fetches from (a mirror path on its host, say). */
  repoUrl?: string;
}

export interface PreparedJob {
  file: string;
  job: string;
  reproduce: Reproduction;
  /** Withheld secrets the user did not supply. */
  missing: JobReproductionJson['withheld'];
}

async function git(cwd: string, ...args: string[]): Promise<void> {
  try {
    await run('git', args, { cwd, maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new CliError(`git ${args.join(' ')}: ${stderr || (err as Error).message}`);
  }
}

/** The commit, fetched by id, else with its ref (a server that refuses to serve a bare commit id). */
async function checkout(dir: string, url: string, found: JobReproductionJson['pipeline']): Promise<void> {
  await mkdir(dir, { recursive: true });
  if (!existsSync(join(dir, '.git'))) await git(dir, 'init', '--quiet');
  try {
    await git(dir, 'fetch', '--quiet', url, found.sha);
  } catch {
    const ref = found.tag ? `refs/tags/${found.ref}` : `refs/heads/${found.ref}`;
    await git(dir, 'fetch', '--quiet', url, ref);
  }
  await git(dir, 'checkout', '--quiet', '--force', '--detach', found.sha);
  // A checkout reused from an earlier run: exactly the commit again, but exec's own state (its blobs).
  await git(dir, 'clean', '--quiet', '-fdx', '-e', '.tandem-exec');
}

/**
 * Asks the server for the job, checks its commit out and says how to run it. `userVariables`
 * (--variable) fill in withheld secrets, masked in the output as on the server.
 */
export async function prepareFromJob(id: string, flags: FromJobFlags, userVariables: Record<string, string>): Promise<PreparedJob> {
  const jobId = Number(id);
  if (!Number.isSafeInteger(jobId) || jobId <= 0) throw new CliError(`--from-job ${id}: expected a job id`);
  const api = ApiClient.fromOptions(flags);
  const found = await api.json<JobReproductionJson>('GET', `/api/v1/jobs/${jobId}/reproduce`);
  const dir = resolve(flags.dir ?? `tandem-job-${jobId}`);
  await checkout(dir, flags.repoUrl ?? found.repo.url, found.pipeline);
  const file = join(dir, found.pipeline.configPath);
  if (!existsSync(file)) throw new CliError(`${found.pipeline.configPath}: not in commit ${found.pipeline.sha}`);
  const supplied: JobVariable[] = found.withheld
    .filter((w) => userVariables[w.key] !== undefined)
    .map((w) => ({ key: w.key, value: userVariables[w.key], masked: w.reason === 'masked', file: false }));
  return {
    file,
    job: found.job.name,
    missing: found.withheld.filter((w) => userVariables[w.key] === undefined),
    reproduce: {
      predefined: found.predefined,
      pipelineVariables: Object.fromEntries(found.variables.filter((v) => v.source === 'pipeline').map((v) => [v.key, v.value])),
      variables: [...found.variables.map(({ key, value, masked, file }) => ({ key, value, masked, file })), ...supplied],
      dependencies: found.dependencies,
      async download(dependency, entry) {
        const path = entry.path.split('/').map(encodeURIComponent).join('/');
        const res = await api.raw('GET', `/api/v1/jobs/${dependency.jobId}/artifacts/${path}`);
        if (!res.body) throw new CliError(`artifact ${entry.path} of job ${dependency.jobId}: empty answer`);
        return Readable.fromWeb(res.body as ReadableStream);
      },
    },
  };
}
