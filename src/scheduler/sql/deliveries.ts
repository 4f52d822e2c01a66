// Webhook deliveries, recorded under their unique key (provider, repository, delivery id): a replay,
// or the same delivery reaching a second replica, finds the first one and starts nothing.
import type { Kysely } from 'kysely';
import type { Database } from '../../store/index.js';

export interface Delivery {
  provider: string;
  deliveryId: string;
  kind: string;
  ref: string;
  sha: string;
  beforeSha: string | null;
  /** A digest of the body: a forge that re-sends a delivery under a new id is still recognised. */
  payloadDigest?: string;
}

/** Records a delivery and the pipeline it started (null: its rules started none). False when it was recorded already. */
export async function recordDelivery(
  db: Kysely<Database>,
  input: { repoId: number; delivery: Delivery; pipelineId: number | null; now: number },
): Promise<boolean> {
  const d = input.delivery;
  const recorded = await db
    .insertInto('events')
    .values({
      repo_id: input.repoId,
      provider: d.provider,
      delivery_id: d.deliveryId,
      kind: d.kind,
      ref: d.ref,
      sha: d.sha,
      before_sha: d.beforeSha,
      received_at: input.now,
      pipeline_id: input.pipelineId,
      payload_digest: d.payloadDigest ?? null,
    })
    .onConflict((oc) => oc.columns(['provider', 'repo_id', 'delivery_id']).doNothing())
    .returning('id')
    .executeTakeFirst();
  return recorded !== undefined;
}

/**
 * The delivery recorded before under the same id, or with the same body digest since `since`
 * (the replay window), with the pipeline it started; undefined when there is none.
 */
export async function earlierDelivery(
  db: Kysely<Database>,
  input: { repoId: number; delivery: Pick<Delivery, 'provider' | 'deliveryId' | 'payloadDigest'>; since: number },
): Promise<{ pipeline_id: number | null } | undefined> {
  const { provider, deliveryId, payloadDigest } = input.delivery;
  return db
    .selectFrom('events')
    .select('pipeline_id')
    .where('provider', '=', provider)
    .where('repo_id', '=', input.repoId)
    .where((eb) => {
      const sameId = eb('delivery_id', '=', deliveryId);
      return payloadDigest === undefined
        ? sameId
        : eb.or([sameId, eb.and([eb('payload_digest', '=', payloadDigest), eb('received_at', '>', input.since)])]);
    })
    .executeTakeFirst();
}
