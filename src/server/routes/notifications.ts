// Pipeline notifications: a repository's subscriptions (maintainers manage them) and each user's
// own (their pipelines of every repository they can read, or of one). Messages go out through the
// outbox (src/outbox/notifications.ts).
import { z } from 'zod';
import { NOTIFICATION_EVENTS, NOTIFICATION_TYPES, type NotificationType } from '../../api/index.js';
import { findUser, roleIn } from '../../auth/index.js';
import { createSubscription, deleteSubscription, findSubscription, listSubscriptions } from '../../outbox/index.js';
import { requireRepo } from '../../repos/index.js';
import type { ServerContext } from '../context.js';
import { requireRole, userOf } from '../auth.js';
import { ApiError, type RouteContext, type RouteTable } from '../http.js';
import { checkNotificationTarget } from '../notification-targets.js';
import { notificationView } from '../presenters.js';

const events = z.array(z.enum(NOTIFICATION_EVENTS)).min(1).max(NOTIFICATION_EVENTS.length);
const secret = z.string().min(16, 'at least 16 characters').max(256);

const repoBody = z
  .object({
    type: z.enum(NOTIFICATION_TYPES),
    /** Email addresses (comma-separated), or the http(s) URL of the webhook. */
    target: z.string().min(1).max(2000),
    events,
    /** A webhook's signing secret (HMAC-SHA256 of the body, X-Tandem-Signature); write-only. */
    secret: secret.optional(),
  })
  .strict();

const userBody = z
  .object({
    /** Default email, to the user's own address. */
    type: z.enum(NOTIFICATION_TYPES).default('email'),
    target: z.string().min(1).max(2000).optional(),
    events,
    secret: secret.optional(),
    /** One repository; absent: every repository the user can read. */
    repo: z.string().min(1).optional(),
  })
  .strict();

/** What the audit log keeps of a target: email addresses, or a URL's origin (a webhook's path is often its secret). */
function auditedTarget(type: NotificationType, target: string): string {
  if (type === 'email') return target;
  try {
    return new URL(target).origin;
  } catch {
    return '(not a URL)';
  }
}

/** The last steps of both ways to subscribe: the target's outbound check, the row, its audit record, 201. */
async function subscribe(
  ctx: ServerContext,
  { principal, reply, audit }: Pick<RouteContext<unknown>, 'principal' | 'reply' | 'audit'>,
  input: Omit<Parameters<typeof createSubscription>[1], 'now'>,
  repo: string | null,
): Promise<{ id: number }> {
  await checkNotificationTarget(input.type, input.target, principal);
  const created = await createSubscription(ctx, { ...input, now: ctx.clock.now() });
  audit({ notificationId: created.id, repo, type: input.type, target: auditedTarget(input.type, created.target), events: input.events });
  reply.code(201);
  return { id: created.id };
}

export function registerNotificationRoutes(routes: RouteTable, ctx: ServerContext): void {
  routes.add({
    method: 'POST',
    url: '/api/v1/repos/:name/notifications',
    summary: "Tell someone about this repository's pipelines: email, Slack, Microsoft Teams or a signed JSON webhook",
    tag: 'notifications',
    access: 'user',
    body: repoBody,
    async handler(route) {
      const { params, body, principal } = route;
      const repo = await requireRepo(ctx.store, params.name);
      return subscribe(
        ctx,
        route,
        {
          repoId: repo.id,
          userId: null,
          type: body.type,
          target: body.target,
          events: body.events,
          secret: body.secret ?? null,
          createdBy: principal.kind === 'user' ? principal.username : 'api',
        },
        repo.name,
      );
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/repos/:name/notifications',
    summary: "A repository's notification subscriptions (secrets are never shown)",
    tag: 'notifications',
    access: 'user',
    async handler({ params }) {
      const repo = await requireRepo(ctx.store, params.name);
      return (await listSubscriptions(ctx.store.db, { repoId: repo.id })).map(notificationView);
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/user/notifications',
    summary: 'Be told about pipelines of every repository you can read (or of one, `repo`); email to your own address by default',
    tag: 'notifications',
    access: 'user',
    body: userBody,
    async handler(route) {
      const { body } = route;
      const me = userOf(route.principal);
      let repoId: number | null = null;
      if (body.repo !== undefined) {
        const repo = await requireRepo(ctx.store, body.repo);
        // Unreadable looks like missing: a subscription must not reveal which repositories exist.
        if (!me.admin && (await roleIn(ctx.store.db, repo.id, me.userId)) === null)
          throw new ApiError(404, `no repository named "${body.repo}"`);
        repoId = repo.id;
      }
      let target = body.target;
      if (body.type === 'email') {
        const user = await findUser(ctx.store.db, me.username);
        if (target === undefined) {
          if (!user.email)
            throw new ApiError(422, 'target: your account has no email address: give target, or ask an admin to set your email');
          target = user.email;
        } else if (!me.admin && target.trim().toLowerCase() !== (user.email ?? '').toLowerCase()) {
          // Otherwise any user could have Tandem mail anyone.
          throw new ApiError(
            403,
            "target: a user's email notifications go to their own address; a repository's maintainers can add other addresses",
          );
        }
      } else if (target === undefined) {
        throw new ApiError(422, `target: a ${body.type} notification needs the URL of its webhook`);
      }
      return subscribe(
        ctx,
        route,
        { repoId, userId: me.userId, type: body.type, target, events: body.events, secret: body.secret ?? null, createdBy: me.username },
        body.repo ?? null,
      );
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/user/notifications',
    summary: 'Your own notification subscriptions',
    tag: 'notifications',
    access: 'user',
    async handler({ principal }) {
      const me = userOf(principal);
      return (await listSubscriptions(ctx.store.db, { userId: me.userId })).map(notificationView);
    },
  });

  routes.add({
    method: 'DELETE',
    url: '/api/v1/notifications/:id',
    summary: "Delete a notification subscription: a repository's (maintainers) or your own",
    tag: 'notifications',
    access: 'user',
    async handler({ params, principal, reply, audit }) {
      const me = userOf(principal);
      const id = Number(params.id);
      const sub = Number.isSafeInteger(id) ? await findSubscription(ctx.store.db, id) : undefined;
      // Another user's subscription is as good as missing: ids must not reveal who subscribes to what.
      const visible = sub !== undefined && (sub.user_id === null || sub.user_id === me.userId || me.admin);
      if (!sub || !visible) throw new ApiError(404, `no notification subscription ${params.id}`);
      if (sub.user_id === null) {
        if (sub.repo_id === null || sub.repo_name === null) throw new ApiError(404, `no notification subscription ${params.id}`);
        await requireRole(ctx, principal, { id: sub.repo_id, name: sub.repo_name }, 'maintainer', 'notification.delete');
      }
      await deleteSubscription(ctx.store.db, sub.id);
      audit({ notificationId: sub.id, repo: sub.repo_name, user: sub.username, type: sub.type });
      reply.code(204);
      return null;
    },
  });
}
