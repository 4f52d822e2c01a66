// Hands the oldest runnable job to an agent. One transaction: choose, guard-update, take a fencing
// token, advance the pipeline. On SQLite the transaction holds the write lock from its start, so two
// claims cannot pick the same job; the `status = 'pending'` guard and the row count check keep the
// UPDATE safe without that lock too (PostgreSQL will add FOR UPDATE SKIP LOCKED to the select).
import type { CompiledJob } from '../../pipeline/types.js';
import type { Store } from '../../store/index.js';
import type { Job, Pipeline, Repo } from '../../store/schema.js';
import { advanceInTransaction, parseSpec } from '../advance.js';
import { SchedulerError } from '../errors.js';
import { ChangeLog, type StatusChange } from '../events.js';
import { nextFencingToken } from './next-fencing-token.js';

export interface ClaimInput {
  agentId: number;
  agentTags: string[];
  leaseMs: number;
  now: number;
}

export interface ClaimedJob {
  job: Job;
  spec: CompiledJob;
  pipeline: Pipeline;
  repo: Repo;
  fencingToken: number;
  changes: StatusChange[];
}

const PAGE = 100;

export async function claimJob(store: Store, input: ClaimInput): Promise<ClaimedJob | null> {
  if (!(input.leaseMs > 0)) throw new SchedulerError(422, `claim: leaseMs must be positive, got ${input.leaseMs}`);
  const agentTags = new Set(input.agentTags);
  const changes = new ChangeLog();
  const { now } = input;

  const claimed = await store.transaction(async (trx) => {
    const busy = await trx
      .selectFrom('jobs')
      .select(['repo_id', 'resource_group'])
      .where('status', '=', 'running')
      .where('resource_group', 'is not', null)
      .execute();
    const busyGroups = new Set(busy.map((b) => `${b.repo_id}\n${b.resource_group}`));
    const runnable = (job: Job): boolean =>
      (JSON.parse(job.tags) as string[]).every((t) => agentTags.has(t)) &&
      (job.resource_group === null || !busyGroups.has(`${job.repo_id}\n${job.resource_group}`));

    // Tags are JSON, so they are matched here; page through the queue oldest first (GitLab orders by id).
    for (let afterId = 0; ; ) {
      const page = await trx.selectFrom('jobs').selectAll().where('status', '=', 'pending').where('id', '>', afterId).orderBy('id').limit(PAGE).execute();
      for (const job of page) {
        if (!runnable(job)) continue;
        const token = await nextFencingToken(trx);
        const res = await trx
          .updateTable('jobs')
          .set({
            status: 'running',
            agent_id: input.agentId,
            fencing_token: token,
            started_at: now,
            lease_expires_at: now + input.leaseMs,
            deadline_at: now + job.timeout_seconds * 1000,
          })
          .where('id', '=', job.id)
          .where('status', '=', 'pending')
          .executeTakeFirst();
        if (Number(res.numUpdatedRows) !== 1) continue;
        changes.job(job, 'running');
        await advanceInTransaction(trx, job.pipeline_id, now, changes);
        const row = await trx.selectFrom('jobs').selectAll().where('id', '=', job.id).executeTakeFirstOrThrow();
        const pipeline = await trx.selectFrom('pipelines').selectAll().where('id', '=', job.pipeline_id).executeTakeFirstOrThrow();
        const repo = await trx.selectFrom('repos').selectAll().where('id', '=', job.repo_id).executeTakeFirstOrThrow();
        return { job: row, spec: parseSpec(row), pipeline, repo, fencingToken: token };
      }
      if (page.length < PAGE) return null;
      afterId = page[page.length - 1].id;
    }
  });
  return claimed && { ...claimed, changes: changes.list };
}
