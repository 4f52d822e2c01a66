// The `alerting:` block of tandem.yml (or TANDEM_ALERTING as JSON): how often the leader evaluates,
// where notifications go (notifiers, routed by severity), and the thresholds of Tandem's own alerts.
import { z } from 'zod';

export const ALERT_SEVERITIES = ['page', 'ticket', 'info'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

/** A setting given as JSON in a TANDEM_* variable; text that is not JSON is left for the schema to refuse. */
function fromJsonText(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v) as unknown;
  } catch {
    return v;
  }
}

const notifierName = z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, 'expected lowercase letters, digits, ".", "_" or "-"');
const httpUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//i.test(u), { message: 'expected an http:// or https:// URL' });
const timeoutSeconds = z.number().positive().max(300).default(10);

const webhook = z
  .object({
    type: z.literal('webhook'),
    name: notifierName.optional(),
    url: httpUrl,
    /** Sent with every request, e.g. Authorization. */
    headers: z.record(z.string(), z.string()).default({}),
    timeoutSeconds,
  })
  .strict();

const slack = z
  .object({
    type: z.literal('slack'),
    name: notifierName.optional(),
    /** An incoming webhook URL (Slack, Mattermost, Rocket.Chat and others take the same payload). */
    url: httpUrl,
    channel: z.string().min(1).optional(),
    username: z.string().min(1).optional(),
    timeoutSeconds,
  })
  .strict();

/** An SMTP server and the sender: an email notifier's, and the server's `smtp:` for pipeline notifications. */
const smtpFields = {
  /** The SMTP server. */
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(587),
  /** TLS from the first byte (port 465); otherwise STARTTLS is used when the server offers it. */
  secure: z.boolean().default(false),
  /** Refuse to send unless the connection is encrypted (STARTTLS required). */
  requireTls: z.boolean().default(false),
  user: z.string().min(1).optional(),
  password: z.string().optional(),
  from: z.string().min(3),
  timeoutSeconds,
};

/** SMTP credentials come in pairs. */
const userWithPassword = (e: { user?: string; password?: string }) => (e.user === undefined) === (e.password === undefined);
const USER_WITH_PASSWORD = { message: 'give user and password together, or neither', path: ['password'] };

export const emailAddress = z.string().regex(/^[^@\s]+@[^@\s]+$/, 'expected an email address');

const email = z
  .object({
    type: z.literal('email'),
    name: notifierName.optional(),
    ...smtpFields,
    to: z.array(emailAddress).min(1),
  })
  .strict()
  .refine(userWithPassword, USER_WITH_PASSWORD);

/** The server's `smtp:` setting (TANDEM_SMTP as JSON): where pipeline notification emails go out. */
export const smtpSchema = z.preprocess(fromJsonText, z.object(smtpFields).strict().refine(userWithPassword, USER_WITH_PASSWORD));

const alertmanager = z
  .object({
    type: z.literal('alertmanager'),
    name: notifierName.optional(),
    /** Alertmanager's base URL; alerts go to <url>/api/v2/alerts. */
    url: httpUrl,
    /** Firing alerts are sent again this often, as Prometheus does; Alertmanager resolves alerts nobody repeats. */
    resendSeconds: z.number().positive().default(60),
    timeoutSeconds,
  })
  .strict();

const notifierSchema = z.discriminatedUnion('type', [webhook, slack, email, alertmanager]);
type NotifierInput = z.infer<typeof notifierSchema>;
export type NotifierConfig = NotifierInput & { name: string };
export type NotifierType = NotifierConfig['type'];

const names = z.array(notifierName);

export const alertingSchema = z
  .preprocess(
    fromJsonText,
    z
      .object({
        /** How often the leader evaluates every alert (the SLOs' burn rates, Tandem's own signals). */
        evaluationIntervalSeconds: z.number().positive().default(15),
        notifiers: z.array(notifierSchema).default([]),
        /** Notifier names per severity; a severity not listed goes to every notifier. */
        routes: z.object({ page: names.optional(), ticket: names.optional(), info: names.optional() }).strict().default({}),
        /** Roll an environment back when an SLO of its own starts burning within alertRollbackWindowSeconds of a deploy. */
        rollbackOnSloAlerts: z.boolean().default(true),
        /** TandemBackupTooOld fires when the newest good backup is older than this (the recovery point objective). */
        backupRpoSeconds: z.number().int().positive().default(86_400),
        /** TandemDatabaseConnectionErrors fires at this many failed statements and connections (every replica's) within 5 minutes. */
        dbConnectionErrors: z.number().int().positive().default(5),
        /** Where Tandem's own alerts link to: the disaster recovery runbook, at the alert's step. */
        drRunbookUrl: z.string().min(1).default('docs/disaster-recovery.md'),
        /** Where burn-rate alerts of SLOs without their own runbookUrl link to (as `tandem slo rules --runbook-base`). */
        sloRunbookUrl: z.string().min(1).default('docs/slo.md'),
      })
      .strict(),
  )
  .transform((a, ctx) => {
    const notifiers: NotifierConfig[] = a.notifiers.map((n, i) => ({ ...n, name: n.name ?? `${n.type}-${i + 1}` }));
    const seen = new Set<string>();
    notifiers.forEach((n, i) => {
      if (seen.has(n.name)) ctx.addIssue({ code: 'custom', path: ['notifiers', i, 'name'], message: `"${n.name}" names two notifiers` });
      seen.add(n.name);
    });
    for (const severity of ALERT_SEVERITIES) {
      (a.routes[severity] ?? []).forEach((name, i) => {
        if (!seen.has(name))
          ctx.addIssue({
            code: 'custom',
            path: ['routes', severity, i],
            message: `no notifier is named "${name}" (known: ${[...seen].join(', ') || 'none'})`,
          });
      });
    }
    return { ...a, notifiers };
  });

export type AlertingConfig = z.output<typeof alertingSchema>;

/** The notifiers an alert of this severity goes to. */
export function routeOf(config: AlertingConfig, severity: string): string[] {
  const listed = (config.routes as Partial<Record<string, string[]>>)[severity];
  return listed ?? config.notifiers.map((n) => n.name);
}
