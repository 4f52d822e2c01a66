// A deploy job starts its release. The environment row is created on first use and locked, so two
// jobs of one environment can never both take the same release as "the previous live one". A job
// asking again (its agent retried after a lost answer) gets the release it already has; a rollback
// queued by the API finds the row made for it.
import { createHash } from 'node:crypto';
import { DomainError } from '../errors.js';
import type { Kysely } from 'kysely';
import type { ManifestEntry } from '../artifacts/index.js';
import { forUpdate, readReleaseFiles, type Store } from '../store/index.js';
import { restoredContent } from './releases.js';
import type { Database, Environment, Release } from '../store/index.js';

/** A release that cannot be started or moved on: an unknown release, one in the wrong state. */
export class ReleaseError extends DomainError {
  override name = 'ReleaseError';
}

export interface EnvironmentInput {
  name: string;
  tier?: string | null;
  url?: string | null;
}

export interface StartReleaseInput {
  jobId: number;
  repoId: number;
  pipelineId: number;
  environment: EnvironmentInput;
  sha: string;
  ref: string;
  version: string;
  /** The release's files; null for a rollback, which takes those of `rollbackOf`. */
  files: ManifestEntry[] | null;
  /** The image pinned by digest; null for a files-only release and for a rollback, which takes that of `rollbackOf`. */
  image: string | null;
  rollbackOf: number | null;
  deploySpec: unknown;
  tags: string[];
  fencingToken: number;
  createdBy: string;
  now: number;
}

export interface StartedRelease {
  release: Release;
  /** The release live before this one: what a failed verification rolls back to. */
  previous: Release | null;
  environment: Environment;
}

/**
 * sha256 over the manifest in path order, and the image when there is one: equal digests mean the
 * same release. A files-only release hashes as it always has, so older digests stay comparable.
 */
export function releaseDigest(files: readonly ManifestEntry[], image: string | null = null): string {
  const canonical = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)).map((f) => [f.path, f.digest, f.mode]);
  return createHash('sha256')
    .update(JSON.stringify(image === null ? canonical : { files: canonical, image }))
    .digest('hex');
}

/** Finds or creates the environment and locks its row for the rest of the transaction. */
export async function lockEnvironment(trx: Kysely<Database>, repoId: number, env: EnvironmentInput, now: number): Promise<Environment> {
  await trx
    .insertInto('environments')
    .values({
      repo_id: repoId,
      name: env.name,
      tier: env.tier ?? null,
      url: env.url ?? null,
      protected: 0,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) => oc.columns(['repo_id', 'name']).doNothing())
    .execute();
  const row = await forUpdate(
    trx,
    trx.selectFrom('environments').selectAll().where('repo_id', '=', repoId).where('name', '=', env.name),
  ).executeTakeFirstOrThrow();
  // The file's url and tier win over older ones: they describe the deploy being made now.
  if ((env.url && env.url !== row.url) || (env.tier && env.tier !== row.tier)) {
    const set = { url: env.url ?? row.url, tier: env.tier ?? row.tier, updated_at: now };
    await trx.updateTable('environments').set(set).where('id', '=', row.id).execute();
    return { ...row, ...set };
  }
  return row;
}

export async function liveRelease(trx: Kysely<Database>, environmentId: number): Promise<Release | null> {
  return (
    (await trx
      .selectFrom('releases')
      .selectAll()
      .where('environment_id', '=', environmentId)
      .where('status', '=', 'live')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst()) ?? null
  );
}

export async function startRelease(store: Store, input: StartReleaseInput): Promise<StartedRelease> {
  return store.transaction(async (trx) => {
    const environment = await lockEnvironment(trx, input.repoId, input.environment, input.now);
    const previous = await liveRelease(trx, environment.id);
    const existing = await trx.selectFrom('releases').selectAll().where('job_id', '=', input.jobId).executeTakeFirst();
    if (existing) {
      if (existing.status !== 'queued') return { release: existing, previous, environment };
      const started = { status: 'deploying' as const, fencing_token: input.fencingToken };
      await trx.updateTable('releases').set(started).where('id', '=', existing.id).execute();
      return { release: { ...existing, ...started }, previous, environment };
    }
    let files = input.files;
    let source: Release | undefined;
    if (input.rollbackOf !== null) {
      source = await trx
        .selectFrom('releases')
        .selectAll()
        .where('id', '=', input.rollbackOf)
        .where('environment_id', '=', environment.id)
        .executeTakeFirst();
      if (!source) throw new ReleaseError('not_found', `release ${input.rollbackOf} is not a release of environment ${environment.name}`);
      files = readReleaseFiles(source);
    }
    if (files === null || (files.length === 0 && (source ? source.image : input.image) === null)) {
      throw new ReleaseError('invalid', 'a release needs files (deploy.source) or an image (deploy.image)');
    }
    const release = await trx
      .insertInto('releases')
      .values({
        environment_id: environment.id,
        repo_id: input.repoId,
        pipeline_id: input.pipelineId,
        job_id: input.jobId,
        ...(source
          ? { kind: 'rollback' as const, ...restoredContent(source) }
          : {
              kind: 'deploy' as const,
              rollback_of: null,
              sha: input.sha,
              ref: input.ref,
              version: input.version,
              files: JSON.stringify(files),
              digest: releaseDigest(files, input.image),
              image: input.image,
              deploy_spec: JSON.stringify(input.deploySpec),
              tags: JSON.stringify(input.tags),
            }),
        fencing_token: input.fencingToken,
        status: 'deploying',
        status_reason: null,
        decision: null,
        created_by: input.createdBy,
        created_at: input.now,
        finished_at: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { release, previous, environment };
  });
}
