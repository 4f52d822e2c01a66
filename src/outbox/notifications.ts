// The `notification` topic of the outbox. The writer runs in the scheduler's transaction that
// changed a pipeline's status: for a pipeline that failed, succeeded or waits for a manual action
// it finds the matching subscriptions in one query (none when nobody subscribes), and asks for the
// previous finished pipeline of the ref only when a success has a `fixed` subscriber. Each message
// is small (subscription, pipeline, event); the handler gathers what it says when it is sent: the
// failed jobs, the line of each job's log where it failed, and links to them.
import { createHmac } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { z } from 'zod';
import { roleIn, type Keyring } from '../auth/index.js';
import { failingLogLine, type FailingLine } from '../pipeline/index.js';
import type { NotificationEvent } from '../api/index.js';
import { PostRefused, postJson, smtpMailer, type Mailer, type SmtpSettings } from '../monitor/index.js';
import type { Database, Job, NotificationSubscription, StatusChange } from '../store/index.js';
import type { OutboxDelivery, OutboxMessage } from './outbox.js';
import { DeliveryDeferred, DeliveryRefused, type OutboxHandler } from './sender.js';
import type { OutboxWriter } from './writers.js';
import {
  notificationEmail,
  notificationSlackPayload,
  notificationTeamsPayload,
  notificationWebhookBody,
  type NotificationFacts,
  type NotifiedJob,
} from './notification-content.js';
import { emailRecipients, readSubscriptionEvents, subscriptionSecret } from './subscriptions.js';

/** The statuses a notification is about; every other change concerns no subscriber. */
const NOTIFIED = new Set(['failed', 'success', 'manual']);

/** The payload of a notification row. */
const payloadSchema = z.object({
  subscriptionId: z.number().int(),
  pipelineId: z.number().int(),
  event: z.enum(['failed', 'fixed', 'success', 'manual']),
});
export type NotificationPayload = z.infer<typeof payloadSchema>;

interface Candidate {
  id: number;
  repoId: number | null;
  userId: number | null;
  events: NotificationEvent[];
  admin: boolean;
  /** For a user's subscription: the changed repositories the user is a member of. */
  memberOf: Set<number>;
}

/** Whether a subscription covers a repository's pipelines: its own, or one its user can read. */
function covers(c: Candidate, repoId: number): boolean {
  if (c.repoId !== null && c.repoId !== repoId) return false;
  return c.userId === null || c.admin || c.memberOf.has(repoId);
}

/** The event a subscription hears of for a pipeline that reached `status`; null: none. */
function eventFor(c: Candidate, status: string, fixed: boolean): NotificationEvent | null {
  if (status === 'failed' || status === 'manual') return c.events.includes(status) ? status : null;
  if (fixed && c.events.includes('fixed')) return 'fixed';
  return c.events.includes('success') ? 'success' : null;
}

/**
 * The pipelines among `ids` that fixed their ref: the previous finished (success or failed)
 * pipeline of the same repository and ref failed. Canceled and skipped pipelines say nothing about
 * the ref, as in GitLab; a downstream pipeline is compared with downstream ones only.
 */
async function fixedPipelines(trx: Kysely<Database>, ids: number[]): Promise<Set<number>> {
  const rows = await trx
    .selectFrom('pipelines as p')
    .select((eb) => [
      'p.id',
      eb
        .selectFrom('pipelines as prev')
        .select('prev.status')
        .whereRef('prev.repo_id', '=', 'p.repo_id')
        .whereRef('prev.ref', '=', 'p.ref')
        .whereRef('prev.is_tag', '=', 'p.is_tag')
        .whereRef('prev.id', '<', 'p.id')
        .where('prev.status', 'in', ['success', 'failed'])
        .where(sql<boolean>`(prev.parent_pipeline_id is null) = (p.parent_pipeline_id is null)`)
        .orderBy('prev.id', 'desc')
        .limit(1)
        .as('previous'),
    ])
    .where('p.id', 'in', ids)
    .execute();
  return new Set(rows.filter((r) => r.previous === 'failed').map((r) => r.id));
}

