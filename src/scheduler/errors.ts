/** A refused scheduler operation; `httpStatus` is what the API should answer. */
export class SchedulerError extends Error {
  override name = 'SchedulerError';
  constructor(
    readonly httpStatus: 404 | 409 | 422,
    message: string,
  ) {
    super(message);
  }
}

/** The delivery that would start the pipeline was recorded already: another replica (or an earlier try) built it. */
export class DuplicateDeliveryError extends SchedulerError {
  override name = 'DuplicateDeliveryError';
  constructor(
    readonly provider: string,
    readonly deliveryId: string,
  ) {
    super(409, `${provider} delivery ${deliveryId} was already received`);
  }
}

/**
 * The caller's fencing token is no longer the job's (the lease expired and the job was requeued,
 * or the job finished): the write is refused so a partitioned agent cannot change the outcome.
 */
export class StaleTokenError extends SchedulerError {
  override name = 'StaleTokenError';
  constructor(jobId: number, token: number, reason: string) {
    super(409, `job ${jobId}: fencing token ${token} is stale (${reason})`);
  }
}
