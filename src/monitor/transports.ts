// How Tandem's messages leave it: an HTTP POST of JSON (webhooks, Slack, Teams, Alertmanager) and
// email over SMTP (nodemailer). Shared by alerting's notifiers and the pipeline notifications of
// the outbox, so both time out, report and authenticate the same way. Each call is one attempt;
// the callers' outboxes retry.
import { lazyRequire } from '../lazy-require.js';

const mailer = lazyRequire<typeof import('nodemailer')>('nodemailer');

const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 10 * 60_000;

/** The wait before the next attempt after `failures` failed ones: 1 s, doubling, at most 10 min. */
export function retryDelayMs(failures: number): number {
  return Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, failures - 1));
}

/** A receiver's refusal: the status (and Retry-After, in ms from now) let a caller defer instead of fail. */
export class PostRefused extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly retryAfterMs: number | null,
  ) {
    super(message);
  }
}

/** Retry-After as seconds or an HTTP date, in milliseconds from now; null when absent or unreadable. */
function retryAfterMs(header: string | null, now = Date.now()): number | null {
  if (header === null || header.trim() === '') return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

export interface PostOptions {
  timeoutMs: number;
  headers?: Record<string, string>;
  /** False: a redirect is a refusal (a target checked against the outbound rules must not send us elsewhere). */
  followRedirects?: boolean;
}

/**
 * POSTs a JSON body (already serialized when a signature covers its exact bytes); returns the
 * answer's text. `what` names the sender in errors ("notifier ops (slack)"); only the URL's origin
 * is shown, since a webhook's path is often its secret.
 */
export async function postJson(what: string, url: string, body: unknown, opts: PostOptions): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...opts.headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(opts.timeoutMs),
      redirect: opts.followRedirects === false ? 'manual' : 'follow',
    });
  } catch (err) {
    const e = err as Error & { cause?: { message?: string } };
    throw new Error(`${what}: POST ${new URL(url).origin}: ${e.cause?.message ?? e.message}`);
  }
  const text = await res.text().catch(() => '');
  if (!res.ok)
    throw new PostRefused(
      `${what}: POST ${new URL(url).origin} answered ${res.status}: ${text.slice(0, 200)}`,
      res.status,
      retryAfterMs(res.headers.get('retry-after')),
    );
  return text;
}

/** An SMTP server and the sender's address: alerting's email notifiers and the server's `smtp:` setting. */
export interface SmtpSettings {
  host: string;
  port: number;
  secure: boolean;
  requireTls: boolean;
  user?: string;
  password?: string;
  from: string;
  timeoutSeconds: number;
}

interface Mail {
  to: string[];
  subject: string;
  text: string;
  headers?: Record<string, string>;
}

export interface Mailer {
  send(what: string, mail: Mail): Promise<void>;
  close(): void;
}

/** An SMTP transport (not pooled: each send opens its own connection); `send` errors name `what` and the server, never the password. */
export function smtpMailer(settings: SmtpSettings): Mailer {
  const transport = mailer().createTransport({
    host: settings.host,
    port: settings.port,
    secure: settings.secure,
    requireTLS: settings.requireTls,
    ...(settings.user !== undefined ? { auth: { user: settings.user, pass: settings.password ?? '' } } : {}),
    connectionTimeout: settings.timeoutSeconds * 1000,
    greetingTimeout: settings.timeoutSeconds * 1000,
    socketTimeout: settings.timeoutSeconds * 1000,
  });
  return {
    async send(what, mail) {
      try {
        await transport.sendMail({ from: settings.from, to: mail.to, subject: mail.subject, text: mail.text, headers: mail.headers });
      } catch (err) {
        throw new Error(`${what}: SMTP ${settings.host}:${settings.port}: ${(err as Error).message}`);
      }
    },
    close: () => transport.close(),
  };
}