export const notificationMessages: OutboxWriter = async (trx, changes) => {
  // A pipeline changed twice in one transaction is told of once, as it ended up.
  const last = new Map<number, StatusChange>();
  for (const c of changes) if (c.type === 'pipeline') last.set(c.id, c);
  const pipelines = [...last.values()].filter((c) => NOTIFIED.has(c.status));
  if (pipelines.length === 0) return [];
  const repoIds = [...new Set(pipelines.map((c) => c.repoId))];
  // One query: the active subscriptions of these repositories and the users' own, with whether each
  // user may read them (an admin reads all; anyone else, the repositories they are a member of).
  const rows = await trx
    .selectFrom('notification_subscriptions as s')
    .leftJoin('users as u', 'u.id', 's.user_id')
    .leftJoin('memberships as m', (join) => join.onRef('m.user_id', '=', 's.user_id').on('m.repo_id', 'in', repoIds))
    .select(['s.id', 's.repo_id', 's.user_id', 's.events', 'u.admin', 'm.repo_id as member_of'])
    .where('s.active', '=', 1)
    .where((eb) => eb.or([eb('s.repo_id', 'in', repoIds), eb.and([eb('s.repo_id', 'is', null), eb('s.user_id', 'is not', null)])]))
    .where((eb) => eb.or([eb('s.user_id', 'is', null), eb('u.admin', '=', 1), eb('m.repo_id', 'is not', null)]))
    .orderBy('s.id')
    .execute();
  if (rows.length === 0) return [];
  const candidates = new Map<number, Candidate>();
  for (const r of rows) {
    let c = candidates.get(r.id);
    if (!c) {
      c = {
        id: r.id,
        repoId: r.repo_id,
        userId: r.user_id,
        events: readSubscriptionEvents(r.events, r.id),
        admin: r.admin === 1,
        memberOf: new Set(),
      };
      candidates.set(r.id, c);
    }
    if (r.member_of !== null) c.memberOf.add(r.member_of);
  }
  const wantsFixed = pipelines.filter(
    (p) => p.status === 'success' && [...candidates.values()].some((c) => c.events.includes('fixed') && covers(c, p.repoId)),
  );
  const fixed = wantsFixed.length > 0 ? await fixedPipelines(trx, [...new Set(wantsFixed.map((p) => p.id))]) : new Set<number>();
  const messages: OutboxMessage[] = [];
  for (const p of pipelines) {
    for (const c of candidates.values()) {
      if (!covers(c, p.repoId)) continue;
      const event = eventFor(c, p.status, fixed.has(p.id));
      if (event === null) continue;
      const payload: NotificationPayload = { subscriptionId: c.id, pipelineId: p.id, event };
      messages.push({ topic: 'notification', key: `notify:${c.id}`, repoId: p.repoId, payload, coalesce: false });
    }
  }
  return messages;
};

/** Failed jobs listed in one message. */
const MAX_JOBS = 20;

export interface NotificationHandlerDeps {
  db: Kysely<Database>;
  /** A job's log in pages of chunks, oldest first (the scheduler's readLogPages). */
  logPages(jobId: number): AsyncIterable<readonly { data: string }[]>;
  keyring: Keyring;
  /** This Tandem's URL, for links (read at send time: a server knows it once it listens). */
  externalUrl(): string;
  /** The server's `smtp:` setting; without it, email subscriptions cannot be sent (retried until configured). */
  smtp: SmtpSettings | undefined;
  now(): number;
  /** Why the server must not post to a subscription's URL now (an address inside its network); null: it may. */
  refuseTarget?(url: string, subscription: NotificationSubscription): Promise<string | null>;
  timeoutMs?: number;
}

