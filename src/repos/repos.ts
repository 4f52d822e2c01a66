// The repositories table: registering, finding, listing, changing and removing repositories.
// What a new repository starts with (its owner, its protected default branch) is setUpNewRepo's.
import { sql, type Kysely } from 'kysely';
import { DomainError } from '../errors.js';
import { refMatchesFilters } from '../source/index.js';
import { readBranchFilter, readCacheManifest, readReleaseFiles, readTagFilter, type Store } from '../store/index.js';
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
  /** Absent or null: no limit. */
  maxConcurrentJobs?: number | null;
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
      max_concurrent_jobs: input.maxConcurrentJobs ?? null,
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

/** Digests queued per statement: well under every database's limit on bound parameters. */
const SWEEP_BATCH = 500;

/**
 * The schema's foreign keys cascade: pipelines, jobs, logs, manifests, events, variables and caches
 * go with it. The blobs they listed are queued for the retention sweep in the same transaction
 * (blobs are shared by content, so only the sweep can tell which are no one else's). Returns how
 * many digests were queued.
 */
export async function deleteRepo(store: Store, input: { repoId: number; now: number }): Promise<number> {
  return store.transaction(async (trx) => {
    const { repoId } = input;
    const ofJobs = trx.selectFrom('jobs').select('jobs.id').where('jobs.repo_id', '=', repoId);
    const [artifacts, reports, logs, caches, releases] = await Promise.all([
      trx.selectFrom('artifact_files').select('digest').distinct().where('job_id', 'in', ofJobs).execute(),
      trx.selectFrom('test_report_files').select('digest').distinct().where('job_id', 'in', ofJobs).execute(),
      trx.selectFrom('jobs').select('log_blob').distinct().where('repo_id', '=', repoId).where('log_blob', 'is not', null).execute(),
      trx.selectFrom('cache_entries').select(['id', 'manifest']).where('repo_id', '=', repoId).execute(),
      trx.selectFrom('releases').select(['id', 'files']).where('repo_id', '=', repoId).execute(),
    ]);
    const digests = new Set<string>([
      ...artifacts.map((r) => r.digest),
      ...reports.map((r) => r.digest),
      ...logs.flatMap((r) => (r.log_blob === null ? [] : [r.log_blob])),
      ...caches.flatMap((c) => readCacheManifest(c).map((f) => f.digest)),
      ...releases.flatMap((r) => readReleaseFiles(r).map((f) => f.digest)),
    ]);
    const list = [...digests];
    for (let i = 0; i < list.length; i += SWEEP_BATCH) {
      await trx
        .insertInto('blob_sweeps')
        .values(list.slice(i, i + SWEEP_BATCH).map((digest) => ({ digest, queued_at: input.now })))
        .onConflict((oc) => oc.column('digest').doNothing())
        .execute();
    }
    await trx.deleteFrom('repos').where('id', '=', repoId).execute();
    return list.length;
  });
}
