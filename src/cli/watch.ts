// `tandem run watch <repo>`: follow the pipeline a push starts. It waits for the next pipeline of
// the repository (and ref) created after the command started, or the one of a commit (--sha), then
// prints its job status changes from the pipeline's event stream until it ends.
import { setTimeout as sleep } from 'node:timers/promises';
import { FINISHED_STATUSES, type PipelineJson, type PipelineSummaryJson } from '../api/index.js';
import { ApiClient, CliError, type ApiOptions } from './api-client.js';
import { colourStatus } from './output.js';

export interface WatchFlags extends ApiOptions {
  ref?: string;
  sha?: string;
  /** Seconds for the whole wait (finding the pipeline and its run). */
  timeout?: string;
  json?: boolean;
}

/** Exit codes: the pipeline succeeded, ended otherwise, or the time ran out first. */
export const WATCH_EXIT = { success: 0, failed: 1, timeout: 2 } as const;

const DEFAULT_TIMEOUT_SECONDS = 3600;
/** Pipelines are looked for by listing: a webhook or a poll makes them within seconds of a push. */
const LIST_EVERY_MS = 1000;
const LIST_LIMIT = 20;

/** One line of `--json`: what happened, in the order it happened. */
type WatchEvent =
  | { type: 'waiting'; repo: string; ref: string | null; sha: string | null }
  | { type: 'pipeline'; pipelineId: number; ref: string; sha: string; status: string }
  | { type: 'job'; pipelineId: number; jobId: number; name: string; stage: string; status: string }
  | { type: 'timeout'; pipelineId: number | null };

class TimedOut extends Error {}

export async function runWatch(repo: string, flags: WatchFlags): Promise<void> {
  const api = ApiClient.fromOptions(flags);
  const seconds = flags.timeout === undefined ? DEFAULT_TIMEOUT_SECONDS : Number(flags.timeout);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new CliError(`--timeout ${flags.timeout}: expected a positive number of seconds`);
  if (flags.sha !== undefined && !/^[0-9a-f]{4,40}$/i.test(flags.sha)) throw new CliError(`--sha ${flags.sha}: expected a commit id (hex)`);
  const deadline = AbortSignal.timeout(seconds * 1000);
  const emit = (event: WatchEvent, text: string) => {
    if (flags.json) console.log(JSON.stringify(event));
    else console.log(text);
  };
  let pipelineId: number | null = null;
  try {
    const found = await findPipeline(api, repo, flags, deadline, emit);
    pipelineId = found.id;
    const status = await followEvents(api, found, deadline, emit);
    process.exitCode = status === 'success' ? WATCH_EXIT.success : WATCH_EXIT.failed;
  } catch (err) {
    if (!(err instanceof TimedOut) && !deadline.aborted) throw err;
    emit({ type: 'timeout', pipelineId }, `Timed out after ${seconds} s${pipelineId === null ? ' waiting for a pipeline' : ''}`);
    process.exitCode = WATCH_EXIT.timeout;
  }
}

/** The pipeline to follow: of --sha whenever it was made, else the first one newer than the start. */
async function findPipeline(
  api: ApiClient,
  repo: string,
  flags: WatchFlags,
  deadline: AbortSignal,
  emit: (event: WatchEvent, text: string) => void,
): Promise<PipelineSummaryJson> {
  const list = () => api.json<PipelineSummaryJson[]>('GET', `/api/v1/repos/${encodeURIComponent(repo)}/pipelines?limit=${LIST_LIMIT}`);
  const sha = flags.sha?.toLowerCase();
  const matches = (p: PipelineSummaryJson) =>
    (flags.ref === undefined || p.ref === flags.ref) && (sha === undefined || p.sha.startsWith(sha));
  // Ids only grow: "after the command started" is "newer than the newest one now", whatever the clocks say.
  const newestAtStart = sha === undefined ? Math.max(0, ...(await list()).map((p) => p.id)) : 0;
  emit(
    { type: 'waiting', repo, ref: flags.ref ?? null, sha: sha ?? null },
    `Waiting for ${sha ? `the pipeline of ${sha}` : 'the next pipeline'} of ${repo}${flags.ref ? ` on ${flags.ref}` : ''}...`,
  );
  for (;;) {
    // Oldest first: with several new pipelines, the first one made is the one the push started.
    const found = (await list())
      .filter((p) => p.id > newestAtStart && matches(p))
      .sort((a, b) => (sha === undefined ? a.id - b.id : b.id - a.id))[0];
    if (found) return found;
    await sleep(LIST_EVERY_MS, undefined, { signal: deadline });
  }
}

/** Prints each job's status as it changes; resolves to the pipeline's final status. */
async function followEvents(
  api: ApiClient,
  found: PipelineSummaryJson,
  deadline: AbortSignal,
  emit: (event: WatchEvent, text: string) => void,
): Promise<string> {
  const jobs = new Map<number, { name: string; stage: string; status: string }>();
  let status: string = found.status;
  emit(
    { type: 'pipeline', pipelineId: found.id, ref: found.ref, sha: found.sha, status },
    `Pipeline #${found.id} ${colourStatus(status)}  ${found.repo} ${found.ref} ${found.sha.slice(0, 8)}`,
  );
  const showJob = (id: number, next: string) => {
    const job = jobs.get(id);
    if (!job || job.status === next) return;
    job.status = next;
    emit(
      { type: 'job', pipelineId: found.id, jobId: id, name: job.name, stage: job.stage, status: next },
      `  ${job.stage} ${job.name} (#${id}): ${colourStatus(next)}`,
    );
  };
  const learn = (p: PipelineJson) => {
    for (const j of p.jobs.filter((j) => !j.retried)) {
      if (!jobs.has(j.id)) jobs.set(j.id, { name: j.name, stage: j.stage, status: '' });
      showJob(j.id, j.status);
    }
  };
  const setStatus = (next: string) => {
    if (next === status) return;
    status = next;
    emit(
      { type: 'pipeline', pipelineId: found.id, ref: found.ref, sha: found.sha, status },
      `Pipeline #${found.id} ${colourStatus(status)}`,
    );
  };
  // A job the snapshot did not list (a retry's new attempt) is read with the pipeline again.
  let reading: Promise<void> = Promise.resolve();
  const reread = () => {
    reading = reading.then(async () => learn(await api.json<PipelineJson>('GET', `/api/v1/pipelines/${found.id}`)));
  };
  const onEvent = (event: string, data: string) => {
    const body = JSON.parse(data) as { jobId?: number; status?: string };
    if (event === 'snapshot') {
      const p = body as unknown as PipelineJson;
      learn(p);
      setStatus(p.status);
    } else if (event === 'job' && body.jobId !== undefined && body.status !== undefined) {
      if (jobs.has(body.jobId)) showJob(body.jobId, body.status);
      else reread();
    } else if (event === 'pipeline' && body.status !== undefined) setStatus(body.status);
  };
  // The server ends the stream when the pipeline ends; a stream cut before (a replica draining) is
  // opened again, and its snapshot makes good what was missed.
  do {
    await api.sse(`/api/v1/pipelines/${found.id}/events`, onEvent, deadline);
    await reading;
    if (deadline.aborted) throw new TimedOut();
    if (!FINISHED_STATUSES.has(status)) await sleep(LIST_EVERY_MS, undefined, { signal: deadline });
  } while (!FINISHED_STATUSES.has(status));
  return status;
}
