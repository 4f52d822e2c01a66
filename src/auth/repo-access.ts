// Per-repository access: members and their roles, and protected branches (pipelines on them see
// protected variables; running pipelines and manual jobs on them takes the branch's allowed role).
import type { Kysely } from 'kysely';
import type { MemberJson } from '../api/index.js';
import { globMatcher } from '../pipeline/index.js';
import { readPipelineMergeRequest, type Store } from '../store/index.js';
import type { Database, Pipeline, ProtectedBranch, Role } from '../store/index.js';
import { roleAtLeast, type RepoLocator, type RepoStanding } from './permissions.js';
import { findUser, UserError } from './users.js';

function positiveId(value: string | undefined, what: string): number {
  const id = Number(value);
  if (!Number.isSafeInteger(id) || id <= 0) throw new UserError('malformed', `${what}: expected a positive integer, got "${value}"`);
  return id;
}

/**
 * The repository a route is about (by name, or by one of its pipelines, jobs or schedules) and the
 * user's role there; null when the repository, pipeline, job or schedule does not exist.
 */
export async function repoStanding(
  db: Kysely<Database>,
  locator: RepoLocator,
  params: Record<string, string>,
  userId: number | null,
): Promise<RepoStanding | null> {
  // One read: the repository (found by name, or through its pipeline or job) and the caller's membership.
  let q = db
    .selectFrom('repos')
    .leftJoin('memberships', (j) => j.onRef('memberships.repo_id', '=', 'repos.id').on('memberships.user_id', '=', userId ?? -1))
    .select(['repos.id', 'repos.name', 'memberships.role']);
  if (locator.by === 'name') q = q.where('repos.name', '=', params[locator.param] ?? '');
  else if (locator.by === 'pipeline')
    q = q.where(
      'repos.id',
      '=',
      db.selectFrom('pipelines').select('repo_id').where('id', '=', positiveId(params[locator.param], locator.param)),
    );
  else {
    const table = locator.by === 'job' ? 'jobs' : 'schedules';
    q = q.where('repos.id', '=', db.selectFrom(table).select('repo_id').where('id', '=', positiveId(params[locator.param], locator.param)));
  }
  const row = await q.executeTakeFirst();
  return row ? { repoId: row.id, repoName: row.name, role: row.role } : null;
}

