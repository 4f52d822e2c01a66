// Environments of a repository as the API shows and configures them, and the deploy jobs waiting
// for them. Locking an environment for a deploy is start-release.ts's.
import type { Kysely } from 'kysely';
import { DomainError } from '../errors.js';
import type { Database, Environment, Job, Repo } from '../store/index.js';

export async function listEnvironments(db: Kysely<Database>, repoId: number): Promise<Environment[]> {
  return db.selectFrom('environments').selectAll().where('repo_id', '=', repoId).orderBy('name').execute();
}

export interface EnvironmentSettings {
  protected?: boolean;
  url?: string | null;
  tier?: string | null;
}

/** Creates the environment if it is new, then applies the settings given (others keep their value). */
export async function configureEnvironment(
  db: Kysely<Database>,
  input: { repoId: number; name: string; settings: EnvironmentSettings; now: number },
): Promise<void> {
  const { settings, now } = input;
  await db
    .insertInto('environments')
    .values({
      repo_id: input.repoId,
      name: input.name,
      tier: settings.tier ?? null,
      url: settings.url ?? null,
      protected: settings.protected ? 1 : 0,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) => oc.columns(['repo_id', 'name']).doNothing())
    .execute();
  const set: { updated_at: number; protected?: number; url?: string | null; tier?: string | null } = { updated_at: now };
  if (settings.protected !== undefined) set.protected = settings.protected ? 1 : 0;
  if (settings.url !== undefined) set.url = settings.url;
  if (settings.tier !== undefined) set.tier = settings.tier;
  await db.updateTable('environments').set(set).where('repo_id', '=', input.repoId).where('name', '=', input.name).execute();
}

export async function environmentName(db: Kysely<Database>, environmentId: number): Promise<string> {
  return (await db.selectFrom('environments').select('name').where('id', '=', environmentId).executeTakeFirstOrThrow()).name;
}

/** Deploy jobs of the environment waiting to be played (approved), newest first. */
export async function waitingDeployJobs(
  db: Kysely<Database>,
  input: { repoId: number; environment: string; limit: number },
): Promise<Job[]> {
  return db
    .selectFrom('jobs')
    .selectAll()
    .where('repo_id', '=', input.repoId)
    .where('environment', '=', input.environment)
    .where('status', '=', 'manual')
    .where('retried', '=', 0)
    .orderBy('id', 'desc')
    .limit(input.limit)
    .execute();
}

/** The repository's environment of that name; refused (not_found) when there is none. */
export async function requireEnvironment(db: Kysely<Database>, repo: Pick<Repo, 'id' | 'name'>, name: string): Promise<Environment> {
  const env = await db.selectFrom('environments').selectAll().where('repo_id', '=', repo.id).where('name', '=', name).executeTakeFirst();
  if (!env) throw new DomainError('not_found', `repository ${repo.name} has no environment "${name}"`);
  return env;
}
