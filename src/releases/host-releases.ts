// Which release each host of an environment runs, as the deploying agents report it: one row per
// host, replaced by each report (migration 039). Reports come with release status changes, under
// the environment's lock (set-release-status.ts).
import type { Kysely } from 'kysely';
import type { Database } from '../store/index.js';
import { ReleaseError } from './start-release.js';

/** A host and the release it runs now. */
export interface HostRelease {
  host: string;
  releaseId: number;
}

/** A host's row with its release's version and image, for the environment's page. */
export interface HostReleaseRow extends HostRelease {
  version: string;
  image: string | null;
  updatedAt: number;
}

/**
 * Records what `hosts` run now. Each release must be one of the environment's: an agent may
 * not point a host at another environment's release.
 */
export async function recordHostReleases(
  trx: Kysely<Database>,
  input: { environmentId: number; hosts: readonly HostRelease[]; now: number },
): Promise<void> {
  if (input.hosts.length === 0) return;
  const ids = [...new Set(input.hosts.map((h) => h.releaseId))];
  const known = await trx
    .selectFrom('releases')
    .select('id')
    .where('environment_id', '=', input.environmentId)
    .where('id', 'in', ids)
    .execute();
  const missing = ids.filter((id) => !known.some((k) => k.id === id));
  if (missing.length > 0) throw new ReleaseError('not_found', `release ${missing.join(', ')} is not a release of this environment`);
  await trx
    .insertInto('environment_hosts')
    .values(input.hosts.map((h) => ({ environment_id: input.environmentId, host: h.host, release_id: h.releaseId, updated_at: input.now })))
    .onConflict((oc) =>
      oc.columns(['environment_id', 'host']).doUpdateSet((eb) => ({
        release_id: eb.ref('excluded.release_id'),
        updated_at: eb.ref('excluded.updated_at'),
      })),
    )
    .execute();
}

/** The hosts of each of these environments (by id), each with the release it runs; an environment without any is left out. */
export async function hostReleases(db: Kysely<Database>, environmentIds: readonly number[]): Promise<Map<number, HostReleaseRow[]>> {
  const byEnvironment = new Map<number, HostReleaseRow[]>();
  if (environmentIds.length === 0) return byEnvironment;
  const rows = await db
    .selectFrom('environment_hosts as h')
    .innerJoin('releases as r', 'r.id', 'h.release_id')
    .select(['h.environment_id', 'h.host', 'h.release_id', 'h.updated_at', 'r.version', 'r.image'])
    .where('h.environment_id', 'in', environmentIds)
    .orderBy('h.environment_id')
    .orderBy('h.host')
    .execute();
  for (const r of rows) {
    const list = byEnvironment.get(r.environment_id) ?? [];
    list.push({ host: r.host, releaseId: r.release_id, version: r.version, image: r.image, updatedAt: r.updated_at });
    byEnvironment.set(r.environment_id, list);
  }
  return byEnvironment;
}
