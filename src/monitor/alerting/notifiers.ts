// Where alert messages go: a generic JSON webhook, a Slack-compatible incoming webhook, email over
// SMTP, and Alertmanager's API v2, through the shared transports (../transports.ts). Each send is one
// attempt; the outbox retries failures.
import type { Alert } from '../../store/index.js';
import type { AlertView } from '../../api/index.js';
import { readAlertAnnotations, readAlertLabels } from '../columns.js';
import { postJson, smtpMailer } from '../transports.js';
import type { NotifierConfig } from './config.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function alertView(a: Alert): AlertView {
  return {
    id: a.id,
    name: a.name,
    state: a.state,
    severity: a.severity,
    fingerprint: a.fingerprint,
    labels: readAlertLabels(a),
    annotations: readAlertAnnotations(a),
    value: a.value,
    activeAt: iso(a.active_at)!,
    firedAt: iso(a.fired_at),
    resolvedAt: iso(a.resolved_at),
    silencedBy: a.silenced_by,
  };
}

/** One message: an alert fired or resolved. */
export interface Delivery {
  /** The outbox row's id: the same message sent again carries the same id. */
  notificationId: number;
  event: 'firing' | 'resolved';
  alert: AlertView;
  /** This Tandem's URL, for links back. */
  externalUrl: string;
  now: number;
}

export interface Notifier {
  readonly config: NotifierConfig;
  send(delivery: Delivery): Promise<void>;
  /** Alertmanager only: the firing alerts again, so it keeps them open. */
  resend?(alerts: AlertView[], externalUrl: string, now: number): Promise<void>;
  close(): void;
}

/** The labels that say what an alert is about, in a short line: `slo=api-availability`. */
function subjectLabels(alert: AlertView): string {
  return Object.entries(alert.labels)
    .filter(([k]) => k !== 'alertname' && k !== 'severity')
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

export function title(d: Delivery): string {
  const about = subjectLabels(d.alert);
  return `[${d.event.toUpperCase()}:${d.alert.severity}] ${d.alert.name}${about ? ` (${about})` : ''}`;
}

export function alertLink(d: Pick<Delivery, 'externalUrl' | 'alert'>): string {
  return `${d.externalUrl}/api/v1/alerts/${d.alert.id}`;
}

/** The generic webhook's body (documented in docs/slo.md; `version` changes if the shape ever does). */
export function webhookPayload(d: Delivery) {
  return { version: '1', notificationId: d.notificationId, status: d.event, title: title(d), alert: d.alert, link: alertLink(d) };
}

const SLACK_COLOURS: Record<string, string> = { page: '#d40e0d', ticket: '#e8a317', info: '#439fe0' };

/** Slack's incoming webhook payload: a text line for notifications, an attachment with the details. */
export function slackPayload(d: Delivery, options: { channel?: string; username?: string } = {}) {
  const a = d.alert;
  const fields = Object.entries(a.labels)
    .filter(([k]) => k !== 'alertname')
    .map(([k, v]) => ({ title: k, value: v, short: true }));
  return {
    ...(options.channel ? { channel: options.channel } : {}),
    ...(options.username ? { username: options.username } : {}),
    text: `${title(d)}: ${a.annotations.summary ?? a.name}`,
    attachments: [
      {
        color: d.event === 'resolved' ? '#2eb886' : (SLACK_COLOURS[a.severity] ?? '#d40e0d'),
        title: a.annotations.summary ?? a.name,
        title_link: alertLink(d),
        text: [a.annotations.description, a.annotations.runbook_url ? `Runbook: ${a.annotations.runbook_url}` : null]
          .filter(Boolean)
          .join('\n'),
        fields,
        footer: 'Tandem',
        ts: Math.floor((d.event === 'resolved' ? Date.parse(a.resolvedAt ?? '') || d.now : Date.parse(a.firedAt ?? a.activeAt)) / 1000),
      },
    ],
  };
}

export function emailMessage(d: Delivery): { subject: string; text: string } {
  const a = d.alert;
  const lines = [
    `${a.name} is ${d.event === 'firing' ? 'FIRING' : 'RESOLVED'} (severity ${a.severity}).`,
    '',
    a.annotations.summary ?? '',
    a.annotations.description ?? '',
    '',
    'Labels:',
    ...Object.entries(a.labels).map(([k, v]) => `  ${k} = ${v}`),
    '',
    `Active since: ${a.activeAt}`,
    ...(a.resolvedAt ? [`Resolved at: ${a.resolvedAt}`] : []),
    ...(a.annotations.runbook_url ? [`Runbook: ${a.annotations.runbook_url}`] : []),
    `Details: ${alertLink(d)}`,
  ];
  return { subject: title(d), text: lines.filter((l, i, all) => !(l === '' && all[i - 1] === '')).join('\n') + '\n' };
}

/** An alert as Alertmanager's API v2 takes it; `endsAt` in the future keeps it open until then. */
export function alertmanagerAlert(a: AlertView, externalUrl: string, endsAt: number) {
  return {
    labels: a.labels,
    annotations: a.annotations,
    startsAt: a.firedAt ?? a.activeAt,
    endsAt: new Date(endsAt).toISOString(),
    generatorURL: alertLink({ externalUrl, alert: a }),
  };
}

function post(config: NotifierConfig, url: string, body: unknown, headers: Record<string, string> = {}): Promise<void> {
  return postJson(`notifier ${config.name} (${config.type})`, url, body, { timeoutMs: config.timeoutSeconds * 1000, headers }).then(
    () => undefined,
  );
}

export function createNotifier(config: NotifierConfig): Notifier {
  switch (config.type) {
    case 'webhook':
      return {
        config,
        send: (d) =>
          post(config, config.url, webhookPayload(d), { 'idempotency-key': `tandem-notification-${d.notificationId}`, ...config.headers }),
        close: () => undefined,
      };
    case 'slack':
      return { config, send: (d) => post(config, config.url, slackPayload(d, config)), close: () => undefined };
    case 'email': {
      const mailer = smtpMailer(config);
      return {
        config,
        send: (d) =>
          mailer.send(`notifier ${config.name} (email)`, {
            to: config.to,
            ...emailMessage(d),
            headers: { 'X-Tandem-Notification': String(d.notificationId) },
          }),
        close: () => mailer.close(),
      };
    }
    case 'alertmanager': {
      const url = `${config.url.replace(/\/+$/, '')}/api/v2/alerts`;
      const openFor = 4 * config.resendSeconds * 1000;
      return {
        config,
        send: (d) =>
          post(config, url, [
            alertmanagerAlert(
              d.alert,
              d.externalUrl,
              d.event === 'resolved' ? Date.parse(d.alert.resolvedAt ?? '') || d.now : d.now + openFor,
            ),
          ]),
        async resend(alerts, externalUrl, now) {
          if (alerts.length > 0)
            await post(
              config,
              url,
              alerts.map((a) => alertmanagerAlert(a, externalUrl, now + openFor)),
            );
        },
        close: () => undefined,
      };
    }
  }
}
