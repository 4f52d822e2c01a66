// The alerting duty. Every replica writes its heartbeat row; the leader alone evaluates every
// alert (the built-in SLOs from the recorded counts, declared SLOs through Prometheus, Tandem's own
// signals), records the changes with their outbox rows in one transaction, and then sends what
// is due. Replicas hold nothing: a new leader carries on from the database.
import { hostname } from 'node:os';
import type { Kysely } from 'kysely';
import { routeOf, type AlertingConfig } from '../monitor/index.js';
import { createNotifier, type Notifier, alertView } from '../monitor/index.js';
import { deliverDue, firingToldTo, type DeliveryOutcome } from '../monitor/index.js';
import { SIGNAL_WINDOW_MS, selfConditions, type Remembered, type SelfSignals } from '../monitor/index.js';
import { evaluateWithPrometheus, sloConditions, type SloAlertOptions } from '../monitor/index.js';
import { ROLLBACK_ACTION, applyEvaluation, pruneAlerts, type AlertChange, type SourceResult } from '../monitor/index.js';
import type { SloEvaluation } from '../monitor/index.js';
import { readAlertLabels, readRemembered } from '../monitor/index.js';
import { COUNTED_SIGNALS, evaluateBuiltinSlos, recordedIncrease } from '../monitor/index.js';
import { allSlos, BUILTIN_SLOS, type Slo } from '../monitor/index.js';
import type { Alert, Database } from '../store/index.js';
import { environmentOfAlert, rollbackOnAlert } from '../releases/index.js';
import type { ServerContext } from './context.js';
import { publishChanges } from './notify.js';

const DELIVER_EVERY_MS = 1000;
/** Stopping waits this long at most for work in flight and the heartbeat row's removal: a database that does not answer must not hold up a shutdown. */
const STOP_WAIT_MS = 2000;
const PRUNE_EVERY_MS = 3_600_000;
/** Heartbeat rows of replicas gone this long are deleted (their alert, if any, resolves). */
const FORGET_REPLICA_MS = 86_400_000;

export interface EvaluationReport {
  at: number;
  /** Milliseconds per SLO (built-in and declared) and for Tandem's own signals. */
  timings: Record<string, number>;
  changes: AlertChange[];
  /** Declared SLOs that could not be evaluated, and why. */
  failures: Record<string, string>;
}

export interface AlertingService {
  /** The leader's evaluation, run now (the duty runs it every evaluationIntervalSeconds). */
  evaluate(): Promise<EvaluationReport>;
  /** Sends the outbox's due messages now. */
  deliver(): Promise<DeliveryOutcome[]>;
  stop(): Promise<void>;
}

async function remember(db: Kysely<Database>, key: string, current: string, now: number): Promise<Remembered> {
  const row = await db.selectFrom('alerting_state').select(['key', 'value']).where('key', '=', key).executeTakeFirst();
  const known = row ? readRemembered(row) : null;
  if (known && known.value === current) return known;
  const next: Remembered = { value: current, previous: known?.value ?? null, changedAt: now };
  await db
    .insertInto('alerting_state')
    .values({ key, value: JSON.stringify(next), updated_at: now })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value: JSON.stringify(next), updated_at: now }))
    .execute();
  return next;
}

async function selfSignals(ctx: ServerContext, now: number): Promise<SelfSignals> {
  const db = ctx.store.db;
  const scale = ctx.config.sloWindowScale;
  const leaderRow = await db.selectFrom('leases').select('holder').where('name', '=', 'leader').executeTakeFirst();
  const host = ctx.store.host();
  const window = SIGNAL_WINDOW_MS / scale;
  return {
    now,
    leaseMs: ctx.config.leaseSeconds * 1000,
    replicas: (await db.selectFrom('replicas').selectAll().execute()).map((r) => ({
      id: r.id,
      hostname: r.hostname,
      startedAt: r.started_at,
      lastSeenAt: r.last_seen_at,
    })),
    leader: leaderRow ? await remember(db, 'leader', leaderRow.holder, now) : null,
    databaseHost: host === null ? null : await remember(db, 'database_host', host, now),
    dbConnectionErrors: await recordedIncrease(db, COUNTED_SIGNALS.dbConnectionErrors, now, window),
    artifactStoreErrors: await recordedIncrease(db, COUNTED_SIGNALS.artifactStoreErrors, now, window),
    dr: await ctx.metrics.readDrSignals(),
    scale,
  };
}

