// Leader election for singleton duties (polling, lease reaping, timeouts, retention): the replica
// holding the `leader` lease row runs them. Taking the row over bumps its epoch, so a replica that
// was paused past its lease learns from its next renewal that it lost it. Each attempt is one
// conditional statement, atomic on SQLite and PostgreSQL alike: no home-made consensus.
import type { Store } from '../store/index.js';

const LEADER = 'leader';
/** Renewals come every second; a gap below this is a busy event loop, not an outage. */
const MIN_OUTAGE_MS = 3000;

export interface Leadership {
  leader: boolean;
  epoch: number;
  /** When this replica became leader (epoch ms), for the takeover grace period. */
  since: number | null;
  /** When the lease was last renewed. */
  renewedAt: number | null;
}

/** Takes or renews the leader lease; returns whether this replica leads now. */
export async function claimLeadership(store: Store, holder: string, ttlMs: number, now: number, current: Leadership): Promise<Leadership> {
  const expiresAt = now + ttlMs;
  // Renew our own row, or take over one that expired (a new epoch).
  const renewed = await store.db
    .updateTable('leases')
    .set((eb) => ({
      holder,
      epoch: eb
        .case()
        .when('holder', '=', holder)
        .then(eb.ref('epoch'))
        .else(eb(eb.ref('epoch'), '+', 1))
        .end(),
      expires_at: expiresAt,
    }))
    .where('name', '=', LEADER)
    .where((eb) => eb.or([eb('holder', '=', holder), eb('expires_at', '<', now)]))
    .returning('epoch')
    .executeTakeFirst();
  const row =
    renewed ??
    (await store.db
      .insertInto('leases')
      .values({ name: LEADER, holder, epoch: 1, expires_at: expiresAt })
      .onConflict((oc) => oc.column('name').doNothing())
      .returning('epoch')
      .executeTakeFirst());
  if (!row) return { leader: false, epoch: current.epoch, since: null, renewedAt: null };
  // A renewal after a long gap (the database was out of reach) starts the grace again: agents could
  // not heartbeat either, and their leases ran out through no fault of theirs.
  const unbroken =
    current.leader &&
    current.epoch === row.epoch &&
    current.renewedAt !== null &&
    now - current.renewedAt < Math.max(ttlMs / 2, MIN_OUTAGE_MS);
  return { leader: true, epoch: row.epoch, since: unbroken ? current.since : now, renewedAt: now };
}

/**
 * Gives the lease up (on shutdown) so another replica takes over at once instead of after it
 * expires. The row is expired, not deleted, so the next leader's epoch is still higher.
 */
export async function releaseLeadership(store: Store, holder: string, epoch: number): Promise<void> {
  await store.db
    .updateTable('leases')
    .set({ expires_at: 0 })
    .where('name', '=', LEADER)
    .where('holder', '=', holder)
    .where('epoch', '=', epoch)
    .execute();
}
