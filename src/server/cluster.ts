// The queries behind GET /api/v1/cluster, one per function: replica heartbeats, the leader lease,
// agents and their running jobs, the database's own view of replication (PostgreSQL), and the
// newest backup and disaster-recovery drill. Each works on SQLite and PostgreSQL alike, except the
// replication ones, which exist only on PostgreSQL. The answer's shape is ClusterJson (src/api).
import { sql, type Kysely } from 'kysely';
import type { Database } from '../store/index.js';

export async function replicaRows(db: Kysely<Database>) {
  return db.selectFrom('replicas').selectAll().orderBy('started_at').orderBy('id').execute();
}

/** The replica holding the leader lease, or null when nobody holds it (released, or expired by `now`). */
export async function leaderHolder(db: Kysely<Database>, now: number): Promise<string | null> {
  const row = await db.selectFrom('leases').select('holder').where('name', '=', 'leader').where('expires_at', '>=', now).executeTakeFirst();
  return row?.holder ?? null;
}

export async function agentRows(db: Kysely<Database>) {
  return db.selectFrom('agents').selectAll().orderBy('id').execute();
}

/** Running jobs per agent id. */
export async function runningJobsByAgent(db: Kysely<Database>): Promise<Map<number, number>> {
  const rows = await db
    .selectFrom('jobs')
    .select(['agent_id', (eb) => eb.fn.countAll<number | string>().as('running')])
    .where('status', '=', 'running')
    .where('agent_id', 'is not', null)
    .groupBy('agent_id')
    .execute();
  // PostgreSQL counts as bigint, which arrives as text.
  return new Map(rows.map((r) => [r.agent_id!, Number(r.running)]));
}

/** PostgreSQL: whether the server Tandem is connected to is a standby replaying WAL. */
export async function postgresInRecovery(db: Kysely<Database>): Promise<boolean> {
  const { rows } = await sql<{ recovering: boolean }>`select pg_is_in_recovery() as recovering`.execute(db);
  return rows[0]?.recovering ?? false;
}

export interface ReplicationRow {
  application_name: string | null;
  state: string | null;
  sync_state: string | null;
  /** numeric and interval come back as text; null without pg_monitor (the LSNs read NULL then). */
  replay_lag_bytes: string | null;
  replay_lag_seconds: string | null;
}

/** PostgreSQL, on a primary only (pg_current_wal_lsn() fails during recovery): its standbys as pg_stat_replication sees them. */
export async function postgresReplication(db: Kysely<Database>): Promise<ReplicationRow[]> {
  const { rows } = await sql<ReplicationRow>`
    select application_name, state, sync_state,
           pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) as replay_lag_bytes,
           extract(epoch from replay_lag) as replay_lag_seconds
      from pg_stat_replication
     order by application_name`.execute(db);
  return rows;
}

export async function newestBackup(db: Kysely<Database>) {
  return db
    .selectFrom('backups')
    .select(['id', 'status', 'started_at', 'finished_at'])
    .orderBy('started_at', 'desc')
    .limit(1)
    .executeTakeFirst();
}

export async function newestDrill(db: Kysely<Database>) {
  return db.selectFrom('dr_drills').select(['id', 'backup_id', 'ok', 'finished_at']).orderBy('id', 'desc').limit(1).executeTakeFirst();
}
