// Webhook intake: verify the provider's signature with the repository's secret, drop replays by
// delivery id (a unique key, so two replicas receiving the same delivery create one pipeline) and
// by the body's digest (the delivery id header is not signed: a replay under a new id has the same
// body), and turn the push into a pipeline.
import { createHash } from 'node:crypto';
import { WEBHOOK_PROVIDERS, type WebhookProvider } from '../../api/index.js';
import { DomainError } from '../../errors.js';
import { repoWantsRef, requireRepo, webhookSecretOf } from '../../repos/index.js';
import { triggerForDelivery, type DeliveryResult } from '../../scheduler/index.js';
import { parseWebhook, WebhookError, type ForgeProject, type PushEvent } from '../../source/index.js';
import type { Repo } from '../../repos/index.js';
import type { ServerContext } from '../context.js';
import type { RouteTable } from '../http.js';
import { publishChanges } from '../notify.js';

/** GitLab's merge request variables, each project as the forge named it (left out when it did not). */
function mergeRequestVariables(event: PushEvent): Record<string, string> {
  const mr = event.mergeRequest;
  if (!mr) return {};
  const vars: Record<string, string> = {
    CI_MERGE_REQUEST_IID: String(mr.iid),
    CI_MERGE_REQUEST_REF_PATH: event.ref,
    CI_MERGE_REQUEST_SOURCE_BRANCH_NAME: mr.sourceBranch,
    CI_MERGE_REQUEST_SOURCE_BRANCH_SHA: event.sha,
    CI_MERGE_REQUEST_TARGET_BRANCH_NAME: mr.targetBranch,
    CI_MERGE_REQUEST_TITLE: mr.title,
    // Tandem builds the source branch's head, which GitLab calls a detached merge request pipeline.
    CI_MERGE_REQUEST_EVENT_TYPE: 'detached',
  };
  const named = (prefix: string, project: ForgeProject) => {
    if (project.id !== null) vars[`${prefix}_ID`] = project.id;
    if (project.path !== null) vars[`${prefix}_PATH`] = project.path;
    if (project.url !== null) vars[`${prefix}_URL`] = project.url;
  };
  named('CI_MERGE_REQUEST_SOURCE_PROJECT', mr.sourceProject);
  named('CI_MERGE_REQUEST_PROJECT', mr.targetProject);
  return vars;
}

async function pipelineForEvent(
  ctx: ServerContext,
  repo: Repo,
  provider: WebhookProvider,
  delivery: { id: string; digest: string },
  event: PushEvent,
): Promise<DeliveryResult> {
  const mr = event.kind === 'merge_request' ? event.mergeRequest : undefined;
  const mergeRequest = mr && {
    iid: mr.iid,
    sourceBranch: mr.sourceBranch,
    targetBranch: mr.targetBranch,
    sourceProject: mr.sourceProject.path ?? mr.sourceProject.id,
    fork: mr.fromFork,
  };
  const result = await triggerForDelivery(ctx, {
    repo,
    // A merge request runs the forge's ref for it (refs/pull/1/head), never refs/heads/<source
    // branch>: a fork's branch called main is not this repository's main.
    ref: event.ref,
    sha: event.sha,
    beforeSha: event.beforeSha,
    source: mr ? 'merge_request_event' : 'push',
    variables: mergeRequestVariables(event),
    mergeRequest,
    awaitingApproval: mergeRequest?.fork === true && repo.fork_pull_requests !== 'run',
    event: {
      provider,
      deliveryId: delivery.id,
      payloadDigest: delivery.digest,
      kind: event.kind,
      ref: event.ref,
      sha: event.sha,
      beforeSha: event.beforeSha,
    },
  });
  publishChanges(ctx, result.changes);
  return result;
}

export function registerHookRoutes(routes: RouteTable, ctx: ServerContext): void {
  for (const provider of WEBHOOK_PROVIDERS) {
    routes.add({
      method: 'POST',
      url: `/api/v1/hooks/${provider}/:repo`,
      summary: `Receive a ${provider} webhook (push, tag, merge/pull request); authenticated by its signature`,
      tag: 'webhooks',
      access: 'public',
      rawBody: true,
      bodyLimit: 'webhook',
      async handler({ params, request, reply }) {
        const reject = (reason: 'signature' | 'payload' | 'unknown_repo') => {
          ctx.metrics.webhooks.inc({ provider, result: 'rejected' });
          ctx.metrics.webhookRejects.inc({ provider, reason });
        };
        let repo: Repo;
        try {
          repo = await requireRepo(ctx.store, params.repo);
        } catch (err) {
          if (err instanceof DomainError && err.kind === 'not_found') reject('unknown_repo');
          throw err;
        }
        const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        let parsed;
        try {
          parsed = parseWebhook(provider, request.headers, raw, await webhookSecretOf(ctx, repo));
        } catch (err) {
          if (err instanceof WebhookError) {
            reject(err.kind === 'unauthenticated' ? 'signature' : 'payload');
            request.log.warn({ provider, repo: repo.name, reason: err.message }, 'webhook rejected');
          }
          throw err;
        }
        const live = parsed.events.filter((e) => !e.deleted);
        // Merge requests are filtered by their target branch, pushes by their own ref.
        const events = live.filter((e) => repoWantsRef(repo, e.mergeRequest ? `refs/heads/${e.mergeRequest.targetBranch}` : e.ref));
        if (events.length === 0) {
          ctx.metrics.webhooks.inc({ provider, result: 'ignored' });
          const reason =
            parsed.ignoredReason ??
            (live.length < parsed.events.length
              ? 'ref deleted'
              : live.length > 0
                ? 'ref excluded by the repository’s branch/tag filters'
                : 'event type not handled');
          return { accepted: false, reason };
        }
        // One delivery can move several refs (Bitbucket); each gets its own dedupe key.
        const pipelineIds: number[] = [];
        const skipped: string[] = [];
        let duplicates = 0;
        const digest = createHash('sha256').update(raw).digest('hex');
        for (const [index, event] of events.entries()) {
          const suffix = index === 0 ? '' : `#${index}`;
          const created = await pipelineForEvent(ctx, repo, provider, { id: parsed.deliveryId + suffix, digest: digest + suffix }, event);
          if (created.duplicate) duplicates++;
          else if (created.pipelineId !== null) ctx.metrics.webhookToPipeline.observe({ provider }, reply.elapsedTime / 1000);
          if (created.pipelineId !== null) pipelineIds.push(created.pipelineId);
          if (created.skippedReason) skipped.push(created.skippedReason);
        }
        if (duplicates === events.length) {
          ctx.metrics.webhooks.inc({ provider, result: 'duplicate' });
          return { accepted: false, duplicate: true, pipelineId: pipelineIds[0] ?? null, pipelineIds };
        }
        if (pipelineIds.length === 0) {
          ctx.metrics.webhooks.inc({ provider, result: 'ignored' });
          return { accepted: false, reason: `no pipeline: ${skipped.join('; ')}`, pipelineIds };
        }
        ctx.metrics.webhooks.inc({ provider, result: 'accepted' });
        reply.code(201);
        return { accepted: true, pipelineId: pipelineIds[0] ?? null, pipelineIds };
      },
    });
  }
}
