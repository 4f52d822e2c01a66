// A real HTTP receiver for notifications (webhooks, Slack-compatible incoming webhooks): records
// each request's path, headers and JSON body, and can answer 500 (or scripted answers) to its first
// requests.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SinkRequest<T = unknown> {
  path: string;
  headers: IncomingHttpHeaders;
  body: T;
  /** The body as it arrived: what a signature covers. */
  raw: string;
  at: number;
}

export class HttpSink<T = unknown> {
  readonly requests: SinkRequest<T>[] = [];
  /** Requests still to be refused with a 500. */
  failFirst = 0;
  /** Answers for the next requests, in order (a 429 with Retry-After, a redirect...); those requests are not recorded. */
  readonly scripted: { status: number; headers?: Record<string, string>; body?: string }[] = [];
  url = '';
  private readonly server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (this.failFirst > 0) {
        this.failFirst--;
        res.writeHead(500).end('try later');
        return;
      }
      const answer = this.scripted.shift();
      if (answer) {
        res.writeHead(answer.status, answer.headers).end(answer.body ?? '');
        return;
      }
      const raw = Buffer.concat(chunks).toString('utf8');
      this.requests.push({ path: req.url ?? '', headers: req.headers, body: JSON.parse(raw) as T, raw, at: Date.now() });
      res.writeHead(204).end();
    });
  });

  get bodies(): T[] {
    return this.requests.map((r) => r.body);
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
