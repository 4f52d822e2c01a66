// Alert states in the database: what the leader's evaluation found becomes pending, firing and
// resolved alerts, and in the same transaction the outbox rows of the notifications (and actions)
// that each change calls for. A new leader finds the states and the outbox as the old one left
// them, so an alert is notified once per notifier, however often leadership changes.
import type { Kysely } from 'kysely';
import type { Alert, AlertStateValue, Database, Silence, Store } from '../../store/index.js';
import { readSilenceMatchers } from '../columns.js';
import type { AlertSeverity } from './config.js';
import { fingerprint, matchesAll, type Labels, type Matcher } from './labels.js';

/** The notifier name of the rollback action in the outbox (not a valid notifier name, so never a clash). */
export const ROLLBACK_ACTION = '(rollback)';

/** A condition that holds now, as an evaluation found it. */
export interface AlertCondition {
  name: string;
  severity: AlertSeverity;
  /** Labels besides alertname and severity. */
  labels: Labels;
  annotations: Labels;
  /** How long it must hold before it fires (pending until then); 0 fires at once. */
  forMs?: number;
  value?: number | null;
  /** Roll this environment back when the alert fires (an SLO of the environment burning). */
  rollback?: { repo: string; environment: string };
  /** Freeze the deploys to this environment while the alert fires (an SLO's budget spent). */
  freeze?: { repo: string; environment: string; slo: string };
}

/** What one source of alerts found. A source that could not evaluate is left out: its alerts stay as they are. */
export interface SourceResult {
  source: string;
  conditions: AlertCondition[];
}

export interface EvaluationInput {
  now: number;
  sources: SourceResult[];
  /** The notifiers of a severity. */
  route(severity: string): string[];
}

export interface AlertChange {
  alert: Alert;
  from: AlertStateValue | null;
  to: AlertStateValue;
}

export function alertLabels(c: Pick<AlertCondition, 'name' | 'severity' | 'labels'>): Labels {
  return { alertname: c.name, severity: c.severity, ...c.labels };
}

export function parseSilence(s: Silence): { id: number; matchers: Matcher[] } {
  return { id: s.id, matchers: readSilenceMatchers(s) };
}

export async function activeSilences(db: Kysely<Database>, now: number): Promise<{ id: number; matchers: Matcher[] }[]> {
  const rows = await db.selectFrom('silences').selectAll().where('starts_at', '<=', now).where('ends_at', '>', now).orderBy('id').execute();
  return rows.map(parseSilence);
}

/**
 * Applies one evaluation. Conditions without an active alert start one (pending, or firing when
 * they need not hold for a while); pending alerts whose condition held long enough fire; active
 * alerts of an evaluated source whose condition is gone resolve. Firing queues a message to each
 * notifier of the severity unless a silence matches (and queues it later, once no silence does);
 * resolving queues one to each notifier that was told of the firing.
 */
