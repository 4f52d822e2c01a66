// Deploy freezes of the error budget policy: an SLO with freezeDeploys whose budget is spent
// freezes its environment (src/monitor/alerting/state.ts starts and lifts them with the alert);
// deploys to it wait like those to a protected environment (src/scheduler/advance.ts). Playing
// such a deploy is a maintainer's override, which is recorded here for the audit.
import type { Kysely } from 'kysely';
import type { FreezeView } from '../api/index.js';
import type { Database, Job } from '../store/index.js';

/** What the audit log records of an override. */
export interface FreezeOverrideEvent {
  action: 'deploy_freeze.override';
  actor: string;
  repo: string;
  environment: string;
  jobId: number;
  pipelineId: number;
  slos: string[];
  at: number;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export async function listFreezes(db: Kysely<Database>, options: { all?: boolean; repo?: string } = {}): Promise<FreezeView[]> {
  let q = db.selectFrom('deploy_freezes').selectAll().orderBy('id', 'desc').limit(500);
  if (!options.all) q = q.where('lifted_at', 'is', null);
  if (options.repo) q = q.where('repo', '=', options.repo);
  const freezes = await q.execute();
  const overrides =
    freezes.length === 0
      ? []
      : await db
          .selectFrom('freeze_overrides')
          .selectAll()
          .where(
            'freeze_id',
            'in',
            freezes.map((f) => f.id),
          )
          .orderBy('id')
          .execute();
  return freezes.map((f) => ({
    id: f.id,
    repo: f.repo,
    environment: f.environment,
    slo: f.slo,
    alertId: f.alert_id,
    startedAt: iso(f.started_at)!,
    liftedAt: iso(f.lifted_at),
    overrides: overrides.filter((o) => o.freeze_id === f.id).map((o) => ({ jobId: o.job_id, actor: o.actor, at: iso(o.created_at)! })),
  }));
}

/**
 * Called before a manual job is played: when it deploys to a frozen environment, playing it
 * overrides the freeze. Records who did it on each active freeze of the environment; returns the
 * audit event (for the caller to log), or null when nothing was frozen.
 */
export async function recordFreezeOverride(
  db: Kysely<Database>,
  input: { job: Job; actor: string; now: number },
): Promise<FreezeOverrideEvent | null> {
  const { job, actor, now } = input;
  if (job.status !== 'manual' || job.environment === null) return null;
  const repo = await db.selectFrom('repos').select('name').where('id', '=', job.repo_id).executeTakeFirst();
  if (!repo) return null;
  const frozen = await db
    .selectFrom('deploy_freezes')
    .select(['id', 'slo'])
    .where('repo', '=', repo.name)
    .where('environment', '=', job.environment)
    .where('lifted_at', 'is', null)
    .execute();
  if (frozen.length === 0) return null;
  await db
    .insertInto('freeze_overrides')
    .values(frozen.map((f) => ({ freeze_id: f.id, job_id: job.id, actor, created_at: now })))
    .execute();
  const event: FreezeOverrideEvent = {
    action: 'deploy_freeze.override',
    actor,
    repo: repo.name,
    environment: job.environment,
    jobId: job.id,
    pipelineId: job.pipeline_id,
    slos: frozen.map((f) => f.slo),
    at: now,
  };
  return event;
}
