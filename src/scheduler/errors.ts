import { DomainError } from '../errors.js';

/** A refused scheduler operation. */
export class SchedulerError extends DomainError {
  override name = 'SchedulerError';
}

/** The delivery that would start the pipeline was recorded already: another replica (or an earlier try) built it. */
export class DuplicateDeliveryError extends SchedulerError {
  override name = 'DuplicateDeliveryError';
  constructor(
    readonly provider: string,
    readonly deliveryId: string,
  ) {
    super('conflict', `${provider} delivery ${deliveryId} was already received`);
  }
}

/**
 * The caller does not hold the job's claim: its fencing token is no longer the job's (the lease
 * expired and the job was requeued, or the job finished), or the job was handed to another agent.
 * The write is refused so a partitioned agent, or another agent's token, cannot change the outcome.
 * The message names no token and no agent.
 */
export class StaleTokenError extends SchedulerError {
  override name = 'StaleTokenError';
  constructor(jobId: number, reason: string) {
    super('conflict', `job ${jobId}: not held by this agent under this claim (${reason})`);
  }
}

/**
 * The artifacts a job needs from elsewhere can not be given to it (`needs:project`: no successful
 * job, or a repository it may not read). GitLab fails such a job when it starts; so does Tandem,
 * with this message in its log.
 */
export class DependencyUnavailableError extends SchedulerError {
  override name = 'DependencyUnavailableError';
  constructor(message: string) {
    super('invalid', message);
  }
}