export async function applyEvaluation(store: Store, input: EvaluationInput): Promise<AlertChange[]> {
  const { now } = input;
  // Collected inside: on PostgreSQL the transaction may run again after a transient error.
  return store.transaction(async (trx) => {
    const changes: AlertChange[] = [];
    const silences = await activeSilences(trx, now);
    const active = await trx.selectFrom('alerts').selectAll().where('state', '<>', 'resolved').execute();
    const byFingerprint = new Map(active.map((a) => [a.fingerprint, a]));
    const evaluated = new Set(input.sources.map((s) => s.source));
    const holding = new Set<string>();

    const silenceOf = (labels: Labels) => silences.find((s) => matchesAll(s.matchers, labels))?.id ?? null;
    const notifyFiring = async (alert: Alert, silencedBy: number | null) => {
      if (silencedBy !== null) return;
      for (const notifier of input.route(alert.severity)) await enqueue(trx, alert.id, notifier, 'firing', now);
    };
    const fire = async (alert: Alert, c: AlertCondition, silencedBy: number | null) => {
      await notifyFiring(alert, silencedBy);
      // Actions are policies, not messages: a silence mutes people, not the rollback or the freeze.
      if (c.rollback) await enqueue(trx, alert.id, ROLLBACK_ACTION, 'firing', now);
      if (c.freeze) {
        await trx
          .insertInto('deploy_freezes')
          .values({
            repo: c.freeze.repo,
            environment: c.freeze.environment,
            slo: c.freeze.slo,
            alert_id: alert.id,
            started_at: now,
            lifted_at: null,
          })
          .onConflict((oc) => oc.columns(['repo', 'environment', 'slo']).where('lifted_at', 'is', null).doNothing())
          .execute();
      }
    };

    for (const source of input.sources) {
      for (const c of source.conditions) {
        const labels = alertLabels(c);
        const fp = fingerprint(labels);
        if (holding.has(fp)) continue;
        holding.add(fp);
        const silencedBy = silenceOf(labels);
        const facts = { annotations: JSON.stringify(c.annotations), value: c.value ?? null, updated_at: now, silenced_by: silencedBy };
        const existing = byFingerprint.get(fp);
        if (!existing) {
          const state: AlertStateValue = (c.forMs ?? 0) > 0 ? 'pending' : 'firing';
          const alert = await trx
            .insertInto('alerts')
            .values({
              fingerprint: fp,
              name: c.name,
              severity: c.severity,
              source: source.source,
              labels: JSON.stringify(labels),
              state,
              active_at: now,
              fired_at: state === 'firing' ? now : null,
              resolved_at: null,
              ...facts,
            })
            .returningAll()
            .executeTakeFirstOrThrow();
          changes.push({ alert, from: null, to: state });
          if (state === 'firing') await fire(alert, c, silencedBy);
        } else if (existing.state === 'pending' && now - existing.active_at >= (c.forMs ?? 0)) {
          const alert = await trx
            .updateTable('alerts')
            .set({ ...facts, state: 'firing', fired_at: now })
            .where('id', '=', existing.id)
            .returningAll()
            .executeTakeFirstOrThrow();
          changes.push({ alert, from: 'pending', to: 'firing' });
          await fire(alert, c, silencedBy);
        } else {
          const alert = await trx.updateTable('alerts').set(facts).where('id', '=', existing.id).returningAll().executeTakeFirstOrThrow();
          // A silence that ended, or a notifier added since it fired: they hear of it now.
          if (alert.state === 'firing') await notifyFiring(alert, silencedBy);
        }
      }
    }

    for (const alert of active) {
      if (holding.has(alert.fingerprint) || !evaluated.has(alert.source)) continue;
      const resolved = await trx
        .updateTable('alerts')
        .set({ state: 'resolved', resolved_at: now, updated_at: now })
        .where('id', '=', alert.id)
        .where('state', '=', alert.state)
        .returningAll()
        .executeTakeFirst();
      if (!resolved) continue;
      changes.push({ alert: resolved, from: alert.state, to: 'resolved' });
      // A pending alert never fired: nobody was told, nobody is told it is over.
      if (alert.state !== 'firing') continue;
      const told = await trx
        .selectFrom('alert_notifications')
        .select('notifier')
        .where('alert_id', '=', alert.id)
        .where('event', '=', 'firing')
        .where('notifier', '<>', ROLLBACK_ACTION)
        .execute();
      for (const { notifier } of told) await enqueue(trx, alert.id, notifier, 'resolved', now);
      await trx
        .updateTable('deploy_freezes')
        .set({ lifted_at: now })
        .where('alert_id', '=', alert.id)
        .where('lifted_at', 'is', null)
        .execute();
    }
    return changes;
  });
}

async function enqueue(trx: Kysely<Database>, alertId: number, notifier: string, event: 'firing' | 'resolved', now: number): Promise<void> {
  await trx
    .insertInto('alert_notifications')
    .values({
      alert_id: alertId,
      notifier,
      event,
      status: 'pending',
      attempts: 0,
      next_attempt_at: now,
      claimed_until: null,
      created_at: now,
      sent_at: null,
      last_error: null,
      result: null,
    })
    .onConflict((oc) => oc.columns(['alert_id', 'notifier', 'event']).doNothing())
    .execute();
}

/** Resolved alerts older than this are deleted with their notifications. */
export const ALERT_HISTORY_MS = 30 * 86_400_000;

export async function pruneAlerts(db: Kysely<Database>, now: number): Promise<number> {
  const res = await db
    .deleteFrom('alerts')
    .where('state', '=', 'resolved')
    .where('resolved_at', '<', now - ALERT_HISTORY_MS)
    .executeTakeFirst();
  return Number(res.numDeletedRows);
}
