// Alerting, with every replica stateless: alerts and their states, the outbox of notifications
// (written in the transaction that changes an alert, sent after commit, marked once delivered),
// silences, deploy freezes of an error budget policy and their overrides, the last evaluation of
// each declared SLO, a heartbeat row per server replica, and the few facts the leader compares
// from one evaluation to the next (the leader's epoch, the database host).
import { sql, type Kysely } from 'kysely';
import type { StoreDialect } from '../dialect.js';
import { withId } from './id-column.js';

export async function up(db: Kysely<unknown>, dialect: StoreDialect): Promise<void> {
  const s = db.schema;
  await s
    .createTable('replicas')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('hostname', 'text', (c) => c.notNull())
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
    .execute();

  await withId(s.createTable('alerts'), dialect)
    // sha256 of the labels (alertname included): the identity that deduplicates an alert.
    .addColumn('fingerprint', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('severity', 'text', (c) => c.notNull())
    // The rule that raised it; an evaluation that could not run leaves its alerts as they are.
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('labels', 'text', (c) => c.notNull())
    .addColumn('annotations', 'text', (c) => c.notNull())
    .addColumn('value', 'double precision')
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('active_at', 'bigint', (c) => c.notNull())
    .addColumn('fired_at', 'bigint')
    .addColumn('resolved_at', 'bigint')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('silenced_by', 'bigint')
    .execute();
  // One pending or firing alert per fingerprint, even if two replicas both believed they led.
  await s
    .createIndex('alerts_active_fingerprint')
    .unique()
    .on('alerts')
    .column('fingerprint')
    .where(sql.ref('state'), '<>', 'resolved')
    .execute();
  await s.createIndex('alerts_state').on('alerts').columns(['state', 'id']).execute();

  await withId(s.createTable('alert_notifications'), dialect)
    .addColumn('alert_id', 'bigint', (c) => c.notNull().references('alerts.id').onDelete('cascade'))
    // A configured notifier's name, or an action such as (rollback).
    .addColumn('notifier', 'text', (c) => c.notNull())
    .addColumn('event', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
    .addColumn('claimed_until', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('sent_at', 'bigint')
    .addColumn('last_error', 'text')
    .addColumn('result', 'text')
    // A firing (or resolved) message goes to a notifier once per alert.
    .addUniqueConstraint('alert_notifications_once', ['alert_id', 'notifier', 'event'])
    .execute();
  await s.createIndex('alert_notifications_due').on('alert_notifications').columns(['status', 'next_attempt_at']).execute();

  await withId(s.createTable('silences'), dialect)
    .addColumn('matchers', 'text', (c) => c.notNull())
    .addColumn('starts_at', 'bigint', (c) => c.notNull())
    .addColumn('ends_at', 'bigint', (c) => c.notNull())
    .addColumn('comment', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await s.createIndex('silences_ends_at').on('silences').column('ends_at').execute();

  // By names, not ids: an SLO may be declared for an environment before its first deploy.
  await withId(s.createTable('deploy_freezes'), dialect)
    .addColumn('repo', 'text', (c) => c.notNull())
    .addColumn('environment', 'text', (c) => c.notNull())
    .addColumn('slo', 'text', (c) => c.notNull())
    .addColumn('alert_id', 'bigint')
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('lifted_at', 'bigint')
    .execute();
  await s
    .createIndex('deploy_freezes_active')
    .unique()
    .on('deploy_freezes')
    .columns(['repo', 'environment', 'slo'])
    .where(sql.ref('lifted_at'), 'is', null)
    .execute();

  await withId(s.createTable('freeze_overrides'), dialect)
    .addColumn('freeze_id', 'bigint', (c) => c.notNull().references('deploy_freezes.id').onDelete('cascade'))
    .addColumn('job_id', 'bigint', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await s
    .createTable('slo_evaluations')
    .addColumn('slo', 'text', (c) => c.primaryKey())
    .addColumn('evaluation', 'text')
    .addColumn('error', 'text')
    .addColumn('evaluated_at', 'bigint', (c) => c.notNull())
    .execute();

  await s
    .createTable('alerting_state')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}