function jobFacts(externalUrl: string, job: Job, logLine: FailingLine | null): NotifiedJob {
  const url = `${externalUrl}/jobs/${job.id}`;
  return {
    id: job.id,
    name: job.name,
    stage: job.stage,
    failureReason: job.failure_reason,
    allowFailure: job.allow_failure === 1,
    url,
    logLine: logLine === null ? null : { ...logLine, url: `${url}#L${logLine.number}` },
  };
}

/** Where a failed job failed: the line stored when it ended, else (a job that ended before migration 029, or whose log says nothing) its log read now. */
async function failedAt(deps: NotificationHandlerDeps, job: Job): Promise<FailingLine | null> {
  if (job.failure_line !== null && job.failure_line_text !== null) return { number: job.failure_line, text: job.failure_line_text };
  return failingLogLine(deps.logPages(job.id));
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** What the message says, read now: the pipeline as it is, its failed jobs and their failing lines. */
async function gatherFacts(deps: NotificationHandlerDeps, payload: NotificationPayload): Promise<NotificationFacts | null> {
  const pipeline = await deps.db
    .selectFrom('pipelines as p')
    .innerJoin('repos as r', 'r.id', 'p.repo_id')
    .selectAll('p')
    .select('r.name as repo_name')
    .where('p.id', '=', payload.pipelineId)
    .executeTakeFirst();
  if (!pipeline) return null;
  const base = deps.externalUrl().replace(/\/+$/, '');
  // Only a failure lists jobs (its failed ones) and a manual wait (the jobs to play); a success lists none.
  const listed = payload.event === 'failed' || payload.event === 'manual' ? payload.event : null;
  const jobs =
    listed === null
      ? []
      : await deps.db
          .selectFrom('jobs')
          .selectAll()
          .where('pipeline_id', '=', pipeline.id)
          .where('retried', '=', 0)
          .where('status', '=', listed)
          .orderBy('stage_index')
          .orderBy('id')
          .limit(MAX_JOBS)
          .execute();
  const withLines = await Promise.all(jobs.map(async (j) => jobFacts(base, j, listed === 'failed' ? await failedAt(deps, j) : null)));
  return {
    event: payload.event,
    pipeline: {
      id: pipeline.id,
      repository: pipeline.repo_name,
      ref: pipeline.ref,
      sha: pipeline.sha,
      status: pipeline.status,
      source: pipeline.source,
      url: `${base}/pipelines/${pipeline.id}`,
      commitMessage: pipeline.commit_message,
      commitAuthor: pipeline.commit_author,
      error: pipeline.error,
      createdAt: iso(pipeline.created_at)!,
      finishedAt: iso(pipeline.finished_at),
    },
    failedJobs: payload.event === 'failed' ? withLines : [],
    manualJobs: payload.event === 'manual' ? withLines : [],
  };
}

/** Whether a user's subscription still may hear of this repository (access can be lost after the message was written). */
async function stillReadable(db: Kysely<Database>, sub: NotificationSubscription, repoId: number): Promise<boolean> {
  if (sub.user_id === null) return true;
  const user = await db.selectFrom('users').select('admin').where('id', '=', sub.user_id).executeTakeFirst();
  if (!user) return false;
  return user.admin === 1 || (await roleIn(db, repoId, sub.user_id)) !== null;
}

/** Teams' connectors answer 200 and say "HTTP error 429" in the body when they throttle. */
const TEAMS_THROTTLED = /HTTP error 429/;
/** Answers that will not change on a retry: the target is wrong or gone. */
const PERMANENT = new Set([400, 401, 403, 404, 405, 410, 413, 422]);

export function createNotificationHandler(deps: NotificationHandlerDeps): OutboxHandler {
  // Not pooled: each message opens its own SMTP connection, so nothing stays open to close.
  let mailer: Mailer | null = null;
  const timeoutMs = deps.timeoutMs ?? 10_000;
  // Every subscription that hears of a pipeline has a message of its own, and the sender delivers
  // them side by side: those in flight together share one reading of the facts (the failed jobs'
  // logs are the costly part), each still reading the pipeline as it is when sent.
  const gathering = new Map<string, Promise<NotificationFacts | null>>();
  function factsOf(payload: NotificationPayload): Promise<NotificationFacts | null> {
    const key = `${payload.pipelineId}:${payload.event}`;
    let facts = gathering.get(key);
    if (facts === undefined) {
      facts = gatherFacts(deps, payload).finally(() => gathering.delete(key));
      gathering.set(key, facts);
    }
    return facts;
  }

  async function post(sub: NotificationSubscription, body: unknown, headers: Record<string, string> = {}): Promise<string> {
    const refused = deps.refuseTarget ? await deps.refuseTarget(sub.target, sub) : null;
    if (refused !== null) throw new DeliveryRefused(`notification ${sub.id} (${sub.type}): ${refused}`);
    try {
      return await postJson(`notification ${sub.id} (${sub.type})`, sub.target, body, { timeoutMs, headers, followRedirects: false });
    } catch (err) {
      if (!(err instanceof PostRefused)) throw err;
      if (err.status === 429) throw new DeliveryDeferred(deps.now() + (err.retryAfterMs ?? 60_000), err.message);
      if (PERMANENT.has(err.status)) throw new DeliveryRefused(err.message);
      // A redirect could lead anywhere, inside the server's network too: the subscription must name the final URL.
      if (err.status >= 300 && err.status < 400)
        throw new DeliveryRefused(`${err.message} (redirects are not followed: give the final URL)`);
      throw err;
    }
  }

  return {
    topic: 'notification',
    async deliver(d: OutboxDelivery): Promise<string> {
      const parsed = payloadSchema.safeParse(d.payload);
      if (!parsed.success) throw new DeliveryRefused(`notification ${d.id}: unreadable payload: ${parsed.error.message}`);
      const payload = parsed.data;
      const sub = await deps.db
        .selectFrom('notification_subscriptions')
        .selectAll()
        .where('id', '=', payload.subscriptionId)
        .executeTakeFirst();
      if (!sub) return 'dropped: the subscription was deleted';
      if (sub.active !== 1) return 'dropped: the subscription is inactive';
      const facts = await factsOf(payload);
      if (facts === null) return 'dropped: the pipeline was deleted';
      if (d.repoId !== null && !(await stillReadable(deps.db, sub, d.repoId))) return 'dropped: the user can no longer read the repository';
      switch (sub.type) {
        case 'email': {
          if (!deps.smtp) throw new Error(`notification ${sub.id} (email): no SMTP server is configured (the smtp: setting)`);
          mailer ??= smtpMailer(deps.smtp);
          const to = emailRecipients(sub.target);
          await mailer.send(`notification ${sub.id} (email)`, {
            to,
            ...notificationEmail(facts),
            // The same for every attempt of this message: a mail filter can drop a repeat.
            headers: { 'X-Tandem-Notification': String(d.id), 'X-Tandem-Event': facts.event },
          });
          return `sent to ${to.length} address${to.length === 1 ? '' : 'es'}`;
        }
        case 'slack':
          await post(sub, notificationSlackPayload(facts));
          return 'sent';
        case 'teams': {
          const answer = await post(sub, notificationTeamsPayload(facts));
          if (TEAMS_THROTTLED.test(answer))
            throw new DeliveryDeferred(deps.now() + 60_000, `notification ${sub.id} (teams): throttled: ${answer.slice(0, 200)}`);
          return 'sent';
        }
        case 'webhook': {
          const timestamp = Math.floor(deps.now() / 1000);
          const body = JSON.stringify(notificationWebhookBody(facts, { id: d.id, subscriptionId: sub.id, timestamp }));
          const secret = await subscriptionSecret(deps.keyring, sub);
          const headers: Record<string, string> = {
            'x-tandem-event': facts.event,
            'x-tandem-delivery': String(d.id),
            'x-tandem-timestamp': String(timestamp),
          };
          if (secret !== null) headers['x-tandem-signature'] = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
          await post(sub, body, headers);
          return 'sent';
        }
      }
    },
  };
}
