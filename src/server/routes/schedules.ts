// Pipeline schedules: maintainers add, change and remove them; each runs with its owner's
// permissions at its times (the leader duty in src/server/schedules.ts), or now on request with
// the caller's. Variable values are write-only and never appear in responses or the audit log.
import { z } from 'zod';
import { protectedRefRole } from '../../auth/index.js';
import { requireRepo } from '../../repos/index.js';
import {
  createSchedule,
  deleteSchedule,
  listSchedules,
  requireSchedule,
  runScheduleNow,
  updateSchedule,
  type ScheduleChanges,
} from '../../schedules/index.js';
import type { Principal } from '../../auth/index.js';
import type { ServerContext } from '../context.js';
import { requireRole } from '../auth.js';
import { idParam } from '../query.js';
import { ApiError, type RouteTable } from '../http.js';
import { publishChanges } from '../notify.js';
import { scheduleView } from '../presenters.js';

const variableKey = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a variable name: letters, digits and "_", not starting with a digit');

const fields = {
  description: z.string().max(255).optional(),
  /** Checked by the operation (croner), which names the field in its refusal. */
  cron: z.string().min(1).max(200),
  timezone: z.string().min(1).max(100).optional(),
  ref: z.string().min(1).max(255),
  variables: z
    .record(variableKey, z.string().max(64 * 1024))
    .refine((v) => Object.keys(v).length <= 100, 'at most 100 variables')
    .optional(),
  active: z.boolean().optional(),
};

const createBody = z.object(fields).strict();
const updateBody = z
  .object({
    ...fields,
    cron: fields.cron.optional(),
    ref: fields.ref.optional(),
    /** The caller becomes the owner: the schedule runs with their permissions from now on. */
    takeOwnership: z.boolean().optional(),
  })
  .strict();

function userIdOf(principal: Principal): number {
  if (principal.kind !== 'user') throw new ApiError(403, 'schedules are owned by users: use a personal token or a session');
  return principal.userId;
}

/** Whoever sets a schedule's ref must be allowed to run pipelines on it (a protected branch's role). */
async function requireRefRole(ctx: ServerContext, principal: Principal, repo: { id: number; name: string }, ref: string, what: string) {
  const role = await protectedRefRole(ctx.store.db, repo.id, { name: ref, isTag: false });
  if (role !== null) await requireRole(ctx, principal, repo, role, `${what} on protected branch ${ref}`);
}

export function registerScheduleRoutes(routes: RouteTable, ctx: ServerContext): void {
  routes.add({
    method: 'POST',
    url: '/api/v1/repos/:name/schedules',
    summary: 'Add a pipeline schedule (cron pattern, timezone, ref, variables); the caller owns it',
    tag: 'schedules',
    access: 'user',
    body: createBody,
    bodyLimit: 'bulk',
    async handler({ params, body, reply, principal, audit }) {
      const repo = await requireRepo(ctx.store, params.name);
      const ownerUserId = userIdOf(principal);
      await requireRefRole(ctx, principal, repo, body.ref, 'schedule.create');
      const created = await createSchedule(ctx, { ...body, repoId: repo.id, ownerUserId, now: ctx.clock.now() });
      audit({ scheduleId: created.id, ref: created.ref, cron: created.cron, timezone: created.timezone });
      reply.code(201);
      return scheduleView(created);
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/repos/:name/schedules',
    summary: 'List the pipeline schedules of a repository',
    tag: 'schedules',
    access: 'user',
    async handler({ params }) {
      const repo = await requireRepo(ctx.store, params.name);
      return (await listSchedules(ctx.store.db, repo.id)).map(scheduleView);
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/schedules/:id',
    summary: 'Show a pipeline schedule',
    tag: 'schedules',
    access: 'user',
    async handler({ params }) {
      return scheduleView(await requireSchedule(ctx.store.db, idParam(params.id, 'id')));
    },
  });

  routes.add({
    method: 'PATCH',
    url: '/api/v1/schedules/:id',
    summary: 'Change a pipeline schedule; takeOwnership makes the caller its owner',
    tag: 'schedules',
    access: 'user',
    body: updateBody,
    bodyLimit: 'bulk',
    async handler({ params, body, principal, audit }) {
      const schedule = await requireSchedule(ctx.store.db, idParam(params.id, 'id'));
      const { takeOwnership, ...rest } = body;
      const changes: ScheduleChanges = rest;
      if (takeOwnership) changes.ownerUserId = userIdOf(principal);
      if (body.ref !== undefined) {
        await requireRefRole(ctx, principal, { id: schedule.repo_id, name: schedule.repo_name }, body.ref, 'schedule.update');
      }
      const updated = await updateSchedule(ctx, schedule.id, changes, ctx.clock.now());
      // Names of what changed, never the variables' values.
      audit({ changed: Object.keys(body).sort(), active: updated.active === 1, owner: updated.owner_username });
      return scheduleView(updated);
    },
  });

  routes.add({
    method: 'DELETE',
    url: '/api/v1/schedules/:id',
    summary: 'Delete a pipeline schedule',
    tag: 'schedules',
    access: 'user',
    async handler({ params, reply }) {
      if (!(await deleteSchedule(ctx.store.db, idParam(params.id, 'id')))) throw new ApiError(404, `no schedule ${params.id}`);
      reply.code(204);
      return null;
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/schedules/:id/run',
    summary: "Run a schedule's pipeline now, with the caller's permissions; its next due time stays",
    tag: 'schedules',
    access: 'user',
    async handler({ params, reply, principal, audit }) {
      const schedule = await requireSchedule(ctx.store.db, idParam(params.id, 'id'));
      const repo = await requireRepo(ctx.store, schedule.repo_name);
      const result = await runScheduleNow(ctx, {
        schedule,
        repo,
        authorizeRef: async (ref) => {
          const role = await protectedRefRole(ctx.store.db, repo.id, ref);
          if (role !== null) await requireRole(ctx, principal, repo, role, `schedule.run on protected branch ${ref.name}`);
        },
        now: ctx.clock.now(),
      });
      publishChanges(ctx, result.changes);
      if (result.pipelineId === null) throw new ApiError(422, `pipeline not created: ${result.skippedReason}`);
      audit({ pipelineId: result.pipelineId });
      reply.code(201);
      // `id` is the pipeline's, as POST /repos/:name/pipelines answers; `pipelineId` says so.
      return { id: result.pipelineId, pipelineId: result.pipelineId, status: result.status };
    },
  });
}
