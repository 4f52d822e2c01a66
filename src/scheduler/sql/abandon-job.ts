// An agent hands back a job it can no longer run: a restarted agent finds, in what its previous
// process left on disk, the claims that process held. Its job ended with it, so the attempt ends
// now as a lost agent's does, instead of when the lease runs out (the restarted agent heartbeats
// nothing for it, but its new presence stream would hide the old one's break).
import type { Store } from '../../store/index.js';
import { advanceInTransaction } from '../advance.js';
import { ChangeLog, type StatusChange } from '../events.js';
import { finishLostJob } from './finish-job.js';
import { loadHeldJob, type Claim } from './load-job.js';
import { DEFAULT_MAX_SYSTEM_ATTEMPTS } from './reap-expired-leases.js';

export interface AbandonInput extends Claim {
  now: number;
  maxSystemAttempts?: number;
}

export async function abandonJob(
  store: Store,
  input: AbandonInput,
): Promise<{ status: 'failed' | 'canceled'; retryJobId: number | null; changes: StatusChange[] }> {
  return store.transaction(async (trx) => {
    const changes = new ChangeLog();
    const job = await loadHeldJob(trx, input);
    const lost = await finishLostJob(trx, job, input.now, input.maxSystemAttempts ?? DEFAULT_MAX_SYSTEM_ATTEMPTS, changes);
    await advanceInTransaction(trx, job.pipeline_id, input.now, changes);
    return { ...lost, changes: await changes.commit(trx, input.now) };
  });
}
