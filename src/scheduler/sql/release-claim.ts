// Gives back a claim whose job never reached its agent: building the hand-out failed (the database
// went away between the claim and the payload), or the agent hung up while its job was claimed for
// it. The job was not started anywhere, so it is pending again at once, under no token, instead of
// waiting out its lease and then counting as a lost agent's attempt. The fencing token it had is
// not reused: should the hand-out reach the agent after all, its writes are refused (409).
import type { Store } from '../../store/index.js';
import { ChangeLog, type StatusChange } from '../events.js';
import { holds, loadJob, type Claim } from './load-job.js';

export async function releaseClaim(store: Store, input: Claim & { now: number }): Promise<{ released: boolean; changes: StatusChange[] }> {
  return store.transaction(async (trx) => {
    const job = await loadJob(trx, input.jobId);
    if (!holds(job, input)) return { released: false, changes: [] };
    await trx
      .updateTable('jobs')
      .set({ status: 'pending', agent_id: null, fencing_token: null, started_at: null, lease_expires_at: null, deadline_at: null })
      .where('id', '=', job.id)
      .execute();
    const changes = new ChangeLog();
    changes.job(job, 'pending');
    return { released: true, changes: await changes.commit(trx, input.now) };
  });
}
