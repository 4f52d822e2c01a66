// Tandem's built-in SLIs without Prometheus: every replica adds what its metrics counted since its
// last flush to the current minute's row of sli_counts, and an evaluation sums the rows of each
// window. The counts are read from the same metrics the Prometheus rules use, so both see the same
// events; a replica that dies loses at most its last unflushed seconds. The counters behind
// Tandem's own alerts (database connection errors, artifact store errors) are recorded the same
// way, so the leader sees every replica's errors.
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../store/index.js';
import type { SloEvaluationTable } from '../store/index.js';
import { SLI_WINDOWS, errorBudget, evaluateBurn, scaledWindowMs, windowMs, type Counts, type SliWindow } from './burn.js';
import type { BudgetPoint, SloStatus } from '../api/index.js';
import type { Metrics } from './metrics.js';
import { BUILTIN_SLOS, type Series, type Sli, type Slo } from './slo.js';

const BUCKET_MS = 60_000;
const FLUSH_EVERY_MS = 15_000;
const MIN_FLUSH_EVERY_MS = 100;
const PRUNE_EVERY_MS = 3_600_000;
const STOP_FLUSH_MS = 2000;
/** Rows older than the longest period (and a day of slack) are no longer in any window. */
const KEEP_MS = Math.max(...BUILTIN_SLOS.map((s) => windowMs(s.period))) + 86_400_000;

/** A counter recorded beside the SLIs, for an alert on every replica's errors: its rows have errors = total = the increase. */
export interface CountedSignal {
  name: string;
  series: Series;
}

export const COUNTED_SIGNALS = {
  dbConnectionErrors: { name: 'db-connection-errors', series: { metric: 'tandem_db_errors_total', match: { kind: 'connection' } } },
  artifactStoreErrors: { name: 'artifact-store-errors', series: { metric: 'tandem_artifact_store_errors_total' } },
} as const satisfies Record<string, CountedSignal>;

/** What a flush records: each built-in SLI, and each counted signal as a ratio of itself. */
const RECORDED: readonly { name: string; sli: Sli }[] = [
  ...BUILTIN_SLOS.map((s) => ({ name: s.name, sli: s.sli })),
  ...Object.values(COUNTED_SIGNALS).map((c) => ({ name: c.name, sli: { kind: 'events' as const, errors: c.series, total: c.series } })),
];

function matches(labels: Partial<Record<string, string | number>>, match: Record<string, string> | undefined): boolean {
  return Object.entries(match ?? {}).every(([label, re]) => new RegExp(`^(?:${re})$`).test(String(labels[label] ?? '')));
}

async function seriesSum(metrics: Metrics, series: Series, metricName = series.metric): Promise<number> {
  const metric = metrics.registry.getSingleMetric(series.metric);
  if (!metric) throw new Error(`SLI metric ${series.metric} is not registered`);
  const { values } = await metric.get();
  // A histogram's values are its _bucket, _count and _sum series, told apart by metricName.
  return values
    .filter((v) => ((v as { metricName?: string }).metricName ?? series.metric) === metricName && matches(v.labels, series.match))
    .reduce((sum, v) => sum + v.value, 0);
}

/** Bad and total events this process has counted since it started, for an SLI Tandem measures itself. */
export async function processCounts(metrics: Metrics, sli: Sli): Promise<Counts> {
  switch (sli.kind) {
    case 'events':
      return { errors: await seriesSum(metrics, sli.errors), total: await seriesSum(metrics, sli.total) };
    case 'latency': {
      if (sli.selector !== '') throw new Error(`SLI ${sli.metric}: a label selector needs Prometheus`);
      const total = await seriesSum(metrics, { metric: sli.metric }, `${sli.metric}_count`);
      const fast = await seriesSum(metrics, { metric: sli.metric, match: { le: String(sli.threshold) } }, `${sli.metric}_bucket`);
      return { errors: total - fast, total };
    }
    case 'promql':
      throw new Error('a PromQL SLI needs Prometheus');
  }
}

