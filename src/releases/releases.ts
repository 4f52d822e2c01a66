// Reading releases, and a person's decision on a paused one. Starting a release and moving it
// through its states are start-release.ts's and set-release-status.ts's.
import type { Kysely } from 'kysely';
import type { Database, Release } from '../store/index.js';

/** What a rollback release takes from the release it brings back: the same files, image, spec and commit. */
export function restoredContent(
  from: Release,
): Pick<Release, 'rollback_of' | 'sha' | 'ref' | 'version' | 'files' | 'digest' | 'image' | 'deploy_spec' | 'tags'> {
  return {
    rollback_of: from.id,
    sha: from.sha,
    ref: from.ref,
    version: from.version,
    files: from.files,
    digest: from.digest,
    image: from.image,
    deploy_spec: from.deploy_spec,
    tags: from.tags,
  };
}

/** The environment's releases, newest first; `before`: a release id, for the next page. */
export async function listReleases(
  db: Kysely<Database>,
  input: { environmentId: number; limit: number; before?: number },
): Promise<Release[]> {
  let q = db.selectFrom('releases').selectAll().where('environment_id', '=', input.environmentId).orderBy('id', 'desc').limit(input.limit);
  if (input.before !== undefined) q = q.where('id', '<', input.before);
  return q.execute();
}

/** The environment's newest release, whatever its status. */
export async function latestRelease(db: Kysely<Database>, environmentId: number): Promise<Release | null> {
  return (await listReleases(db, { environmentId, limit: 1 }))[0] ?? null;
}

export async function findRelease(db: Kysely<Database>, input: { releaseId: number; environmentId: number }): Promise<Release | undefined> {
  return db
    .selectFrom('releases')
    .selectAll()
    .where('id', '=', input.releaseId)
    .where('environment_id', '=', input.environmentId)
    .executeTakeFirst();
}

/** The release a deploy job started, if it has. */
export async function releaseOfJob(db: Kysely<Database>, jobId: number): Promise<Pick<Release, 'id' | 'status' | 'decision'> | undefined> {
  return db.selectFrom('releases').select(['id', 'status', 'decision']).where('job_id', '=', jobId).executeTakeFirst();
}

/** Records a person's decision on a release while it is still paused (the agent reads it and acts). */
export async function recordReleaseDecision(
  db: Kysely<Database>,
  input: { releaseId: number; decision: 'promote' | 'abort' },
): Promise<void> {
  await db
    .updateTable('releases')
    .set({ decision: input.decision })
    .where('id', '=', input.releaseId)
    .where('status', '=', 'paused')
    .execute();
}
