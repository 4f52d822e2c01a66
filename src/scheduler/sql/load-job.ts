import type { Kysely } from 'kysely';
import type { Database, Job } from '../../store/index.js';
import { SchedulerError, StaleTokenError } from '../errors.js';
import { forUpdate } from '../../store/index.js';

/** Loads the job to check and change it: locked until commit on PostgreSQL (see store/row-lock.ts). */
export async function loadJob(trx: Kysely<Database>, jobId: number): Promise<Job> {
  const job = await forUpdate(trx, trx.selectFrom('jobs').selectAll().where('id', '=', jobId)).executeTakeFirst();
  if (!job) throw new SchedulerError('not_found', `job ${jobId} not found`);
  return job;
}

/** What an agent writes with: the job it was handed, its own id, and the fencing token of that hand-out. */
export interface Claim {
  jobId: number;
  agentId: number;
  fencingToken: number;
}

/** The job runs under exactly this claim: this agent, this token. */
export function holds(job: Job, claim: Claim): boolean {
  return job.status === 'running' && job.fencing_token === claim.fencingToken && job.agent_id === claim.agentId;
}

/** This agent completed the job with this token (it may repeat the completion or flush its last log chunks). */
export function completedBy(job: Job, claim: Claim): boolean {
  return job.completed_token === claim.fencingToken && job.agent_id === claim.agentId;
}

/**
 * The refusal of a claim the job is not under. It names neither the current token nor the agent
 * holding the job: an agent learns only that the job is not its own (any more).
 */
export function claimRefused(job: Job): StaleTokenError {
  const reason =
    job.status === 'running' ? 'it runs under another claim' : `the job is ${job.status}${job.retried ? ' and was retried' : ''}`;
  return new StaleTokenError(job.id, reason);
}

/** The job, locked, when it runs under the claim; refused (409) otherwise. */
export async function loadHeldJob(trx: Kysely<Database>, claim: Claim): Promise<Job> {
  const job = await loadJob(trx, claim.jobId);
  if (!holds(job, claim)) throw claimRefused(job);
  return job;
}

/**
 * The job when it runs under the claim, read without a lock: for writes that go to other tables
 * (artifacts, caches, releases), checked again by their own operation where it matters.
 */
export async function heldJob(db: Kysely<Database>, claim: Claim): Promise<Job> {
  const job = await db.selectFrom('jobs').selectAll().where('id', '=', claim.jobId).executeTakeFirst();
  if (!job) throw new SchedulerError('not_found', `job ${claim.jobId} not found`);
  if (!holds(job, claim)) throw claimRefused(job);
  return job;
}

/**
 * The job when this claim may still write what belongs to its attempt, read without a lock:
 * `completed` when this very claim already completed it (the agent repeats a request whose answer
 * it lost), otherwise it must run under the claim; refused (409) when neither.
 */
export async function claimedJob(db: Kysely<Database>, claim: Claim): Promise<{ job: Job; completed: boolean }> {
  const job = await db.selectFrom('jobs').selectAll().where('id', '=', claim.jobId).executeTakeFirst();
  if (!job) throw new SchedulerError('not_found', `job ${claim.jobId} not found`);
  if (completedBy(job, claim)) return { job, completed: true };
  if (!holds(job, claim)) throw claimRefused(job);
  return { job, completed: false };
}
