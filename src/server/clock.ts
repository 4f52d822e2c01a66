// Leases and deadlines compare times written by one replica with times read by another, so every
// replica uses the database's clock: a replica whose own clock is off by a minute must not reap a
// healthy agent's job or keep a dead one's. The offset to the database clock is measured now and
// then (half the round trip is the error bound, well under a millisecond on a LAN); SQLite runs in
// this process, so its clock is this machine's.
import { sql } from 'kysely';
import type { Store } from '../store/index.js';

export class DatabaseClock {
  private offsetMs = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly store: Store) {}

  /** Milliseconds since the epoch by the database's clock. */
  now(): number {
    return Date.now() + this.offsetMs;
  }

  async sync(): Promise<void> {
    if (this.store.dialect !== 'postgres') return;
    const sent = Date.now();
    const { rows } = await sql<{ ms: number }>`select (extract(epoch from clock_timestamp()) * 1000)::bigint as ms`.execute(this.store.db);
    const received = Date.now();
    // Whole milliseconds: times are stored as bigint.
    this.offsetMs = Math.round(Number(rows[0].ms) - (sent + received) / 2);
  }

  /** Re-measures the offset every `everyMs` until `stop`. */
  start(everyMs: number, onError: (err: Error) => void): void {
    this.timer = setInterval(() => this.sync().catch(onError), everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