async function recordEvaluation(
  db: Kysely<Database>,
  slo: string,
  now: number,
  result: { evaluation: SloEvaluation } | { error: string },
): Promise<void> {
  const values = {
    evaluation: 'evaluation' in result ? JSON.stringify(result.evaluation) : null,
    error: 'error' in result ? result.error : null,
    evaluated_at: now,
  };
  const set = 'evaluation' in result ? values : { error: values.error, evaluated_at: now };
  await db
    .insertInto('slo_evaluations')
    .values({ slo, ...values })
    .onConflict((oc) => oc.column('slo').doUpdateSet(set))
    .execute();
}

/** Runs on every replica; `isLeader` decides who evaluates and sends. */
export function startAlerting(ctx: ServerContext, isLeader: () => boolean): AlertingService {
  const setup = loadSetup(ctx);
  const startedAt = ctx.clock.now();
  const heartbeat = () => writeHeartbeat(ctx, startedAt);
  const pruneDue = every(PRUNE_EVERY_MS);
  const lastResend = new Map<string, number>();
  // One evaluation and one delivery pass at a time, whoever asks (the loops, tests, benchmarks).
  const evaluate = oneAtATime(() => evaluateOnce(ctx, setup, pruneDue));
  const deliver = oneAtATime(() => deliverOnce(ctx, setup.notifiers, lastResend));
  const loops = schedule(ctx, isLeader, [
    { everyMs: (ctx.config.leaseSeconds * 1000) / 3, leaderOnly: false, work: heartbeat, what: 'replica heartbeat' },
    {
      everyMs: setup.config.evaluationIntervalSeconds * 1000,
      leaderOnly: true,
      work: async () => {
        await evaluate();
        await deliver();
      },
      what: 'alert evaluation',
    },
    { everyMs: DELIVER_EVERY_MS, leaderOnly: true, work: deliver, what: 'alert delivery' },
  ]);
  void heartbeat().catch((err: unknown) => ctx.log.warn({ err: (err as Error).message }, 'replica heartbeat failed'));

  return {
    evaluate,
    deliver,
    async stop() {
      await loops.stop();
      // A replica that stops on purpose is not down.
      await boundedWait(ctx.store.db.deleteFrom('replicas').where('id', '=', ctx.replicaId).execute());
      for (const n of setup.notifiers.values()) n.close();
    },
  };
}

/** What the duty reads once, when it starts. */
interface AlertingSetup {
  config: AlertingConfig;
  notifiers: Map<string, Notifier>;
  /** The SLOs of the configuration, evaluated through Prometheus when it is set. */
  declared: Slo[];
  sloOptions: SloAlertOptions;
}

function loadSetup(ctx: ServerContext): AlertingSetup {
  const config = ctx.config.alerting;
  const notifiers = new Map<string, Notifier>(config.notifiers.map((n) => [n.name, createNotifier(n)]));
  const declared = allSlos(ctx.config.slos, { builtin: false });
  if (declared.length > 0 && !ctx.config.prometheusUrl) {
    ctx.log.info(
      { slos: declared.map((s) => s.name) },
      'declared SLOs are measured by Prometheus alone: set prometheusUrl for Tandem to evaluate them, raise their alerts and apply their freeze policy',
    );
  }
  return { config, notifiers, declared, sloOptions: { runbookBase: config.sloRunbookUrl, rollback: config.rollbackOnSloAlerts } };
}

async function writeHeartbeat(ctx: ServerContext, startedAt: number): Promise<void> {
  const now = ctx.clock.now();
  await ctx.store.db
    .insertInto('replicas')
    .values({ id: ctx.replicaId, hostname: hostname(), version: ctx.version, started_at: startedAt, last_seen_at: now })
    .onConflict((oc) => oc.column('id').doUpdateSet({ last_seen_at: now }))
    .execute();
}

/** The leader's pass: every source's conditions now, the alerts' transitions, and now and then a prune. */
async function evaluateOnce(ctx: ServerContext, setup: AlertingSetup, pruneDue: (now: number) => boolean): Promise<EvaluationReport> {
  // This replica's latest counts count too; the others' arrive within their flush interval.
  await ctx.sli.flush();
  const now = ctx.clock.now();
  const { timed, timings } = stopwatch();
  const builtin = await builtinSloSources(ctx, setup, now, timed);
  const declared = await declaredSloSources(ctx, setup, now, timed);
  const self = await selfSources(ctx, setup, now, timed);
  const changes = await transition(ctx, setup.config, now, [...builtin, ...declared.sources, ...self]);
  for (const [slo, error] of Object.entries(declared.failures)) ctx.log.warn({ slo, err: error }, 'SLO not evaluated');
  if (pruneDue(now)) await prune(ctx.store.db, now);
  return { at: now, timings, changes, failures: declared.failures };
}

