// Each notifier against a real receiver: the generic webhook and the Slack-compatible payload
// through a real HTTP server, email through nodemailer to a real SMTP server (the npm smtp-server
// as the sink), and Alertmanager's API v2 on a real Alertmanager (firing, then resolved).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { alertingSchema } from '../../src/monitor/alerting/config.js';
import { alertView, createNotifier, type Delivery } from '../../src/monitor/alerting/notifiers.js';
import type { Alert } from '../../src/store/index.js';
import { alertmanagerSkipReason, startAlertmanager, type AlertmanagerServer } from '../support/alertmanager.js';
import { HttpSink } from '../support/http-sink.js';
import { freePort } from '../support/ports.js';
import { SmtpSink } from '../support/smtp-sink.js';

const T0 = Date.parse('2030-01-02T03:04:05Z');

const row: Alert = {
  id: 7,
  fingerprint: 'f'.repeat(64),
  name: 'TandemErrorBudgetBurn',
  severity: 'page',
  source: 'slo:shop-availability',
  labels: JSON.stringify({
    alertname: 'TandemErrorBudgetBurn',
    severity: 'page',
    slo: 'shop-availability',
    repo: 'shop',
    environment: 'production',
  }),
  annotations: JSON.stringify({
    summary: 'SLO shop-availability is burning its error budget fast',
    description: 'shop/production: objective 99.5%',
    runbook_url: 'https://wiki.example/shop#runbook',
  }),
  value: 20,
  state: 'firing',
  active_at: T0,
  fired_at: T0,
  resolved_at: null,
  updated_at: T0,
  silenced_by: null,
};
const firing: Delivery = { notificationId: 41, event: 'firing', alert: alertView(row), externalUrl: 'https://tandem.example', now: T0 };
const resolved: Delivery = {
  notificationId: 42,
  event: 'resolved',
  alert: alertView({ ...row, state: 'resolved', resolved_at: T0 + 60_000 }),
  externalUrl: 'https://tandem.example',
  now: T0 + 60_000,
};

const notifier = (n: Record<string, unknown>) => createNotifier(alertingSchema.parse({ notifiers: [n] }).notifiers[0]);

describe('webhook and Slack notifiers', () => {
  const sink = new HttpSink<Record<string, unknown>>();
  before(async () => void (await sink.start()));
  after(() => sink.stop());

  it('the generic webhook posts the alert as JSON with an idempotency key and the configured headers', async () => {
    const hook = notifier({ type: 'webhook', url: `${sink.url}/generic`, headers: { authorization: 'Bearer s3cret' } });
    await hook.send(firing);
    const [req] = sink.requests.splice(0);
    assert.equal(req.headers['idempotency-key'], 'tandem-notification-41');
    assert.equal(req.headers.authorization, 'Bearer s3cret');
    assert.deepEqual(req.body, {
      version: '1',
      notificationId: 41,
      status: 'firing',
      title: '[FIRING:page] TandemErrorBudgetBurn (slo=shop-availability repo=shop environment=production)',
      alert: firing.alert,
      link: 'https://tandem.example/api/v1/alerts/7',
    });
  });

  it('Slack gets a text line and an attachment: colour by state, summary linked, runbook, labels as fields', async () => {
    const slack = notifier({ type: 'slack', url: `${sink.url}/services/T000/B000/XXXX`, channel: '#ops', username: 'tandem' });
    await slack.send(firing);
    await slack.send(resolved);
    const [fire, done] = sink.requests.splice(0).map((r) => r.body);
    assert.deepEqual(fire, {
      channel: '#ops',
      username: 'tandem',
      text: '[FIRING:page] TandemErrorBudgetBurn (slo=shop-availability repo=shop environment=production): SLO shop-availability is burning its error budget fast',
      attachments: [
        {
          color: '#d40e0d',
          title: 'SLO shop-availability is burning its error budget fast',
          title_link: 'https://tandem.example/api/v1/alerts/7',
          text: 'shop/production: objective 99.5%\nRunbook: https://wiki.example/shop#runbook',
          fields: [
            { title: 'severity', value: 'page', short: true },
            { title: 'slo', value: 'shop-availability', short: true },
            { title: 'repo', value: 'shop', short: true },
            { title: 'environment', value: 'production', short: true },
          ],
          footer: 'Tandem',
          ts: T0 / 1000,
        },
      ],
    });
    const attachment = done as { text: string; attachments: { color: string; ts: number }[] };
    assert.match(attachment.text, /^\[RESOLVED:page\] TandemErrorBudgetBurn/);
    assert.deepEqual([attachment.attachments[0].color, attachment.attachments[0].ts], ['#2eb886', T0 / 1000 + 60]);
  });

  it('a refusing receiver fails the send, naming the notifier, the origin and the answer', async () => {
    sink.failFirst = 1;
    await assert.rejects(
      notifier({ type: 'slack', name: 'ops-chat', url: `${sink.url}/x` }).send(firing),
      new RegExp(`^Error: notifier ops-chat \\(slack\\): POST ${sink.url} answered 500: try later$`),
    );
    const closed = await freePort();
    await assert.rejects(
      notifier({ type: 'webhook', url: `http://127.0.0.1:${closed}/closed` }).send(firing),
      new RegExp(`notifier webhook-1 \\(webhook\\): POST http://127\\.0\\.0\\.1:${closed}: .*ECONNREFUSED`),
    );
  });
});

