import type { Kysely } from 'kysely';
import type { Database, Job } from '../../store/schema.js';
import { SchedulerError } from '../errors.js';

export async function loadJob(trx: Kysely<Database>, jobId: number): Promise<Job> {
  const job = await trx.selectFrom('jobs').selectAll().where('id', '=', jobId).executeTakeFirst();
  if (!job) throw new SchedulerError(404, `job ${jobId} not found`);
  return job;
}
