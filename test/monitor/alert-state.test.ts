// Alert states and the outbox on SQLite and PostgreSQL: pending, firing and resolved with their
// messages queued in the same transaction, deduplication across evaluations and across two
// "leaders" evaluating and sending at once, silences (and notifications once a silence ends), a
// source that could not evaluate leaving its alerts alone, retries with backoff against a real
// HTTP receiver that fails first, "resolved" never sent before "firing", and deploy freezes.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { alertingSchema } from '../../src/monitor/alerting/config.js';
import { matchesAll, parseMatcher } from '../../src/monitor/alerting/labels.js';
import { createNotifier, type Notifier } from '../../src/monitor/alerting/notifiers.js';
import { deliverDue } from '../../src/monitor/alerting/outbox.js';
import { retryDelayMs } from '../../src/monitor/index.js';
import { applyEvaluation, ROLLBACK_ACTION, type AlertCondition, type EvaluationInput } from '../../src/monitor/alerting/state.js';
import { openStore, type Store } from '../../src/store/index.js';
import { backends } from '../store/helpers.js';
import { HttpSink } from '../support/http-sink.js';

const T0 = 1_750_000_000_000;

const burn: AlertCondition = {
  name: 'TandemErrorBudgetBurn',
  severity: 'page',
  labels: { slo: 'shop-availability', repo: 'shop', environment: 'production' },
  annotations: { summary: 'SLO shop-availability is burning its error budget fast' },
  rollback: { repo: 'shop', environment: 'production' },
};
const slow: AlertCondition = {
  name: 'TandemDatabaseConnectionErrors',
  severity: 'ticket',
  labels: {},
  annotations: { summary: 'db' },
  forMs: 30_000,
};

const route = (severity: string) => (severity === 'page' ? ['hook', 'chat'] : ['hook']);
const evaluation = (now: number, sources: EvaluationInput['sources']): EvaluationInput => ({ now, sources, route });

type Message = { status: string; notificationId: number; alert: { name: string; id: number } };

describe('silence matchers', () => {
  it('match as Alertmanager does: equal, not equal, anchored regular expressions, a missing label as ""', () => {
    const labels = { alertname: 'TandemErrorBudgetBurn', severity: 'page', slo: 'api-availability' };
    assert.ok(matchesAll(['severity=page', 'slo=~api-.*'].map(parseMatcher), labels));
    assert.ok(!matchesAll(['slo=~api'].map(parseMatcher), labels), 'anchored');
    assert.ok(matchesAll(['environment!=production', 'environment='].map(parseMatcher), labels));
    assert.ok(!matchesAll(['severity!~page|ticket'].map(parseMatcher), labels));
    assert.throws(() => parseMatcher('slo'), /matcher "slo": expected name=value/);
    assert.throws(() => parseMatcher('slo=~(unclosed'), /not a regular expression/);
  });

  it('configuration: notifier names default by position, must be unique, and routes must name them', () => {
    const config = alertingSchema.parse({
      notifiers: [
        { type: 'webhook', url: 'http://127.0.0.1:1/x' },
        { type: 'slack', name: 'chat', url: 'http://127.0.0.1:1/y' },
      ],
      routes: { page: ['chat'] },
    });
    assert.deepEqual(
      config.notifiers.map((n) => n.name),
      ['webhook-1', 'chat'],
    );
    const bad = alertingSchema.safeParse({ notifiers: [{ type: 'webhook', url: 'http://x/1' }], routes: { page: ['pager'] } });
    assert.ok(!bad.success);
    assert.match(bad.error.issues[0].message, /no notifier is named "pager" \(known: webhook-1\)/);
    assert.deepEqual(bad.error.issues[0].path, ['routes', 'page', 0]);
    const email = alertingSchema.safeParse({ notifiers: [{ type: 'email', host: 'smtp', from: 'ci@x', to: ['not-an-address'] }] });
    assert.ok(!email.success);
    assert.deepEqual(email.error.issues[0].path, ['notifiers', 0, 'to', 0]);
    // From the environment, the error names the variable but never echoes its value (it holds passwords).
    const env = {
      TANDEM_ALERTING: JSON.stringify({ notifiers: [{ type: 'email', host: 'smtp', from: 'ci@x', to: ['ops@x'], password: 'hunter2' }] }),
    };
    assert.throws(
      () => loadConfig({}, env),
      (err: Error) =>
        /alerting\.notifiers\.0\.password \(from TANDEM_ALERTING\): give user and password together/.test(err.message) &&
        !err.message.includes('hunter2'),
    );
  });
});