describe('email notifier', () => {
  const smtp = new SmtpSink({ username: 'tandem', password: 'mail-secret' });
  let port = 0;
  before(async () => {
    port = (await smtp.start()).port;
  });
  after(() => smtp.stop());

  it('sends the alert to every address through SMTP with authentication', async () => {
    const mail = notifier({
      type: 'email',
      host: '127.0.0.1',
      port,
      user: 'tandem',
      password: 'mail-secret',
      from: 'Tandem <tandem@ci.example>',
      to: ['oncall@ci.example', 'lead@ci.example'],
    });
    await mail.send(firing);
    mail.close();
    const [message] = smtp.received;
    assert.equal(message.from, 'tandem@ci.example');
    assert.deepEqual(message.to, ['oncall@ci.example', 'lead@ci.example']);
    const { headers, body } = message;
    assert.match(headers, /^Subject: \[FIRING:page\] TandemErrorBudgetBurn \(slo=shop-availability repo=shop environment=production\)$/m);
    assert.match(headers, /^X-Tandem-Notification: 41$/m);
    assert.match(body, /TandemErrorBudgetBurn is FIRING \(severity page\)\./);
    assert.match(body, /^ {2}environment = production$/m);
    assert.match(body, /^Runbook: https:\/\/wiki\.example\/shop#runbook$/m);
    assert.match(body, /^Details: https:\/\/tandem\.example\/api\/v1\/alerts\/7$/m);
  });

  it('a refused login fails the send, naming the SMTP server', async () => {
    const mail = notifier({
      type: 'email',
      host: '127.0.0.1',
      port,
      user: 'tandem',
      password: 'wrong',
      from: 'tandem@ci.example',
      to: ['oncall@ci.example'],
    });
    await assert.rejects(
      mail.send(firing),
      new RegExp(`^Error: notifier email-1 \\(email\\): SMTP 127\\.0\\.0\\.1:${port}: .*bad credentials`),
    );
    mail.close();
  });
});

describe('Alertmanager notifier', { skip: alertmanagerSkipReason() }, () => {
  let am: AlertmanagerServer;
  before(async () => {
    am = await startAlertmanager();
  });
  after(() => am?.stop());

  it('posts to API v2: the alert is active with its labels, annotations and link, and gone once resolved', async () => {
    const now = Date.now();
    const live = { ...firing, now, alert: { ...firing.alert, firedAt: new Date(now).toISOString() } };
    const to = notifier({ type: 'alertmanager', url: am.url, resendSeconds: 30 });
    await to.send(live);
    const [alert] = await am.alerts();
    assert.deepEqual(alert.labels, firing.alert.labels);
    assert.deepEqual(alert.annotations, firing.alert.annotations);
    assert.equal(alert.status.state, 'active');
    assert.equal(alert.generatorURL, 'https://tandem.example/api/v1/alerts/7');
    assert.equal(Date.parse(alert.endsAt), now + 4 * 30_000, 'open for four resend intervals, as Prometheus does');
    await to.send({
      ...resolved,
      now: Date.now(),
      alert: { ...resolved.alert, firedAt: live.alert.firedAt, resolvedAt: new Date().toISOString() },
    });
    assert.deepEqual(await am.alerts(), []);
  });
});
