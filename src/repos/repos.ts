// The repositories table: registering, finding, listing, changing and removing repositories.
// What a new repository starts with (its owner, its protected default branch) is setUpNewRepo's.
import { sql, type Kysely } from 'kysely';
import { DomainError } from '../errors.js';
import { refMatchesFilters } from '../source/index.js';
import { readBranchFilter, readTagFilter, type Store } from '../store/index.js';
import type { Database, Repo } from '../store/index.js';

export async function findRepoByName(db: Kysely<Database>, name: string): Promise<Repo | undefined> {
  return db.selectFrom('repos').selectAll().where('name', '=', name).executeTakeFirst();
}

/** GitLab's project path of a repository: the one set, else its name. */
export function repoPath(repo: Pick<Repo, 'name' | 'path'>): string {
  return repo.path ?? repo.name;
}

/** The repository whose project path (set, or its name when none is) is this one. */
export async function findRepoByPath(db: Kysely<Database>, projectPath: string): Promise<Repo | undefined> {
  return db
    .selectFrom('repos')
    .selectAll()
    .where((eb) => eb.or([eb('path', '=', projectPath), eb.and([eb('path', 'is', null), eb('name', '=', projectPath)])]))
    .executeTakeFirst();
}

/** The repository of that name; refused (not_found) when there is none. */
export async function requireRepo(store: Store, name: string): Promise<Repo> {
  const repo = await findRepoByName(store.db, name);
  if (!repo) throw new DomainError('not_found', `no repository named "${name}"`);
  return repo;
}

/** Whether a push to this ref should start a pipeline, by the repository's branch and tag filters. */
export function repoWantsRef(repo: Repo, ref: string): boolean {
  return refMatchesFilters(ref, {
    branches: readBranchFilter(repo) ?? undefined,
    tags: readTagFilter(repo) ?? undefined,
  });
}

export interface NewRepo {
  name: string;
  /** GitLab's project path; absent or null: the name. */
  path?: string | null;
  url: string;
  defaultBranch: string;
  pollIntervalSeconds: number;
  branchFilter: string[] | null;
  tagFilter: string[] | null;
  forkPullRequests: Repo['fork_pull_requests'];
  /** Absent: 'private'. */
  visibility?: Repo['visibility'];
  /** Absent: off. */
  quarantineFlakyTests?: boolean;
  now: number;
}

/** The new repository's row, without a webhook secret or URL credentials (sealed once its id exists). */
export async function insertRepo(db: Kysely<Database>, input: NewRepo): Promise<Repo> {
  return db
    .insertInto('repos')
    .values({
      name: input.name,
      path: input.path ?? null,
      url: input.url,
      default_branch: input.defaultBranch,
      poll_interval_seconds: input.pollIntervalSeconds,
      webhook_secret: null,
      branch_filter: input.branchFilter ? JSON.stringify(input.branchFilter) : null,
      tag_filter: input.tagFilter ? JSON.stringify(input.tagFilter) : null,
      fork_pull_requests: input.forkPullRequests,
      visibility: input.visibility ?? 'private',
      quarantine_flaky_tests: input.quarantineFlakyTests ? 1 : 0,
      known_refs: '{}',
      last_polled_at: null,
      created_at: input.now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Repositories by name: these ids, or all of them (null). */
export async function listRepos(db: Kysely<Database>, repoIds: number[] | null): Promise<Repo[]> {
  let q = db.selectFrom('repos').selectAll().orderBy('name');
  if (repoIds !== null) q = repoIds.length === 0 ? q.where(sql<boolean>`false`) : q.where('id', 'in', repoIds);
  return q.execute();
}

export async function updateRepo(db: Kysely<Database>, repoId: number, changes: Partial<Repo>): Promise<Repo> {
  return db.updateTable('repos').set(changes).where('id', '=', repoId).returningAll().executeTakeFirstOrThrow();
}

/** The schema's foreign keys cascade: pipelines, jobs, logs, manifests, events, variables and caches go with it. */
export async function deleteRepo(db: Kysely<Database>, repoId: number): Promise<void> {
  await db.deleteFrom('repos').where('id', '=', repoId).execute();
}