export interface SliRecorderDeps {
  db: Kysely<Database>;
  metrics: Metrics;
  /** The database's clock: replicas must agree on the minute. */
  now: () => number;
  log: Logger;
  /** sloWindowScale: buckets, flushes and retention shrink with the windows (1 in production). */
  scale?: number;
}

export class SliRecorder {
  readonly #flushed = new Map<string, Counts>();
  #running: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #lastPrune = 0;

  constructor(private readonly deps: SliRecorderDeps) {}

  get #scale(): number {
    return this.deps.scale ?? 1;
  }

  start(): void {
    this.#timer = setInterval(() => void this.flush(), Math.max(MIN_FLUSH_EVERY_MS, FLUSH_EVERY_MS / this.#scale)).unref();
  }

  /** Writes the counts since the last flush; one flush at a time. A failed write is retried with the next flush's counts. */
  flush(): Promise<void> {
    this.#running = this.#running.then(() =>
      this.#flushOnce().catch((err: unknown) => this.deps.log.warn({ err: (err as Error).message }, 'could not record SLI counts')),
    );
    return this.#running;
  }

  /** Stops flushing after a last flush, which a database that does not answer does not hold up for long. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.flush(), new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_FLUSH_MS)))]);
    clearTimeout(timer);
  }

  async #flushOnce(): Promise<void> {
    const now = this.deps.now();
    const bucketMs = Math.max(1, Math.round(BUCKET_MS / this.#scale));
    const bucket = Math.floor(now / bucketMs) * bucketMs;
    for (const slo of RECORDED) {
      const current = await processCounts(this.deps.metrics, slo.sli);
      const last = this.#flushed.get(slo.name) ?? { errors: 0, total: 0 };
      const delta = { errors: current.errors - last.errors, total: current.total - last.total };
      if (delta.errors === 0 && delta.total === 0) continue;
      await this.deps.db
        .insertInto('sli_counts')
        .values({ sli: slo.name, bucket, ...delta })
        .onConflict((oc) =>
          oc.columns(['sli', 'bucket']).doUpdateSet((eb) => ({
            errors: eb('sli_counts.errors', '+', eb.ref('excluded.errors')),
            total: eb('sli_counts.total', '+', eb.ref('excluded.total')),
          })),
        )
        .execute();
      this.#flushed.set(slo.name, current);
    }
    if (now - this.#lastPrune >= PRUNE_EVERY_MS / this.#scale) {
      this.#lastPrune = now;
      await this.deps.db
        .deleteFrom('sli_counts')
        .where('bucket', '<', now - KEEP_MS / this.#scale)
        .execute();
    }
  }
}

/** Options of an evaluation from the recorded counts. */
export interface RecordedOptions {
  /** sloWindowScale (1 in production). */
  scale?: number;
}

/** Bad and total events of an SLI per window of the burn-rate table and over its period, ending now (to the minute). */
export async function recordedCounts(
  db: Kysely<Database>,
  slo: Slo,
  now: number,
  options: RecordedOptions = {},
): Promise<{ windows: Record<SliWindow, Counts>; period: Counts }> {
  const spans = [...SLI_WINDOWS, slo.period] as const;
  const span = (w: (typeof spans)[number]) => scaledWindowMs(w, options.scale);
  const sums = spans.flatMap((w, i) => {
    const since = now - span(w);
    return [
      sql<number>`sum(case when bucket >= ${since} then errors else 0 end)`.as(`e${i}`),
      sql<number>`sum(case when bucket >= ${since} then total else 0 end)`.as(`t${i}`),
    ];
  });
  const oldest = now - Math.max(...spans.map(span));
  const row = (await db
    .selectFrom('sli_counts')
    .select(sums)
    .where('sli', '=', slo.name)
    .where('bucket', '>=', oldest)
    .executeTakeFirst()) as Record<string, unknown> | undefined;
  // PostgreSQL sums bigints as numeric, which arrives as text.
  const counts = (i: number): Counts => ({ errors: Number(row?.[`e${i}`] ?? 0), total: Number(row?.[`t${i}`] ?? 0) });
  return {
    windows: Object.fromEntries(SLI_WINDOWS.map((w, i) => [w, counts(i)])) as Record<SliWindow, Counts>,
    period: counts(SLI_WINDOWS.length),
  };
}

