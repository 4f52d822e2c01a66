// Alerting API: alerts with their states and notifications, silences (Alertmanager's matchers),
// and the deploy freezes of the error budget policy.
import { z } from 'zod';
import { formatMatcher, matcherSchema, parseMatcher } from '../../monitor/index.js';
import { alertView } from '../../monitor/index.js';
import { addSilence, alertWithNotifications, expireSilence, listAlerts, listSilences } from '../../monitor/index.js';
import type { AlertStateValue } from '../../api/index.js';
import { parseDuration } from '../../pipeline/index.js';
import { actorOf } from '../../auth/index.js';
import { listFreezes } from '../../releases/index.js';
import type { ServerContext } from '../context.js';
import { silenceView } from '../presenters.js';
import { ApiError, type RouteTable } from '../http.js';
import { integerParam, idParam } from '../query.js';

const MAX_PAGE = 500;
const STATES: readonly AlertStateValue[] = ['pending', 'firing', 'resolved'];

const iso = (ms: number) => new Date(ms).toISOString();

const instant = z.string().datetime({ offset: true, message: 'expected an ISO 8601 time, e.g. 2030-01-02T15:04:05Z' });

const silenceBody = z
  .object({
    /** Matcher objects, or strings: name=value, name!=value, name=~regex, name!~regex. */
    matchers: z
      .array(
        z.union([
          z.string().transform((text, ctx) => {
            try {
              return parseMatcher(text);
            } catch (err) {
              ctx.addIssue({ code: 'custom', message: (err as Error).message });
              return z.NEVER;
            }
          }),
          matcherSchema,
        ]),
      )
      .min(1, 'a silence needs at least one matcher'),
    startsAt: instant.optional(),
    endsAt: instant.optional(),
    /** Instead of endsAt: how long from startsAt, e.g. "2h", "30m". */
    duration: z.string().optional(),
    comment: z.string().min(1).max(2000),
    createdBy: z.string().min(1).max(200).optional(),
  })
  .strict()
  .refine((b) => (b.endsAt === undefined) !== (b.duration === undefined), {
    message: 'give endsAt or duration (one of them)',
    path: ['endsAt'],
  });

export function registerAlertRoutes(routes: RouteTable, ctx: ServerContext): void {
  routes.add({
    method: 'GET',
    url: '/api/v1/alerts',
    summary: 'Alerts, newest first: ?state=pending,firing (the default: active ones), resolved, or all; ?limit',
    tag: 'monitoring',
    access: 'user',
    async handler({ query }) {
      const wanted = query.state === undefined ? ['pending', 'firing'] : query.state === 'all' ? [...STATES] : query.state.split(',');
      for (const s of wanted)
        if (!STATES.includes(s as AlertStateValue)) throw new ApiError(400, `state: expected pending, firing, resolved or all, got "${s}"`);
      const limit = integerParam(query, 'limit', { min: 1, max: MAX_PAGE, fallback: 100 });
      const rows = await listAlerts(ctx.store.db, { states: wanted as AlertStateValue[], limit });
      return rows.map(alertView);
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/alerts/:id',
    summary: 'One alert, with its notifications and actions (to whom, sent or not, attempts, last error)',
    tag: 'monitoring',
    access: 'user',
    async handler({ params }) {
      const id = idParam(params.id, 'id');
      const found = await alertWithNotifications(ctx.store.db, id);
      if (!found) throw new ApiError(404, `no alert ${id}`);
      const { alert, notifications } = found;
      return {
        ...alertView(alert),
        notifications: notifications.map((n) => ({
          id: n.id,
          notifier: n.notifier,
          event: n.event,
          status: n.status,
          attempts: n.attempts,
          createdAt: iso(n.created_at),
          sentAt: n.sent_at === null ? null : iso(n.sent_at),
          lastError: n.last_error,
          result: n.result,
        })),
      };
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/silences',
    summary:
      'Silence the notifications of alerts whose labels match every matcher, from startsAt (default now) to endsAt (or for duration)',
    tag: 'monitoring',
    access: 'user',
    body: silenceBody,
    async handler({ body, principal, reply }) {
      const now = ctx.clock.now();
      const startsAt = body.startsAt === undefined ? now : Date.parse(body.startsAt);
      let endsAt: number;
      if (body.duration !== undefined) {
        const seconds = parseDuration(body.duration);
        if (seconds === null || seconds <= 0)
          throw new ApiError(400, `duration: expected a duration such as 2h or 30m, got "${body.duration}"`);
        endsAt = startsAt + seconds * 1000;
      } else endsAt = Date.parse(body.endsAt!);
      if (endsAt <= startsAt) throw new ApiError(400, 'endsAt: must be after startsAt');
      if (endsAt <= now) throw new ApiError(400, 'endsAt: must be in the future');
      const silence = await addSilence(ctx.store.db, {
        matchers: body.matchers,
        startsAt,
        endsAt,
        comment: body.comment,
        createdBy: body.createdBy ?? actorOf(principal).name,
        now,
      });
      ctx.log.info(
        { silenceId: silence.id, matchers: body.matchers.map(formatMatcher), until: iso(endsAt), by: silence.created_by },
        'silence added',
      );
      reply.code(201);
      return silenceView(silence, now);
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/silences',
    summary: 'Silences that are active or yet to start (?all=1: expired ones too)',
    tag: 'monitoring',
    access: 'user',
    async handler({ query }) {
      const now = ctx.clock.now();
      const silences = await listSilences(ctx.store.db, { ended: query.all === '1' || query.all === 'true', now, limit: MAX_PAGE });
      return silences.map((s) => silenceView(s, now));
    },
  });

  routes.add({
    method: 'DELETE',
    url: '/api/v1/silences/:id',
    summary: 'Expire a silence now (it stays listed with ?all=1)',
    tag: 'monitoring',
    access: 'user',
    async handler({ params, principal }) {
      const id = idParam(params.id, 'id');
      const now = ctx.clock.now();
      const silence = await expireSilence(ctx.store.db, { silenceId: id, now });
      if (!silence) throw new ApiError(404, `no silence ${id}`);
      ctx.log.info({ silenceId: id, by: actorOf(principal).name }, 'silence expired');
      return silenceView(silence, now);
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/freezes',
    summary: 'Deploy freezes of SLOs whose error budget is spent (?all=1: lifted ones too; ?repo=), with who overrode them',
    tag: 'monitoring',
    access: 'user',
    async handler({ query }) {
      return listFreezes(ctx.store.db, { all: query.all === '1' || query.all === 'true', repo: query.repo || undefined });
    },
  });
}
