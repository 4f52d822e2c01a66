import type { Kysely } from 'kysely';
import type { Database, Job } from '../../store/schema.js';
import { SchedulerError } from '../errors.js';
import { forUpdate } from './row-lock.js';

/** Loads the job to check and change it: locked until commit on PostgreSQL (see row-lock.ts). */
export async function loadJob(trx: Kysely<Database>, jobId: number): Promise<Job> {
  const job = await forUpdate(trx, trx.selectFrom('jobs').selectAll().where('id', '=', jobId)).executeTakeFirst();
  if (!job) throw new SchedulerError(404, `job ${jobId} not found`);
  return job;
}

/** Why a token other than the job's current one is refused, for the StaleTokenError message. */
export function staleReason(job: Job): string {
  return job.status === 'running' ? `the job is now held by token ${job.fencing_token}` : `the job is ${job.status}${job.retried ? ' and was retried' : ''}`;
}
