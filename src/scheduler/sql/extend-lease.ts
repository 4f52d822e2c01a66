// The agent's heartbeat: extends the lease of a running job it still owns, and tells it whether
// someone asked to cancel the job.
import type { Store } from '../../store/index.js';
import { SchedulerError } from '../errors.js';
import { loadHeldJob, type Claim } from './load-job.js';

export interface ExtendLeaseInput extends Claim {
  leaseMs: number;
  now: number;
}

export async function extendLease(store: Store, input: ExtendLeaseInput): Promise<{ cancelRequested: boolean; leaseExpiresAt: number }> {
  if (!(input.leaseMs > 0)) throw new SchedulerError('invalid', `heartbeat: leaseMs must be positive, got ${input.leaseMs}`);
  return store.transaction(async (trx) => {
    const job = await loadHeldJob(trx, input);
    const leaseExpiresAt = input.now + input.leaseMs;
    await trx
      .updateTable('jobs')
      .set({ lease_expires_at: leaseExpiresAt })
      .where('id', '=', job.id)
      .where('status', '=', 'running')
      .where('fencing_token', '=', input.fencingToken)
      .execute();
    return { cancelRequested: job.cancel_requested === 1, leaseExpiresAt };
  });
}