export async function roleIn(db: Kysely<Database>, repoId: number, userId: number): Promise<Role | null> {
  const row = await db
    .selectFrom('memberships')
    .select('role')
    .where('repo_id', '=', repoId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return row?.role ?? null;
}

/** Repository ids the user is a member of. */
export async function memberRepoIds(db: Kysely<Database>, userId: number): Promise<number[]> {
  return (await db.selectFrom('memberships').select('repo_id').where('user_id', '=', userId).execute()).map((r) => r.repo_id);
}

export async function listMembers(db: Kysely<Database>, repoId: number): Promise<MemberJson[]> {
  const rows = await db
    .selectFrom('memberships')
    .innerJoin('users', 'users.id', 'memberships.user_id')
    .select(['users.username', 'memberships.role', 'memberships.source', 'memberships.created_at'])
    .where('memberships.repo_id', '=', repoId)
    .orderBy('users.username')
    .execute();
  return rows.map((r) => ({ username: r.username, role: r.role, source: r.source, since: new Date(r.created_at).toISOString() }));
}

/** Who is changing a membership: an admin, or a member with this role (at least maintainer, by the route's permission). */
export interface Granter {
  admin: boolean;
  role: Role | null;
}

/** Owners are made, changed and removed by owners (or admins); a repository that has owners keeps one. */
async function checkOwnerChange(
  trx: Kysely<Database>,
  repoId: number,
  userId: number,
  current: Role | null,
  next: Role | null,
  by: Granter,
): Promise<void> {
  const touchesOwner = current === 'owner' || next === 'owner';
  if (touchesOwner && !by.admin && by.role !== 'owner')
    throw new UserError(
      'forbidden',
      'missing permission member.set: granting, changing or removing the owner role needs an owner of the repository',
    );
  if (current === 'owner' && next !== 'owner') {
    const others = await trx
      .selectFrom('memberships')
      .select('user_id')
      .where('repo_id', '=', repoId)
      .where('role', '=', 'owner')
      .where('user_id', '!=', userId)
      .limit(1)
      .executeTakeFirst();
    if (!others) throw new UserError('conflict', 'the repository would have no owner left: make someone else owner first');
  }
}

export async function setMember(
  store: Store,
  input: { repoId: number; username: string; role: Role; by: Granter; now: number },
): Promise<{ previous: Role | null }> {
  return store.transaction(async (trx) => {
    const user = await findUser(trx, input.username);
    const previous = await roleIn(trx, input.repoId, user.id);
    await checkOwnerChange(trx, input.repoId, user.id, previous, input.role, input.by);
    await trx
      .insertInto('memberships')
      .values({ repo_id: input.repoId, user_id: user.id, role: input.role, source: 'manual', created_at: input.now, updated_at: input.now })
      .onConflict((oc) => oc.columns(['repo_id', 'user_id']).doUpdateSet({ role: input.role, source: 'manual', updated_at: input.now }))
      .execute();
    return { previous };
  });
}

export async function removeMember(store: Store, input: { repoId: number; username: string; by: Granter }): Promise<{ previous: Role }> {
  return store.transaction(async (trx) => {
    const user = await findUser(trx, input.username);
    const previous = await roleIn(trx, input.repoId, user.id);
    if (previous === null) throw new UserError('not_found', `${input.username} is not a member`);
    await checkOwnerChange(trx, input.repoId, user.id, previous, null, input.by);
    await trx.deleteFrom('memberships').where('repo_id', '=', input.repoId).where('user_id', '=', user.id).execute();
    return { previous };
  });
}

/** A repository just registered: its creator owns it and its default branch is protected. */
export async function setUpNewRepo(
  db: Kysely<Database>,
  repo: { id: number; default_branch: string },
  creatorId: number | null,
  now: number,
): Promise<void> {
  if (creatorId !== null)
    await db
      .insertInto('memberships')
      .values({ repo_id: repo.id, user_id: creatorId, role: 'owner', source: 'manual', created_at: now, updated_at: now })
      .execute();
  await db
    .insertInto('protected_branches')
    .values({ repo_id: repo.id, pattern: repo.default_branch, allowed_role: 'maintainer', created_at: now })
    .execute();
}

// ---- Protected branches ----

export async function listProtectedBranches(db: Kysely<Database>, repoId: number): Promise<ProtectedBranch[]> {
  return db.selectFrom('protected_branches').selectAll().where('repo_id', '=', repoId).orderBy('pattern').execute();
}

/**
 * The least role that may run pipelines and manual jobs on this ref, or null when the ref is not
 * protected. Several matching patterns: the strictest wins. Tags are not protected.
 */
export async function protectedRefRole(db: Kysely<Database>, repoId: number, ref: { name: string; isTag: boolean }): Promise<Role | null> {
  if (ref.isTag) return null;
  let strictest: Role | null = null;
  for (const p of await listProtectedBranches(db, repoId)) {
    if (p.pattern !== ref.name && !globMatcher([p.pattern], { anyDepth: true })(ref.name)) continue;
    if (!roleAtLeast(strictest, p.allowed_role)) strictest = p.allowed_role;
  }
  return strictest;
}

/**
 * The protected branch role that guards a pipeline (its protected variables, protected-ref ID
 * tokens, who may start its jobs), or null when it is not protected. A merge request pipeline runs
 * the forge's merge request ref, not a branch: it is protected only when the change comes from
 * the repository itself and its source branch is protected here; a fork's never is, whatever its
 * branch is called.
 */
export async function pipelineProtectedRole(
  db: Kysely<Database>,
  /** Without an id: a pipeline about to be created (its merge_request was just serialized). */
  pipeline: Pick<Pipeline, 'repo_id' | 'ref' | 'is_tag' | 'merge_request'> & Partial<Pick<Pipeline, 'id'>>,
): Promise<Role | null> {
  const mergeRequest = readPipelineMergeRequest({ id: pipeline.id ?? 0, merge_request: pipeline.merge_request });
  if (mergeRequest !== null)
    return mergeRequest.fork ? null : protectedRefRole(db, pipeline.repo_id, { name: mergeRequest.sourceBranch, isTag: false });
  // Only branch names are protected; a full ref (refs/pull/1/head) is not a branch.
  if (pipeline.ref.startsWith('refs/')) return null;
  return protectedRefRole(db, pipeline.repo_id, { name: pipeline.ref, isTag: pipeline.is_tag === 1 });
}

/** The names of these repositories by id (a removed one is missing). */
export async function repoNames(db: Kysely<Database>, repoIds: number[]): Promise<Map<number, string>> {
  if (repoIds.length === 0) return new Map();
  const rows = await db.selectFrom('repos').select(['id', 'name']).where('id', 'in', repoIds).execute();
  return new Map(rows.map((r) => [r.id, r.name]));
}

/** pipelineProtectedRole of the pipeline with this id. */
export async function protectedRoleOfPipeline(db: Kysely<Database>, pipelineId: number): Promise<Role | null> {
  const pipeline = await db
    .selectFrom('pipelines')
    .select(['id', 'repo_id', 'ref', 'is_tag', 'merge_request'])
    .where('id', '=', pipelineId)
    .executeTakeFirstOrThrow();
  return pipelineProtectedRole(db, pipeline);
}

/** Protects the branches matching a pattern (or changes the role a protected pattern allows). */
export async function protectBranches(
  db: Kysely<Database>,
  input: { repoId: number; pattern: string; allowedRole: Role; now: number },
): Promise<ProtectedBranch> {
  return db
    .insertInto('protected_branches')
    .values({ repo_id: input.repoId, pattern: input.pattern, allowed_role: input.allowedRole, created_at: input.now })
    .onConflict((oc) => oc.columns(['repo_id', 'pattern']).doUpdateSet({ allowed_role: input.allowedRole }))
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Removes a protected branch pattern of the repository by its id; returns the pattern, or undefined when there was none. */
export async function unprotectBranches(db: Kysely<Database>, input: { repoId: number; patternId: number }): Promise<string | undefined> {
  if (!Number.isSafeInteger(input.patternId)) return undefined;
  const row = await db
    .selectFrom('protected_branches')
    .select(['id', 'pattern'])
    .where('id', '=', input.patternId)
    .where('repo_id', '=', input.repoId)
    .executeTakeFirst();
  if (!row) return undefined;
  await db.deleteFrom('protected_branches').where('id', '=', row.id).execute();
  return row.pattern;
}