type Timed = <T>(name: string, work: () => Promise<T>) => Promise<T>;

/** Times named pieces of work, for the evaluation's report. */
function stopwatch(): { timed: Timed; timings: Record<string, number> } {
  const timings: Record<string, number> = {};
  const timed: Timed = async (name, work) => {
    const t0 = performance.now();
    try {
      return await work();
    } finally {
      timings[name] = performance.now() - t0;
    }
  };
  return { timed, timings };
}

async function builtinSloSources(ctx: ServerContext, setup: AlertingSetup, now: number, timed: Timed): Promise<SourceResult[]> {
  const scale = ctx.config.sloWindowScale;
  const builtin = await timed('builtin', () => evaluateBuiltinSlos(ctx.store.db, now, { scale }));
  return builtin.map((status) => {
    const slo = BUILTIN_SLOS.find((s) => s.name === status.name) as Slo;
    return { source: `slo:${slo.name}`, conditions: sloConditions(slo, status.evaluation!, setup.sloOptions) };
  });
}

/** The declared SLOs through Prometheus, each evaluation recorded; those that failed, and why. */
async function declaredSloSources(
  ctx: ServerContext,
  setup: AlertingSetup,
  now: number,
  timed: Timed,
): Promise<{ sources: SourceResult[]; failures: Record<string, string> }> {
  const sources: SourceResult[] = [];
  const failures: Record<string, string> = {};
  const prometheusUrl = ctx.config.prometheusUrl;
  if (!prometheusUrl) return { sources, failures };
  const db = ctx.store.db;
  const scale = ctx.config.sloWindowScale;
  await Promise.all(
    setup.declared.map(async (slo) => {
      try {
        const evaluation = await timed(slo.name, () => evaluateWithPrometheus(prometheusUrl, slo, scale));
        await recordEvaluation(db, slo.name, now, { evaluation });
        sources.push({ source: `slo:${slo.name}`, conditions: sloConditions(slo, evaluation, setup.sloOptions) });
      } catch (err) {
        // Its alerts stay as they are: an unreachable Prometheus is not a recovery.
        failures[slo.name] = (err as Error).message;
        await recordEvaluation(db, slo.name, now, { error: failures[slo.name] });
      }
    }),
  );
  return { sources, failures };
}

async function selfSources(ctx: ServerContext, setup: AlertingSetup, now: number, timed: Timed): Promise<SourceResult[]> {
  const signals = await timed('self', () => selfSignals(ctx, now));
  return selfConditions(setup.config, signals);
}

/** Moves the alerts to their new states with their outbox rows, and logs each change. */
async function transition(ctx: ServerContext, config: AlertingConfig, now: number, sources: SourceResult[]): Promise<AlertChange[]> {
  const changes = await applyEvaluation(ctx.store, { now, sources, route: (severity) => routeOf(config, severity) });
  for (const c of changes) {
    const labels = readAlertLabels(c.alert);
    ctx.log.info(
      { alert: c.alert.name, alertId: c.alert.id, labels, from: c.from, to: c.to, silencedBy: c.alert.silenced_by },
      `alert ${c.to}`,
    );
  }
  return changes;
}

async function prune(db: Kysely<Database>, now: number): Promise<void> {
  await pruneAlerts(db, now);
  await db
    .deleteFrom('replicas')
    .where('last_seen_at', '<', now - FORGET_REPLICA_MS)
    .execute();
}

/** The leader's delivery pass: the outbox's due messages, then the firing alerts again to each Alertmanager that is due. */
async function deliverOnce(
  ctx: ServerContext,
  notifiers: Map<string, Notifier>,
  lastResend: Map<string, number>,
): Promise<DeliveryOutcome[]> {
  const outcomes = await sendDue(ctx, notifiers);
  await resendFiring(ctx, notifiers, lastResend);
  return outcomes;
}

