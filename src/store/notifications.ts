// Cross-replica notifications over PostgreSQL LISTEN/NOTIFY: how a log line posted to one server
// reaches an SSE client of another, and how a job queued on one wakes agents long-polling another.
// Best effort by design: notifications sent while a listener reconnects (a failover) are lost, so
// every listener also re-reads the database now and then; nothing that matters travels only here.
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { nodePostgres, parsePostgresUrl, probeWritable } from './postgres.js';

/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more. */
export const MAX_NOTIFY_PAYLOAD = 7900;

export interface Notifications {
  publish(payload: string): Promise<void>;
  /** Starts listening; `onMessage` gets every payload (including this process's own). */
  subscribe(onMessage: (payload: string) => void): Promise<{ close(): Promise<void> }>;
}

export function postgresNotifications(url: string, channel: string, publishVia: (payload: string) => Promise<void>): Notifications {
  return {
    publish: publishVia,
    async subscribe(onMessage) {
      const hosts = parsePostgresUrl(url);
      let client: pg.Client | null = null;
      let closed = false;
      let connected: () => void = () => undefined;
      const firstConnection = new Promise<void>((resolve) => (connected = resolve));

      // One dedicated connection (LISTEN does not mix with a pool), to the writable host like the pool,
      // re-established with backoff when it drops.
      const loop = (async () => {
        let backoff = 100;
        while (!closed) {
          try {
            const host = await probeWritable(hosts);
            const c = new (nodePostgres().Client)({ connectionString: host.url, keepAlive: true });
            const ended = new Promise<void>((resolve) => {
              c.on('error', () => resolve());
              c.on('end', () => resolve());
            });
            c.on('notification', (n) => {
              if (n.channel === channel && n.payload !== undefined) onMessage(n.payload);
            });
            await c.connect();
            await c.query(`LISTEN ${nodePostgres().escapeIdentifier(channel)}`);
            if (closed) {
              // close() came while this connection was being made, so it could not end it.
              await c.end().catch(() => undefined);
              break;
            }
            client = c;
            backoff = 100;
            connected();
            await ended;
            client = null;
            await c.end().catch(() => undefined);
          } catch {
            // Unreachable or read-only: try again after a pause.
          }
          if (!closed) await sleep(backoff * (0.5 + Math.random() / 2));
          backoff = Math.min(2000, backoff * 2);
        }
      })();
      await Promise.race([firstConnection, sleep(5000)]);
      return {
        async close() {
          closed = true;
          await (client as pg.Client | null)?.end().catch(() => undefined);
          await loop;
        },
      };
    },
  };
}
