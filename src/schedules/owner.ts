// A schedule runs with its owner's permissions, checked at every due time as they are now (as
// GitLab does): the owner must still exist, not be disabled at their identity provider, hold the
// developer role on the repository (pipeline.create) and, on a protected branch, the role the
// branch allows. The refusal is the reason the schedule is made inactive, worded for people.
import type { Kysely } from 'kysely';
import { disabledAtProvider, protectedRefRole, roleAtLeast, roleIn } from '../auth/index.js';
import type { Database, Role, Schedule } from '../store/index.js';

/** The role pipeline.create needs (src/auth/permissions.ts). */
const RUNS_PIPELINES: Role = 'developer';

export interface OwnerStanding {
  /** Null: the owner may run this schedule's pipelines. */
  refusal: string | null;
  admin: boolean;
  role: Role | null;
  username: string | null;
}

/** Whether the schedule's owner may still run pipelines in its repository (any ref). */
export async function ownerStanding(
  db: Kysely<Database>,
  schedule: Pick<Schedule, 'repo_id' | 'owner_user_id'>,
  repoName: string,
): Promise<OwnerStanding> {
  const none = { admin: false, role: null, username: null };
  if (schedule.owner_user_id === null) return { ...none, refusal: 'its owner was deleted' };
  const user = await db.selectFrom('users').select(['id', 'username', 'admin']).where('id', '=', schedule.owner_user_id).executeTakeFirst();
  if (!user) return { ...none, refusal: 'its owner was deleted' };
  const base = { admin: user.admin === 1, username: user.username };
  if (await disabledAtProvider(db, user.id))
    return { ...base, role: null, refusal: `its owner ${user.username} is disabled at the identity provider` };
  const role = await roleIn(db, schedule.repo_id, user.id);
  if (user.admin === 1 || roleAtLeast(role, RUNS_PIPELINES)) return { ...base, role, refusal: null };
  return {
    ...base,
    role,
    refusal:
      role === null
        ? `its owner ${user.username} is no longer a member of ${repoName}`
        : `its owner ${user.username} is ${role} in ${repoName}; running pipelines needs ${RUNS_PIPELINES}`,
  };
}

/** Null when the owner may run pipelines on the ref; else why not (a protected branch's role). */
export async function ownerRefRefusal(
  db: Kysely<Database>,
  repoId: number,
  owner: OwnerStanding,
  ref: { name: string; isTag: boolean },
): Promise<string | null> {
  if (owner.admin) return null;
  const needed = await protectedRefRole(db, repoId, ref);
  if (needed === null || roleAtLeast(owner.role, needed)) return null;
  return `its owner ${owner.username ?? '?'} may not run pipelines on protected branch ${ref.name} (${needed} needed)`;
}
