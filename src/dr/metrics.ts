// Disaster-recovery metrics, read from the database at each scrape (the `backups` and `dr_drills`
// rows), so every replica reports the same values whoever made the backup or ran the drill:
// aggregate with max (ages with min). A destination without a successful backup or drill has no series.
import type { Kysely } from 'kysely';
import { Gauge, type Registry } from 'prom-client';
import type { Database } from '../store/index.js';

/** A scrape must not wait for a database that is failing over: the gauges keep their last values. */
const SCRAPE_QUERY_TIMEOUT_MS = 1000;

export interface DrStatus {
  /** Newest successful backup's snapshot time per destination. */
  backups: { destination: string; snapshotAt: number }[];
  /** Latest drill per destination, and its latest success. */
  drills: { destination: string; ok: boolean; rtoMs: number | null; rpoMs: number | null; lastSuccessAt: number | null }[];
}

export async function readDrStatus(db: Kysely<Database>): Promise<DrStatus> {
  const backups = await db
    .selectFrom('backups')
    .select((eb) => ['destination', eb.fn.max('snapshot_at').as('at')])
    .where('status', '=', 'success')
    .groupBy('destination')
    .execute();
  // Drills are rare (weekly, say): folding all of them in order is simpler than per-destination subqueries.
  const rows = await db.selectFrom('dr_drills').select(['destination', 'ok', 'rto_ms', 'rpo_ms', 'finished_at']).orderBy('id').execute();
  const drills = new Map<string, DrStatus['drills'][number]>();
  for (const row of rows) {
    const d = drills.get(row.destination) ?? { destination: row.destination, ok: false, rtoMs: null, rpoMs: null, lastSuccessAt: null };
    d.ok = row.ok === 1;
    // A failed drill has no meaningful RTO: the destination keeps reporting its latest successful drill's.
    if (d.ok) Object.assign(d, { rtoMs: row.rto_ms, rpoMs: row.rpo_ms, lastSuccessAt: row.finished_at });
    drills.set(row.destination, d);
  }
  return {
    backups: backups.filter((b) => b.at !== null).map((b) => ({ destination: b.destination, snapshotAt: Number(b.at) })),
    drills: [...drills.values()],
  };
}

export class DrMetrics {
  readonly backupAge: Gauge<'destination'>;
  readonly drillLastSuccess: Gauge<'destination'>;
  readonly drillRto: Gauge<'destination'>;
  readonly drillRpo: Gauge<'destination'>;
  readonly drillFailed: Gauge<'destination'>;
  #pending: Promise<void> | null = null;

  constructor(
    registry: Registry,
    private readonly read: () => Promise<DrStatus>,
    private readonly now: () => number,
  ) {
    const registers = [registry];
    // One collect refreshes all gauges; the others wait for it.
    const collect = () => this.#collect();
    this.backupAge = new Gauge({
      name: 'tandem_backup_age_seconds',
      help: 'Age of the newest successful backup at each destination (now minus its database snapshot time)',
      labelNames: ['destination'] as const,
      registers,
      collect,
    });
    this.drillLastSuccess = new Gauge({
      name: 'tandem_dr_drill_last_success_timestamp_seconds',
      help: 'When the latest successful disaster-recovery drill of backups at each destination finished (Unix seconds)',
      labelNames: ['destination'] as const,
      registers,
      collect,
    });
    this.drillRto = new Gauge({
      name: 'tandem_dr_drill_rto_seconds',
      help: 'Recovery time of the latest successful drill: from its start until the restored instance was ready',
      labelNames: ['destination'] as const,
      registers,
      collect,
    });
    this.drillRpo = new Gauge({
      name: 'tandem_dr_drill_rpo_seconds',
      help: "Recovery point of the latest successful drill: from the restored backup's snapshot to the drill's start (the writes a disaster then would have lost)",
      labelNames: ['destination'] as const,
      registers,
      collect,
    });
    this.drillFailed = new Gauge({
      name: 'tandem_dr_drill_failed',
      help: '1 when the latest disaster-recovery drill of backups at a destination failed, else 0',
      labelNames: ['destination'] as const,
      registers,
      collect,
    });
  }

  #collect(): Promise<void> {
    this.#pending ??= this.#refresh().finally(() => {
      // Later collects of the same scrape reuse this one; the next scrape reads again.
      setImmediate(() => (this.#pending = null));
    });
    return this.#pending;
  }

  async #refresh(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    let status: DrStatus;
    try {
      status = await Promise.race([
        this.read(),
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new Error('reading backups and drills timed out')), SCRAPE_QUERY_TIMEOUT_MS);
        }),
      ]);
    } catch {
      // The last values stay: the failed query is counted in tandem_db_errors_total already.
      return;
    } finally {
      clearTimeout(timer);
    }
    const now = this.now();
    for (const g of [this.backupAge, this.drillLastSuccess, this.drillRto, this.drillRpo, this.drillFailed]) g.reset();
    for (const b of status.backups) this.backupAge.set({ destination: b.destination }, Math.max(0, (now - b.snapshotAt) / 1000));
    for (const d of status.drills) {
      const labels = { destination: d.destination };
      this.drillFailed.set(labels, d.ok ? 0 : 1);
      if (d.lastSuccessAt !== null) this.drillLastSuccess.set(labels, d.lastSuccessAt / 1000);
      if (d.rtoMs !== null) this.drillRto.set(labels, d.rtoMs / 1000);
      if (d.rpoMs !== null) this.drillRpo.set(labels, d.rpoMs / 1000);
    }
  }
}
