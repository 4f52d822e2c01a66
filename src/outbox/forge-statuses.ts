// Commit statuses on the forge (issue 17, item 1): the writer turns a transaction's status changes
// into one message per (commit, context) state, and the handler sends each with the repository's
// forge client. The key is the commit and context, coalescing: a pipeline that goes pending →
// running → passed faster than the forge answers sends only its newest state, and a state equal to
// the last one sent is never posted again (GitHub keeps at most 1000 statuses per commit and context).
import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Keyring } from '../auth/index.js';
import type { Metrics } from '../monitor/index.js';
import { forgeConnectionOf, forgeCredentialVersion, type RepoForgeRow } from '../repos/index.js';
import {
  createForgeStatusClient,
  ForgeRateLimitedError,
  ForgeRequestError,
  type CommitState,
  type CommitStatus,
  type ForgeStatusClient,
} from '../source/index.js';
import type { Database, RunStatus, StatusChange, Store } from '../store/index.js';
import type { OutboxDelivery, OutboxMessage } from './outbox.js';
import { DeliveryDeferred, DeliveryRefused, type OutboxHandler } from './sender.js';

export const FORGE_STATUS_TOPIC = 'forge_status';

/** A pending status stays pending on the forge: 'created' and 'scheduled' are not worth a state of their own. */
const COMMIT_STATE: Record<RunStatus, CommitState> = {
  created: 'pending',
  pending: 'pending',
  scheduled: 'pending',
  running: 'running',
  success: 'success',
  failed: 'failed',
  canceled: 'canceled',
  skipped: 'skipped',
  manual: 'manual',
};

const STATE_WORDS: Record<CommitState, string> = {
  pending: 'pending',
  running: 'running',
  success: 'passed',
  failed: 'failed',
  canceled: 'canceled',
  skipped: 'skipped',
  manual: 'waiting for a manual action',
};

/**
 * Which repositories report to a forge, remembered for a few seconds so that the transactions of
 * repositories without one (most claims, on most installations) make no query at all. A change of
 * the settings on any replica reaches every replica's `forgetForgeRepo` through the event hub;
 * REPO_FORGE_TTL_MS bounds how long a lost event leaves a replica behind.
 */
const REPO_FORGE_TTL_MS = 10_000;
const repoForges = new Map<number, { statuses: 'pipeline' | 'jobs' | null; until: number }>();
/** Counts forgets, so that a query that began before one does not put back what it read. */
let forgets = 0;

/** The repository's forge settings changed: the next transaction reads them again. */
export function forgetForgeRepo(repoId: number): void {
  forgets++;
  repoForges.delete(repoId);
}

/** Pipeline pages as the web UI serves them; the handler puts the server's externalUrl in front. */
export function pipelinePath(pipelineId: number): string {
  return `/pipelines/${pipelineId}`;
}
function jobPath(jobId: number): string {
  return `/jobs/${jobId}`;
}

/** The outbox writer of commit statuses: one message per pipeline change (and per job change with `statuses: jobs`). */
export async function forgeStatusMessages(trx: Kysely<Database>, changes: readonly StatusChange[], now: number): Promise<OutboxMessage[]> {
  const unknownOrForge = changes.some((c) => {
    const known = repoForges.get(c.repoId);
    return known === undefined || known.until < now || known.statuses !== null;
  });
  if (!unknownOrForge) return [];
  const pipelineIds = [...new Set(changes.map((c) => c.pipelineId))];
  const forgetsBefore = forgets;
  // The one query: each pipeline's commit and name with its repository's forge setting.
  const rows = await trx
    .selectFrom('pipelines')
    .innerJoin('repos', 'repos.id', 'pipelines.repo_id')
    .select([
      'pipelines.id',
      'pipelines.sha',
      'pipelines.ref',
      'pipelines.name',
      'pipelines.repo_id',
      'repos.forge_type',
      'repos.forge_statuses',
    ])
    .where('pipelines.id', 'in', pipelineIds)
    .execute();
  if (forgets === forgetsBefore)
    for (const r of rows)
      repoForges.set(r.repo_id, { statuses: r.forge_type === null ? null : r.forge_statuses, until: now + REPO_FORGE_TTL_MS });
  const pipelines = new Map(rows.filter((r) => r.forge_type !== null).map((r) => [r.id, r]));
  const messages: OutboxMessage[] = [];
  for (const c of changes) {
    const p = pipelines.get(c.pipelineId);
    if (!p || (c.type === 'job' && p.forge_statuses !== 'jobs')) continue;
    const pipelineContext = `tandem/${p.name ?? 'pipeline'}`;
    const state = COMMIT_STATE[c.status];
    const status: CommitStatus =
      c.type === 'pipeline'
        ? {
            sha: p.sha,
            context: pipelineContext,
            state,
            description: `Pipeline #${p.id} ${STATE_WORDS[state]}`,
            targetUrl: pipelinePath(p.id),
            ref: p.ref,
            pipelineId: p.id,
          }
        : {
            sha: p.sha,
            context: `${pipelineContext}/${c.name}`,
            state,
            description: `${c.name} ${STATE_WORDS[state]}`,
            targetUrl: jobPath(c.id),
            ref: p.ref,
            pipelineId: p.id,
          };
    messages.push({
      topic: FORGE_STATUS_TOPIC,
      key: `forge:${p.repo_id}:${p.sha}:${status.context}`,
      repoId: p.repo_id,
      payload: status,
      coalesce: true,
    });
  }
  return messages;
}