async function sendDue(ctx: ServerContext, notifiers: Map<string, Notifier>): Promise<DeliveryOutcome[]> {
  const act = (action: string, alert: Alert) => actOnAlert(ctx, action, alert);
  const outcomes = await deliverDue({ db: ctx.store.db, now: () => ctx.clock.now(), notifiers, externalUrl: ctx.externalUrl, act });
  for (const o of outcomes) {
    const fields = {
      alert: o.alert.name,
      alertId: o.alert.id,
      notifier: o.notification.notifier,
      event: o.notification.event,
      attempt: o.notification.attempts,
    };
    if (o.ok) ctx.log.info({ ...fields, result: o.result }, 'alert notification sent');
    else ctx.log.warn({ ...fields, err: o.error }, 'alert notification failed');
  }
  return outcomes;
}

/** An alert's action (today: rolling its environment back); what came of it, for the outbox row. */
async function actOnAlert(ctx: ServerContext, action: string, alert: Alert): Promise<string> {
  if (action !== ROLLBACK_ACTION) throw new Error(`unknown action ${action}`);
  const labels = readAlertLabels(alert);
  const env = await environmentOfAlert(ctx.store.db, { environment: labels.environment, repo: labels.repo });
  if (!env) return `ignored: repository ${labels.repo} has no environment "${labels.environment}"`;
  const by = `alert: ${alert.name} (${labels.slo ?? alert.id})`;
  const { outcome, changes } = await rollbackOnAlert(ctx, { environment: env, by, now: ctx.clock.now() });
  publishChanges(ctx, changes);
  ctx.log.info({ alertId: alert.id, ...outcome }, 'alert rollback');
  return outcome.action === 'rollback' ? `rollback: release ${outcome.releaseId}, pipeline ${outcome.pipelineId}` : outcome.action;
}

async function resendFiring(ctx: ServerContext, notifiers: Map<string, Notifier>, lastResend: Map<string, number>): Promise<void> {
  const now = ctx.clock.now();
  for (const notifier of notifiers.values()) {
    if (!notifier.resend || notifier.config.type !== 'alertmanager') continue;
    if (now - (lastResend.get(notifier.config.name) ?? 0) < notifier.config.resendSeconds * 1000) continue;
    lastResend.set(notifier.config.name, now);
    const firing = await firingToldTo(ctx.store.db, notifier.config.name);
    await notifier
      .resend(firing.map(alertView), ctx.externalUrl, now)
      .catch((err: unknown) => ctx.log.warn({ notifier: notifier.config.name, err: (err as Error).message }, 'alert resend failed'));
  }
}

/** True when at least everyMs passed since it last said so (counting from 0 the first time). */
function every(everyMs: number): (now: number) => boolean {
  let last = 0;
  return (now) => {
    if (now - last < everyMs) return false;
    last = now;
    return true;
  };
}

/** Runs work one call at a time; a call that failed does not stop the next. */
function oneAtATime<T>(work: () => Promise<T>): () => Promise<T> {
  let last: Promise<unknown> = Promise.resolve();
  return () => {
    const next = last.catch(() => undefined).then(work);
    last = next;
    return next;
  };
}

interface LoopSpec {
  everyMs: number;
  leaderOnly: boolean;
  work: () => Promise<unknown>;
  /** For the log line of a failed pass. */
  what: string;
}

// Each loop runs one pass at a time and skips a beat rather than pile up behind a slow notifier or Prometheus.
function schedule(ctx: ServerContext, isLeader: () => boolean, specs: LoopSpec[]): { stop(): Promise<void> } {
  let stopped = false;
  const loops = specs.map(({ everyMs, leaderOnly, work, what }) => {
    let running = false;
    let current: Promise<void> = Promise.resolve();
    const timer = setInterval(() => {
      if (running || stopped || (leaderOnly && !isLeader())) return;
      running = true;
      current = work()
        .then(() => undefined)
        .catch((err: unknown) => ctx.log.warn({ err: (err as Error).message }, `${what} failed`))
        .finally(() => (running = false));
    }, everyMs);
    return { timer, wait: () => current };
  });
  return {
    async stop() {
      stopped = true;
      for (const l of loops) clearInterval(l.timer);
      await boundedWait(Promise.all(loops.map((l) => l.wait())));
    },
  };
}

/** Waits for work in flight at most STOP_WAIT_MS, whatever becomes of it. */
function boundedWait(work: Promise<unknown>): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([work.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_WAIT_MS)))]).finally(
    () => clearTimeout(timer),
  );
}
