// DORA's four keys per repository and environment, from the release history: deployment frequency,
// lead time for changes, change failure rate and time to restore. Tandem does not store commit
// times, so a commit's time is the creation of its first pipeline (when Tandem first saw the push);
// for commits pushed long before they were built, that understates the lead time.
import type { Kysely } from 'kysely';
import type { DoraMetrics, DoraSlot } from '../api/index.js';
import type { Database, Release } from '../store/index.js';

const DAY_MS = 86_400_000;

export type ReleaseFacts = Pick<Release, 'id' | 'kind' | 'status' | 'sha' | 'rollback_of' | 'digest' | 'created_at' | 'finished_at'>;

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const wentLive = (r: ReleaseFacts): r is ReleaseFacts & { finished_at: number } =>
  (r.status === 'live' || r.status === 'superseded') && r.finished_at !== null;

/** When each failed deploy's failure became known. */
function failures(releases: ReleaseFacts[]): Map<number, number> {
  const known = new Map<number, number>();
  for (const r of releases)
    if (r.kind === 'deploy' && (r.status === 'failed' || r.status === 'rolled_back') && r.finished_at !== null)
      known.set(r.id, r.finished_at);
  const live = releases.filter(wentLive).sort((a, b) => a.finished_at - b.finished_at || a.id - b.id);
  // A rollback that went live blames the deploy it replaced, unless it only restores that very release:
  // an automatic rollback supersedes the good release it restores, after the bad one was marked rolled_back.
  live.forEach((r, i) => {
    const replaced = live[i - 1];
    if (r.kind !== 'rollback' || !replaced || replaced.kind !== 'deploy') return;
    if (replaced.id === r.rollback_of || replaced.digest === r.digest || known.has(replaced.id)) return;
    known.set(replaced.id, r.created_at);
  });
  return known;
}

/**
 * DORA metrics of one environment over [since, until]. `releases` must include, besides the window's,
 * the last release that went live before it (a rollback in the window may blame it). `commitTimes`
 * maps a sha to when its commit was first seen.
 */
export function doraOf(
  environment: string,
  releases: ReleaseFacts[],
  commitTimes: ReadonlyMap<string, number>,
  since: number,
  until: number,
): DoraMetrics {
  const inWindow = (t: number | null) => t !== null && t >= since && t <= until;
  const deploys = releases.filter(
    (r) =>
      r.kind === 'deploy' &&
      r.status !== 'queued' &&
      inWindow(r.finished_at) &&
      ['live', 'superseded', 'failed', 'rolled_back'].includes(r.status),
  );
  const live = deploys.filter(wentLive);
  const failed = failures(releases);
  const leadTimes = live.flatMap((r) => {
    const committed = commitTimes.get(r.sha);
    return committed === undefined ? [] : [(r.finished_at - committed) / 1000];
  });
  const restores: number[] = [];
  let unrestored = 0;
  const liveInOrder = releases.filter(wentLive).sort((a, b) => a.finished_at - b.finished_at || a.id - b.id);
  for (const [id, at] of failed) {
    if (!inWindow(at)) continue;
    const next = liveInOrder.find((r) => r.id !== id && r.finished_at >= at);
    if (next) restores.push((next.finished_at - at) / 1000);
    else unrestored++;
  }
  const days = (until - since) / DAY_MS;
  const failedDeploys = deploys.filter((r) => failed.has(r.id)).length;
  return {
    environment,
    deployments: { total: deploys.length, live: live.length, failed: failedDeploys },
    deploymentFrequency: live.length / days,
    leadTime: { p50Seconds: median(leadTimes), samples: leadTimes.length },
    changeFailureRate: deploys.length === 0 ? null : failedDeploys / deploys.length,
    timeToRestore: { p50Seconds: median(restores), samples: restores.length, unrestored },
  };
}

const FACTS = ['id', 'kind', 'status', 'sha', 'rollback_of', 'digest', 'created_at', 'finished_at'] as const;

/**
 * The window [since, until] in `slots` equal parts. The releases of the whole window serve each part:
 * they hold every part's own and the last one live before it, as doraOf needs.
 */
function doraSeries(
  environment: string,
  releases: ReleaseFacts[],
  commitTimes: ReadonlyMap<string, number>,
  since: number,
  until: number,
  slots: number,
): DoraSlot[] {
  const slotMs = (until - since) / slots;
  return Array.from({ length: slots }, (_, i) => {
    const from = since + i * slotMs;
    const to = i === slots - 1 ? until : from + slotMs;
    const { environment: _name, ...metrics } = doraOf(environment, releases, commitTimes, from, to);
    return { since: new Date(from).toISOString(), until: new Date(to).toISOString(), ...metrics };
  });
}

/** DORA metrics of a repository's environments (or the one named) over the `days` before `now`; `slots`: with a series over that many parts of the window. */
export async function doraForRepo(
  db: Kysely<Database>,
  repoId: number,
  options: { environment?: string; days: number; now: number; slots?: number },
): Promise<DoraMetrics[]> {
  const since = options.now - options.days * DAY_MS;
  let envQuery = db.selectFrom('environments').select(['id', 'name']).where('repo_id', '=', repoId).orderBy('name');
  if (options.environment !== undefined) envQuery = envQuery.where('name', '=', options.environment);
  const environments = await envQuery.execute();
  const out: DoraMetrics[] = [];
  for (const env of environments) {
    const recent = await db
      .selectFrom('releases')
      .select(FACTS)
      .where('environment_id', '=', env.id)
      .where((eb) => eb.or([eb('finished_at', '>=', since), eb('created_at', '>=', since)]))
      .execute();
    const before = await db
      .selectFrom('releases')
      .select(FACTS)
      .where('environment_id', '=', env.id)
      .where('status', 'in', ['live', 'superseded'])
      .where('finished_at', '<', since)
      .orderBy('finished_at', 'desc')
      .orderBy('id', 'desc')
      .limit(1)
      .execute();
    const shas = [...new Set(recent.filter((r) => r.kind === 'deploy').map((r) => r.sha))];
    const commits =
      shas.length === 0
        ? []
        : await db
            .selectFrom('pipelines')
            .select(['sha', (eb) => eb.fn.min('created_at').as('first')])
            .where('repo_id', '=', repoId)
            .where('sha', 'in', shas)
            .groupBy('sha')
            .execute();
    const commitTimes = new Map(commits.map((c) => [c.sha, Number(c.first)]));
    const releases = [...before, ...recent];
    const metrics = doraOf(env.name, releases, commitTimes, since, options.now);
    out.push(
      options.slots === undefined
        ? metrics
        : { ...metrics, series: doraSeries(env.name, releases, commitTimes, since, options.now, options.slots) },
    );
  }
  return out;
}