/** What the forge shows is the same: never post it again. */
function sameOnForge(a: CommitStatus, b: CommitStatus): boolean {
  return a.state === b.state && a.description === b.description && a.targetUrl === b.targetUrl;
}

export interface ForgeStatusHandlerDeps {
  store: Store;
  secrets: { keyring: Keyring };
  metrics: Metrics;
  log: Logger;
  /** Read at each delivery: a server knows its URL once it listens. */
  externalUrl: () => string;
  /** Per forge request. */
  timeoutMs: number;
  now: () => number;
}

const FORGE_COLUMNS = [
  'id',
  'forge_type',
  'forge_api_url',
  'forge_project',
  'forge_token',
  'forge_token_key_id',
  'forge_app_id',
  'forge_app_key',
  'forge_app_key_key_id',
  'forge_installation_id',
] as const;

/** The handler of the forge_status topic. */
export function forgeStatusHandler(deps: ForgeStatusHandlerDeps): OutboxHandler {
  // Clients by repository, rebuilt when its settings or credential change (an App's token is cached inside).
  const clients = new Map<number, { version: string; client: ForgeStatusClient; limit: string }>();
  // A rate limit is the credential's, not one message's: until it ends, no status goes out with that
  // credential from this replica (another replica learns it from its own first refusal).
  const limitedUntil = new Map<string, number>();
  const count = (forge: string, result: string) => deps.metrics.forgeStatusDeliveries.inc({ forge, result });

  async function clientOf(repo: RepoForgeRow): Promise<{ client: ForgeStatusClient; limit: string }> {
    const version = forgeCredentialVersion(repo);
    const cached = clients.get(repo.id);
    if (cached?.version === version) return cached;
    const connection = await forgeConnectionOf({ store: deps.store, secrets: deps.secrets }, repo);
    if (!connection) throw new DeliveryRefused('the repository has no forge');
    let client: ForgeStatusClient;
    try {
      client = createForgeStatusClient(connection, { timeoutMs: deps.timeoutMs, now: deps.now });
    } catch (err) {
      throw new DeliveryRefused(`${repo.forge_type}: ${(err as Error).message}`);
    }
    const credential = connection.app ? `app:${connection.app.appId}` : `token:${connection.token ?? ''}`;
    const limit = createHash('sha256').update(`${connection.apiUrl}\n${credential}`).digest('base64url');
    const entry = { version, client, limit };
    clients.set(repo.id, entry);
    return entry;
  }

  return {
    topic: FORGE_STATUS_TOPIC,
    async deliver(d: OutboxDelivery): Promise<string> {
      const status = d.payload as CommitStatus;
      const repo =
        d.repoId === null
          ? undefined
          : await deps.store.db.selectFrom('repos').select(FORGE_COLUMNS).where('id', '=', d.repoId).executeTakeFirst();
      const forge = repo?.forge_type ?? 'none';
      if (d.lastSentPayload !== null && sameOnForge(d.lastSentPayload as CommitStatus, status)) {
        count(forge, 'unchanged');
        return 'unchanged';
      }
      if (!repo || repo.forge_type === null) {
        // The forge was removed (or the repository) after the status was written: nothing to send it to.
        count(forge, 'no_forge');
        return 'no forge';
      }
      const { client, limit } = await clientOf(repo);
      const until = limitedUntil.get(limit) ?? 0;
      if (until > deps.now()) {
        count(forge, 'rate_limited');
        throw new DeliveryDeferred(until, `${forge}: rate limited until ${new Date(until).toISOString()}`);
      }
      const full: CommitStatus = {
        ...status,
        targetUrl: status.targetUrl.startsWith('/') ? deps.externalUrl() + status.targetUrl : status.targetUrl,
      };
      try {
        // An earlier attempt may have reached the forge: its replica died mid-request (uncertain), or
        // it timed out or got a 5xx after the forge applied it. Ask before posting the state again.
        if ((d.uncertain || d.attempts > 1) && (await client.alreadySet(full))) {
          count(forge, 'already_set');
          return 'already set';
        }
        await client.setStatus(full);
        count(forge, 'sent');
        return 'sent';
      } catch (err) {
        if (err instanceof ForgeRateLimitedError) {
          limitedUntil.set(limit, Math.max(err.retryAt, limitedUntil.get(limit) ?? 0));
          count(forge, 'rate_limited');
          throw new DeliveryDeferred(err.retryAt, err.message);
        }
        if (err instanceof ForgeRequestError && !err.retryable) {
          count(forge, 'refused');
          throw new DeliveryRefused(err.message);
        }
        count(forge, 'retry');
        throw err;
      }
    },
  };
}