for (const backend of backends()) {
  describe(`alert states and outbox on ${backend.name}`, { skip: backend.skip }, () => {
    let db: { url: string; cleanup(): Promise<void> };
    let store: Store;
    const receiver = new HttpSink<Message>();
    let notifiers: Map<string, Notifier>;
    before(async () => void (await receiver.start()));
    after(() => receiver.stop());
    beforeEach(async () => {
      db = await backend.fresh();
      store = await openStore(db.url);
      receiver.requests.length = 0;
      receiver.failFirst = 0;
      const config = alertingSchema.parse({
        notifiers: [
          { type: 'webhook', name: 'hook', url: `${receiver.url}/hook` },
          { type: 'webhook', name: 'chat', url: `${receiver.url}/chat` },
        ],
      });
      notifiers = new Map(config.notifiers.map((n) => [n.name, createNotifier(n)]));
    });
    afterEach(async () => {
      await store.close();
      await db.cleanup();
    });

    const outbox = async () =>
      (await store.db.selectFrom('alert_notifications').selectAll().orderBy('id').execute()).map((n) => [n.notifier, n.event, n.status]);
    const actions: string[] = [];
    const deliver = (now: number) =>
      deliverDue({
        db: store.db,
        now: () => now,
        notifiers,
        externalUrl: 'http://tandem.test',
        act: async (action, alert) => (actions.push(`${action} ${alert.name}`), 'done'),
      });

    it('fires, deduplicates, resolves; each change queues its messages once', async () => {
      let changes = await applyEvaluation(
        store,
        evaluation(T0, [
          { source: 'slo:shop-availability', conditions: [burn] },
          { source: 'self:database', conditions: [slow] },
        ]),
      );
      assert.deepEqual(
        changes.map((c) => [c.alert.name, c.from, c.to]),
        [
          ['TandemErrorBudgetBurn', null, 'firing'],
          ['TandemDatabaseConnectionErrors', null, 'pending'],
        ],
      );
      assert.deepEqual(JSON.parse(changes[0].alert.labels), {
        alertname: 'TandemErrorBudgetBurn',
        severity: 'page',
        slo: 'shop-availability',
        repo: 'shop',
        environment: 'production',
      });
      assert.deepEqual(await outbox(), [
        ['hook', 'firing', 'pending'],
        ['chat', 'firing', 'pending'],
        [ROLLBACK_ACTION, 'firing', 'pending'],
      ]);
      // The same conditions again: no new alert, no new message; the pending one fires after its 30 s.
      changes = await applyEvaluation(
        store,
        evaluation(T0 + 15_000, [
          { source: 'slo:shop-availability', conditions: [burn] },
          { source: 'self:database', conditions: [slow] },
        ]),
      );
      assert.deepEqual(changes, []);
      changes = await applyEvaluation(
        store,
        evaluation(T0 + 30_000, [
          { source: 'slo:shop-availability', conditions: [burn] },
          { source: 'self:database', conditions: [slow] },
        ]),
      );
      assert.deepEqual(
        changes.map((c) => [c.alert.name, c.from, c.to]),
        [['TandemDatabaseConnectionErrors', 'pending', 'firing']],
      );
      assert.equal((await store.db.selectFrom('alerts').select('id').execute()).length, 2);

      const sent = await deliver(T0 + 30_000);
      assert.deepEqual(
        sent.map((o) => [o.notification.notifier, o.ok]),
        [
          ['hook', true],
          ['chat', true],
          [ROLLBACK_ACTION, true],
          ['hook', true],
        ],
      );
      assert.deepEqual(actions, [`${ROLLBACK_ACTION} TandemErrorBudgetBurn`]);
      assert.deepEqual(
        receiver.bodies.map((b) => [b.status, b.alert.name]),
        [
          ['firing', 'TandemErrorBudgetBurn'],
          ['firing', 'TandemErrorBudgetBurn'],
          ['firing', 'TandemDatabaseConnectionErrors'],
        ],
      );
      assert.deepEqual(await deliver(T0 + 31_000), [], 'nothing is sent twice');

      // The database source could not evaluate this time: its alert stays; the burn is over.
      changes = await applyEvaluation(store, evaluation(T0 + 45_000, [{ source: 'slo:shop-availability', conditions: [] }]));
      assert.deepEqual(
        changes.map((c) => [c.alert.name, c.from, c.to]),
        [['TandemErrorBudgetBurn', 'firing', 'resolved']],
      );
      await deliver(T0 + 45_000);
      assert.deepEqual(
        receiver.bodies.slice(3).map((b) => [b.status, b.alert.name]),
        [
          ['resolved', 'TandemErrorBudgetBurn'],
          ['resolved', 'TandemErrorBudgetBurn'],
        ],
      );
      // It burns again: a new alert, told again.
      changes = await applyEvaluation(store, evaluation(T0 + 60_000, [{ source: 'slo:shop-availability', conditions: [burn] }]));
      assert.deepEqual(
        changes.map((c) => [c.from, c.to]),
        [[null, 'firing']],
      );
      assert.notEqual(changes[0].alert.id, receiver.bodies[0].alert.id);
    });

    it('a pending alert that stops holding resolves without a word', async () => {
      await applyEvaluation(store, evaluation(T0, [{ source: 'self:database', conditions: [slow] }]));
      const changes = await applyEvaluation(store, evaluation(T0 + 10_000, [{ source: 'self:database', conditions: [] }]));
      assert.deepEqual(
        changes.map((c) => [c.from, c.to]),
        [['pending', 'resolved']],
      );
      assert.deepEqual(await outbox(), []);
    });

    it('a silence mutes firing and its resolution; the alert is told once the silence ends', async () => {
      const silence = await store.db
        .insertInto('silences')
        .values({
          matchers: JSON.stringify([parseMatcher('slo=~shop-.*')]),
          starts_at: T0 - 1,
          ends_at: T0 + 20_000,
          comment: 'deploying a fix',
          created_by: 'test',
          created_at: T0,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      const [fired] = await applyEvaluation(store, evaluation(T0, [{ source: 'slo:shop-availability', conditions: [burn] }]));
      assert.equal(fired.alert.silenced_by, silence.id);
      assert.deepEqual(await outbox(), [[ROLLBACK_ACTION, 'firing', 'pending']], 'a silence mutes people, not the rollback');
      await applyEvaluation(store, evaluation(T0 + 10_000, [{ source: 'slo:shop-availability', conditions: [burn] }]));
      assert.equal((await outbox()).length, 1);
      // The silence is over and the alert still fires: now it is told.
      await applyEvaluation(store, evaluation(T0 + 20_000, [{ source: 'slo:shop-availability', conditions: [burn] }]));
      assert.deepEqual((await outbox()).slice(1), [
        ['hook', 'firing', 'pending'],
        ['chat', 'firing', 'pending'],
      ]);

      // Another alert, silenced from start to end: nobody hears of it, not even of its end.
      await store.db
        .insertInto('silences')
        .values({
          matchers: JSON.stringify([parseMatcher('alertname=TandemDatabaseConnectionErrors')]),
          starts_at: T0,
          ends_at: T0 + 3_600_000,
          comment: 'known',
          created_by: 'test',
          created_at: T0,
        })
        .execute();
      const quick = { ...slow, forMs: 0 };
      await applyEvaluation(store, evaluation(T0 + 21_000, [{ source: 'self:database', conditions: [quick] }]));
      await applyEvaluation(store, evaluation(T0 + 22_000, [{ source: 'self:database', conditions: [] }]));
      assert.equal((await outbox()).length, 3);
    });

    it('two leaders evaluating and sending at once: one alert, one message per notifier', async () => {
      const other = await openStore(db.url);
      try {
        const both = await Promise.allSettled([
          applyEvaluation(store, evaluation(T0, [{ source: 'slo:shop-availability', conditions: [burn] }])),
          applyEvaluation(other, evaluation(T0, [{ source: 'slo:shop-availability', conditions: [burn] }])),
        ]);
        // One of them may lose on the unique index of active fingerprints: that evaluation failed, nothing twice.
        assert.ok(both.some((r) => r.status === 'fulfilled'));
        assert.equal((await store.db.selectFrom('alerts').select('id').execute()).length, 1);
        await Promise.all([
          deliver(T0),
          deliverDue({ db: other.db, now: () => T0, notifiers, externalUrl: 'http://tandem.test', act: async () => 'done' }),
        ]);
        assert.equal(receiver.bodies.length, 2, JSON.stringify(receiver.bodies));
        assert.deepEqual(new Set(receiver.bodies.map((b) => b.notificationId)).size, 2);
      } finally {
        await other.close();
      }
    });

    it('failed sends are retried with backoff; "resolved" waits for its "firing"', async () => {
      notifiers = new Map([...notifiers].filter(([name]) => name === 'hook'));
      const ticket = { ...slow, forMs: 0 };
      await applyEvaluation(store, evaluation(T0, [{ source: 'self:database', conditions: [ticket] }]));
      receiver.failFirst = 1;
      const [failed] = await deliver(T0);
      assert.equal(failed.ok, false);
      assert.match(failed.error!, /notifier hook \(webhook\): POST http:\/\/127\.0\.0\.1:\d+ answered 500: try later/);
      await applyEvaluation(store, evaluation(T0 + 100, [{ source: 'self:database', conditions: [] }]));
      assert.deepEqual(await deliver(T0 + 200), [], 'the retry is not due yet, and resolved waits for firing');
      const retried = await deliver(T0 + retryDelayMs(1));
      assert.deepEqual(
        retried.map((o) => [o.notification.event, o.ok]),
        [
          ['firing', true],
          ['resolved', true],
        ],
      );
      assert.deepEqual(
        receiver.bodies.map((b) => b.status),
        ['firing', 'resolved'],
      );
      const rows = await store.db.selectFrom('alert_notifications').selectAll().orderBy('id').execute();
      assert.deepEqual(
        rows.map((r) => [r.event, r.status, r.attempts]),
        [
          ['firing', 'sent', 2],
          ['resolved', 'sent', 1],
        ],
      );
      assert.equal(retryDelayMs(30), 600_000, 'backoff is capped at 10 minutes');
    });

    it('a budget-exhausted alert freezes its environment while it fires', async () => {
      const exhausted: AlertCondition = {
        name: 'TandemErrorBudgetExhausted',
        severity: 'ticket',
        labels: { slo: 'shop-availability' },
        annotations: {},
        freeze: { repo: 'shop', environment: 'production', slo: 'shop-availability' },
      };
      await applyEvaluation(store, evaluation(T0, [{ source: 'slo:shop-availability', conditions: [exhausted] }]));
      await applyEvaluation(store, evaluation(T0 + 1000, [{ source: 'slo:shop-availability', conditions: [exhausted] }]));
      const frozen = await store.db.selectFrom('deploy_freezes').selectAll().execute();
      assert.deepEqual(
        frozen.map((f) => [f.repo, f.environment, f.slo, f.started_at, f.lifted_at]),
        [['shop', 'production', 'shop-availability', T0, null]],
      );
      await applyEvaluation(store, evaluation(T0 + 2000, [{ source: 'slo:shop-availability', conditions: [] }]));
      assert.equal((await store.db.selectFrom('deploy_freezes').select('lifted_at').executeTakeFirstOrThrow()).lifted_at, T0 + 2000);
    });
  });
}
