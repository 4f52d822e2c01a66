// A real SMTP server (the npm smtp-server) that keeps what it receives: envelope, headers and body,
// for the tests of email notifications (alerting's notifiers, pipeline notifications).
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  /** The whole message as sent (headers, a blank line, the body), with CRLF. */
  data: string;
  /** Headers unfolded (continuation lines joined), LF line ends. */
  headers: string;
  body: string;
}

export class SmtpSink {
  readonly received: ReceivedMail[] = [];
  port = 0;
  private readonly server: SMTPServer;

  /** `auth`: the only credentials accepted (login stays optional). */
  constructor(auth?: { username: string; password: string }) {
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      onAuth(given, _session, callback) {
        if (auth && given.username === auth.username && given.password === auth.password) callback(null, { user: given.username });
        else callback(new Error('bad credentials'));
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const data = Buffer.concat(chunks).toString('utf8');
          const text = data.replace(/\r\n/g, '\n');
          const split = text.indexOf('\n\n');
          this.received.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            data,
            // Long header lines are folded onto continuation lines.
            headers: text.slice(0, split).replace(/\n[ \t]+/g, ' '),
            body: text.slice(split + 2),
          });
          callback();
        });
      },
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.server.address() as AddressInfo).port;
    return this;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
