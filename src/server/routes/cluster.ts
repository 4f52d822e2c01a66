// Cluster health at a glance, for the dashboard: server replicas and which one leads, agents, the
// database (and, on PostgreSQL, its standbys and their lag), and the newest backup and drill. Any
// signed-in user may look; backup and drill ids (which lead to their destinations) are for admins.
import type { ClusterJson } from '../../api/index.js';
import type { ServerContext } from '../context.js';
import {
  agentRows,
  leaderHolder,
  newestBackup,
  newestDrill,
  postgresInRecovery,
  postgresReplication,
  replicaRows,
  runningJobsByAgent,
  type ReplicationRow,
} from '../cluster.js';
import type { RouteTable } from '../http.js';
import { agentView } from '../presenters.js';

/** How many agents the answer names; the counts cover all of them. */
const LISTED_AGENTS = 20;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const numberOrNull = (value: string | number | null) => (value === null ? null : Number(value));

function replicationView(r: ReplicationRow) {
  return {
    applicationName: r.application_name,
    state: r.state,
    syncState: r.sync_state,
    replayLagBytes: numberOrNull(r.replay_lag_bytes),
    replayLagSeconds: numberOrNull(r.replay_lag_seconds),
  };
}

async function databaseView(ctx: ServerContext): Promise<ClusterJson['database']> {
  if (ctx.store.dialect === 'sqlite') return { engine: 'sqlite' };
  const inRecovery = await postgresInRecovery(ctx.store.db);
  const replication = inRecovery ? [] : (await postgresReplication(ctx.store.db)).map(replicationView);
  return { engine: 'postgresql', host: ctx.store.host(), inRecovery, replication };
}

export function registerClusterRoutes(routes: RouteTable, ctx: ServerContext): void {
  routes.add({
    method: 'GET',
    url: '/api/v1/cluster',
    summary:
      'Cluster health: replicas (alive, leader), agents online and busy, the database and its replication lag, the newest backup and drill',
    tag: 'health',
    access: 'user',
    async handler({ principal }) {
      const db = ctx.store.db;
      const admin = principal.kind === 'user' && principal.admin;
      const now = ctx.clock.now();
      const leaseMs = ctx.config.leaseSeconds * 1000;
      const [replicas, leader, agents, running, database, backup, drill] = await Promise.all([
        replicaRows(db),
        leaderHolder(db, now),
        agentRows(db),
        runningJobsByAgent(db),
        databaseView(ctx),
        newestBackup(db),
        newestDrill(db),
      ]);
      // The same judgements as the replica-down alert (two leases) and GET /api/v1/agents (one lease).
      const agentList = agents.map((a) => agentView(a, running.get(a.id) ?? 0, now - leaseMs));
      const online = agentList.filter((a) => a.online);
      const view: ClusterJson = {
        replicas: replicas.map((r) => ({
          id: r.id,
          hostname: r.hostname,
          version: r.version,
          startedAt: iso(r.started_at)!,
          lastSeenAt: iso(r.last_seen_at)!,
          alive: r.last_seen_at >= now - 2 * leaseMs,
          leader: r.id === leader,
        })),
        agents: {
          online: online.length,
          busy: online.filter((a) => a.runningJobs > 0).length,
          offline: agentList.length - online.length,
          list: agentList
            .sort((a, b) => Number(b.online) - Number(a.online) || (b.lastSeenAt ?? '').localeCompare(a.lastSeenAt ?? ''))
            .slice(0, LISTED_AGENTS),
        },
        database,
        backup: backup
          ? {
              ...(admin ? { id: backup.id } : {}),
              status: backup.status,
              startedAt: iso(backup.started_at)!,
              finishedAt: iso(backup.finished_at),
            }
          : null,
        drill: drill
          ? { ...(admin ? { id: drill.id, backupId: drill.backup_id } : {}), ok: drill.ok === 1, finishedAt: iso(drill.finished_at)! }
          : null,
      };
      return view;
    },
  });
}
