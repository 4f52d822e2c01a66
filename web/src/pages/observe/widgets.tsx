// Pieces the dashboard and the monitoring pages share: error budget bars, DORA's four keys, alert
// rows and the cluster's health.
import { formatBytes, formatDuration, StatusBadge, Time } from '../../components/common.js';
import { Link } from '../../router.js';
import type { AlertView, ClusterView, DoraMetrics } from './types.js';

/** How often the monitoring pages ask again. */
export const REFRESH_MS = 10_000;

export function percent(ratio: number | null | undefined, digits = 1): string {
  return ratio === null || ratio === undefined ? '—' : `${(ratio * 100).toFixed(digits)}%`;
}

/** Budget left as a bar and in words (the words carry it; the bar's colour only repeats them). */
export function BudgetBar({ remaining }: { remaining: number }) {
  const level = remaining <= 0 ? 'out' : remaining < 0.25 ? 'low' : 'ok';
  const width = Math.max(0, Math.min(1, remaining)) * 100;
  return (
    <div className="budget">
      <svg viewBox="0 0 100 6" preserveAspectRatio="none" aria-hidden="true">
        <rect className="track" width="100" height="6" />
        <rect className={`fill-${level}`} width={width} height="6" />
      </svg>
      <span>{remaining < 0 ? `overspent by ${percent(-remaining)}` : `${percent(remaining)} left`}</span>
    </div>
  );
}

export const perDay = (n: number) => `${n < 1 ? n.toFixed(2) : n.toFixed(1)}/day`;

/** DORA's four keys of one environment, in words. */
export function DoraKeys({ metrics }: { metrics: DoraMetrics }) {
  return (
    <dl className="facts">
      <dt>Deployment frequency</dt>
      <dd>
        {perDay(metrics.deploymentFrequency)}{' '}
        <span className="muted">
          ({metrics.deployments.live} live of {metrics.deployments.total})
        </span>
      </dd>
      <dt>Lead time for changes</dt>
      <dd>{formatDuration(metrics.leadTime.p50Seconds)}</dd>
      <dt>Change failure rate</dt>
      <dd>
        {percent(metrics.changeFailureRate, 0)} <span className="muted">({metrics.deployments.failed} failed)</span>
      </dd>
      <dt>Time to restore</dt>
      <dd>
        {formatDuration(metrics.timeToRestore.p50Seconds)}
        {metrics.timeToRestore.unrestored > 0 ? <span className="muted"> ({metrics.timeToRestore.unrestored} not restored)</span> : null}
      </dd>
    </dl>
  );
}

export function Labels({ labels }: { labels: Record<string, string> }) {
  return (
    <span className="labels">
      {Object.entries(labels).map(([k, v]) => (
        <code key={k}>
          {k}={v}
        </code>
      ))}
    </span>
  );
}

/** Alerts as a table; `brief` leaves out the labels (the dashboard's card). */
export function AlertTable({ alerts, brief }: { alerts: AlertView[]; brief?: boolean }) {
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">Alert</th>
            <th scope="col">State</th>
            {brief ? null : <th scope="col">Labels</th>}
            <th scope="col">Since</th>
            <th scope="col">Summary</th>
          </tr>
        </thead>
        <tbody>
          {alerts.map((a) => (
            <tr key={a.id}>
              <td>
                <strong>{a.name}</strong> <span className="badge">{a.severity}</span>
                {a.silencedBy !== null ? <span className="muted"> (silenced by #{a.silencedBy})</span> : null}
              </td>
              <td>
                <StatusBadge status={a.state} />
              </td>
              {brief ? null : (
                <td>
                  <Labels labels={a.labels} />
                </td>
              )}
              <td>
                <Time iso={a.state === 'resolved' ? a.resolvedAt : (a.firedAt ?? a.activeAt)} />
              </td>
              <td>{a.annotations.summary ?? a.annotations.description ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function DatabaseHealth({ database }: { database: ClusterView['database'] }) {
  if (database.engine === 'sqlite') return <p>SQLite (embedded, one server)</p>;
  return (
    <>
      <p>
        PostgreSQL at <code>{database.host ?? 'unknown host'}</code>: {database.inRecovery ? 'a standby in recovery' : 'primary'}
      </p>
      {database.replication.length === 0 ? (
        <p className="muted">No standbys streaming from it.</p>
      ) : (
        <ul aria-label="Standbys">
          {database.replication.map((r, i) => (
            <li key={i}>
              <code>{r.applicationName || 'standby'}</code> {r.state ?? 'state unknown'}, {r.syncState ?? 'sync unknown'}; replay lag{' '}
              {r.replayLagBytes === null && r.replayLagSeconds === null ? (
                <span className="muted">unknown (the database role needs pg_monitor)</span>
              ) : (
                <>
                  {r.replayLagBytes === null ? 'unknown' : formatBytes(r.replayLagBytes)}
                  {r.replayLagSeconds !== null ? `, ${formatDuration(r.replayLagSeconds)}` : ''}
                </>
              )}
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

/** The cluster card: replicas (the leader marked), agents, database, newest backup and drill. */
export function ClusterHealth({ cluster, admin }: { cluster: ClusterView; admin: boolean }) {
  const { agents } = cluster;
  return (
    <>
      <h3>Server replicas</h3>
      <ul aria-label="Server replicas">
        {cluster.replicas.map((r) => (
          <li key={r.id}>
            <strong>{r.hostname}</strong> <span className="muted">{r.version}</span>{' '}
            <StatusBadge status={r.alive ? 'live' : 'failed'} title={r.alive ? 'sending heartbeats' : 'no heartbeat for two leases'} />{' '}
            {r.leader ? (
              <span className="badge status-running">
                <span aria-hidden="true">★</span> leader
              </span>
            ) : null}
            <br />
            <span className="muted">
              {r.id}, last seen <Time iso={r.lastSeenAt} />
            </span>
          </li>
        ))}
      </ul>
      <h3>Agents</h3>
      <p>
        <strong>{agents.online} online</strong> ({agents.busy} busy), {agents.offline} offline
        {admin ? (
          <>
            {' '}
            · <Link to="/admin/agents">Manage agents</Link>
          </>
        ) : null}
      </p>
      <h3>Database</h3>
      <DatabaseHealth database={cluster.database} />
      <h3>Disaster recovery</h3>
      <dl>
        <dt>Newest backup</dt>
        <dd>
          {cluster.backup ? (
            <>
              <StatusBadge status={cluster.backup.status} /> <Time iso={cluster.backup.finishedAt ?? cluster.backup.startedAt} />
            </>
          ) : (
            <span className="muted">none yet</span>
          )}
        </dd>
        <dt>Newest drill</dt>
        <dd>
          {cluster.drill ? (
            <>
              <StatusBadge status={cluster.drill.ok ? 'passed' : 'failed'} /> <Time iso={cluster.drill.finishedAt} />
            </>
          ) : (
            <span className="muted">none yet</span>
          )}
        </dd>
      </dl>
      {admin ? <Link to="/admin/backups">Backups and drills</Link> : null}
    </>
  );
}