/**
 * The built-in SLOs evaluated from the recorded counts: burn rates, alerts firing and budget left
 * (the alerting duty raises its alerts from this).
 */
export async function evaluateBuiltinSlos(db: Kysely<Database>, now: number, options: RecordedOptions = {}): Promise<SloStatus[]> {
  return Promise.all(
    BUILTIN_SLOS.map(async (slo) => ({
      ...sloSummary(slo),
      evaluation: evaluateBurn(slo.objective, slo.period, await recordedCounts(db, slo, now, options)),
    })),
  );
}

/** How much a counted signal rose, over all replicas, in the `windowMs` before now. */
export async function recordedIncrease(db: Kysely<Database>, signal: CountedSignal, now: number, windowMs: number): Promise<number> {
  const row = await db
    .selectFrom('sli_counts')
    .select((eb) => eb.fn.sum<number | string>('errors').as('n'))
    .where('sli', '=', signal.name)
    .where('bucket', '>=', now - windowMs)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

export function sloSummary(slo: Slo): Omit<SloStatus, 'evaluation'> {
  return {
    name: slo.name,
    description: slo.description,
    objective: slo.objective,
    period: slo.period,
    repo: slo.repo,
    environment: slo.environment,
    builtin: slo.builtin,
  };
}

/**
 * The error budget's burn-down over the SLO's period, in `slots` equal slots ending now, from the
 * recorded counts (GET /api/v1/slos?history=1). Budget spent is counted against the period's events
 * so far, so the line only falls and ends at the current evaluation's budget remaining.
 */
export async function recordedBudgetHistory(
  db: Kysely<Database>,
  slo: Slo,
  now: number,
  options: RecordedOptions & { slots: number },
): Promise<BudgetPoint[]> {
  const period = scaledWindowMs(slo.period, options.scale);
  const slotMs = Math.max(1, Math.floor(period / options.slots));
  const since = now - slotMs * options.slots;
  const rows = await db
    .selectFrom('sli_counts')
    .select([
      sql<number | string>`cast((bucket - ${since}) / ${slotMs} as integer)`.as('slot'),
      (eb) => eb.fn.sum<number | string>('errors').as('errors'),
      (eb) => eb.fn.sum<number | string>('total').as('total'),
    ])
    .where('sli', '=', slo.name)
    .where('bucket', '>=', since)
    .groupBy('slot')
    .execute();
  const perSlot = new Map(
    rows.map((r) => [Math.min(Number(r.slot), options.slots - 1), { errors: Number(r.errors), total: Number(r.total) }]),
  );
  const allEvents = [...perSlot.values()].reduce((sum, c) => sum + c.total, 0);
  const allowed = errorBudget(slo.objective) * allEvents;
  let spent = 0;
  return Array.from({ length: options.slots }, (_, i) => {
    const counts = perSlot.get(i) ?? { errors: 0, total: 0 };
    spent += counts.errors;
    return { at: new Date(since + (i + 1) * slotMs).toISOString(), ...counts, remaining: allowed > 0 ? 1 - spent / allowed : 1 };
  });
}

/** The declared SLOs as the leader last measured them through Prometheus, by SLO name. */
export async function recordedSloEvaluations(db: Kysely<Database>): Promise<Map<string, Selectable<SloEvaluationTable>>> {
  const rows = await db.selectFrom('slo_evaluations').selectAll().execute();
  return new Map(rows.map((r) => [r.slo, r]));
}
