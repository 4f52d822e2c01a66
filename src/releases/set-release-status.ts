// A release moves on: deploying → verifying (→ paused) → live | failed | rolled_back. Going live
// supersedes the environment's earlier live release. A release rolled back after a failed
// verification is recorded with the rollback as a release of its own (the previous files live
// again), so the history shows what served when.
import { forUpdate, type Store } from '../store/index.js';
import type { Release, ReleaseStatus } from '../store/index.js';
import { recordHostReleases, type HostRelease } from './host-releases.js';
import { restoredContent } from './releases.js';
import { ReleaseError } from './start-release.js';

const OPEN: readonly ReleaseStatus[] = ['queued', 'deploying', 'verifying', 'paused'];
export type ReleaseUpdate = 'deploying' | 'verifying' | 'paused' | 'live' | 'failed' | 'rolled_back';

export interface SetReleaseStatusInput {
  releaseId: number;
  status: ReleaseUpdate;
  reason: string | null;
  /** For rolled_back: the release whose files serve again. */
  restoredReleaseId?: number | null;
  /** What hosts run now, recorded even when the status repeats (each batch of a rollout reports `deploying`). */
  hosts?: readonly HostRelease[];
  now: number;
}

export interface SetReleaseStatusResult {
  release: Release;
  /** The release recording an automatic rollback. */
  rollback: Release | null;
  /** False when the release had this status already (an agent's retried report). */
  changed: boolean;
}

export async function setReleaseStatus(store: Store, input: SetReleaseStatusInput): Promise<SetReleaseStatusResult> {
  return store.transaction(async (trx) => {
    const current = await forUpdate(trx, trx.selectFrom('releases').selectAll().where('id', '=', input.releaseId)).executeTakeFirst();
    if (!current) throw new ReleaseError('not_found', `no release ${input.releaseId}`);
    // The environment row serializes status changes of its releases (see start-release).
    await forUpdate(trx, trx.selectFrom('environments').select('id').where('id', '=', current.environment_id)).executeTakeFirst();
    await recordHostReleases(trx, { environmentId: current.environment_id, hosts: input.hosts ?? [], now: input.now });
    if (current.status === input.status) return { release: current, rollback: null, changed: false };
    if (!OPEN.includes(current.status))
      throw new ReleaseError('conflict', `release ${current.id} is ${current.status} already; it cannot become ${input.status}`);
    const final = input.status === 'live' || input.status === 'failed' || input.status === 'rolled_back';
    const set = {
      status: input.status,
      status_reason: input.reason,
      finished_at: final ? input.now : null,
      decision: input.status === 'paused' ? null : current.decision,
    };
    let rollback: Release | null = null;
    if (input.status === 'live') {
      await trx
        .updateTable('releases')
        .set({ status: 'superseded' })
        .where('environment_id', '=', current.environment_id)
        .where('status', '=', 'live')
        .where('id', '!=', current.id)
        .execute();
    }
    if (input.status === 'rolled_back' && input.restoredReleaseId) {
      const restored = await trx
        .selectFrom('releases')
        .selectAll()
        .where('id', '=', input.restoredReleaseId)
        .where('environment_id', '=', current.environment_id)
        .executeTakeFirst();
      if (!restored) throw new ReleaseError('not_found', `release ${input.restoredReleaseId} is not a release of this environment`);
      await trx
        .updateTable('releases')
        .set({ status: 'superseded' })
        .where('environment_id', '=', current.environment_id)
        .where('status', '=', 'live')
        .execute();
      rollback = await trx
        .insertInto('releases')
        .values({
          environment_id: current.environment_id,
          repo_id: current.repo_id,
          pipeline_id: current.pipeline_id,
          job_id: null,
          kind: 'rollback',
          ...restoredContent(restored),
          fencing_token: current.fencing_token,
          status: 'live',
          status_reason: `automatic rollback of release #${current.id}: ${input.reason ?? 'verification failed'}`,
          decision: null,
          created_by: `automatic rollback of release #${current.id}`,
          created_at: input.now,
          finished_at: input.now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
    }
    await trx.updateTable('releases').set(set).where('id', '=', current.id).execute();
    return { release: { ...current, ...set }, rollback, changed: true };
  });
}
