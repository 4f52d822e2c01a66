// Why a job has no log: `tandem run logs` on a job that was skipped, canceled before it ran, or has
// not started says so instead of printing nothing.
import type { JobJson, PipelineJson } from '../api/index.js';
import type { ApiClient } from './api-client.js';

/** The reason in words, from the job and its pipeline's other jobs (latest attempts). */
export function whyNoLog(job: JobJson, pipeline: Pick<PipelineJson, 'stages' | 'jobs'>): string {
  const name = `job \`${job.name}\``;
  const latest = pipeline.jobs.filter((j) => !j.retried && j.id !== job.id);
  const list = (jobs: JobJson[]) => jobs.map((j) => `\`${j.name}\` ${j.status}`).join(', ');
  switch (job.status) {
    case 'skipped': {
      if (job.when === 'on_failure') return `${name} was skipped: it runs only when an earlier job fails (when: on_failure), and none did`;
      if (job.needs !== null) {
        const blocking = latest.filter(
          (j) => job.needs!.includes(j.name) && ['failed', 'canceled', 'skipped'].includes(j.status) && !j.allowFailure,
        );
        if (blocking.length > 0) return `${name} was skipped: a job it needs did not succeed (${list(blocking)})`;
      }
      const stage = pipeline.stages.indexOf(job.stage);
      const earlier = latest.filter(
        (j) => pipeline.stages.indexOf(j.stage) < stage && (j.status === 'failed' || j.status === 'canceled') && !j.allowFailure,
      );
      if (earlier.length > 0) return `${name} was skipped: an earlier stage failed (${list(earlier)})`;
      return `${name} was skipped: an earlier job did not succeed`;
    }
    case 'canceled':
      return job.startedAt === null ? `${name} was canceled before it started` : `${name} was canceled before it wrote any output`;
    case 'created':
      return `${name} has not started: it waits for ${job.needs === null ? 'the earlier stages' : `the jobs it needs (${job.needs.join(', ')})`}`;
    case 'pending':
      return `${name} is queued and waits for an agent${job.tags.length > 0 ? ` with the tags ${job.tags.join(', ')}` : ''} (tandem agents list)`;
    case 'manual':
      return `${name} is a manual job that nobody started: tandem run play ${job.id}`;
    case 'scheduled':
      return `${name} is delayed (when: delayed)${job.scheduledAt ? ` until ${job.scheduledAt}` : ''}`;
    case 'running':
      return `${name} is running and has written nothing yet: tandem run logs ${job.id} --follow`;
    default:
      return `${name} ${job.status} without writing a log${job.failureReason ? ` (${job.failureReason})` : ''}`;
  }
}

/** Tells on stderr why the job's log is empty (stdout stays the log itself: empty). */
export async function explainEmptyLog(api: ApiClient, jobId: number): Promise<void> {
  const job = await api.json<JobJson>('GET', `/api/v1/jobs/${jobId}`);
  const pipeline = await api.json<PipelineJson>('GET', `/api/v1/pipelines/${job.pipelineId}`);
  console.error(whyNoLog(job, pipeline));
}
