// Disaster recovery at a glance: the backups made (scheduled or by `tandem backup create`) and the
// drills that restored them into a scratch instance, newest first.
import { useApi } from '../../api.js';
import { Await, DataTable, Empty, formatBytes, formatDuration, Page, StatusBadge, Time } from '../../components/common.js';
import type { BackupInfo, DrillInfo } from './types.js';

function Backups() {
  const backups = useApi<BackupInfo[]>('/api/v1/backups');
  return (
    <section aria-labelledby="backups-heading">
      <h2 id="backups-heading">Backups</h2>
      <Await loaded={backups} what="backups">
        {(list) => (
          <DataTable
            rows={list}
            empty={<Empty>No backups yet: schedule them (backup settings) or run tandem backup create.</Empty>}
            columns={['Backup', 'Status', 'Started', 'Snapshot of', 'Size (copied)', 'Blobs (copied)', 'Made by', 'Destination']}
            row={(b) => (
              <tr key={b.id}>
                <th scope="row">
                  <code>{b.id}</code>
                </th>
                <td>
                  <StatusBadge status={b.status} />
                  {b.error ? <div className="muted">{b.error}</div> : null}
                </td>
                <td>
                  <Time iso={b.startedAt} />
                </td>
                <td>
                  <Time iso={b.snapshotAt} />
                </td>
                <td>
                  {formatBytes(b.bytes)} ({formatBytes(b.bytesCopied)})
                </td>
                <td>
                  {b.blobs} ({b.blobsCopied})
                </td>
                <td>{b.madeBy}</td>
                <td>
                  <code>{b.destination}</code>
                </td>
              </tr>
            )}
          />
        )}
      </Await>
    </section>
  );
}

function Drills() {
  const drills = useApi<DrillInfo[]>('/api/v1/dr/drills');
  return (
    <section aria-labelledby="drills-heading">
      <h2 id="drills-heading">Recovery drills</h2>
      <Await loaded={drills} what="drills">
        {(list) => (
          <DataTable
            rows={list}
            empty={<Empty>No drills yet: run tandem dr drill, or schedule them.</Empty>}
            columns={['Drill', 'Result', 'Finished', 'Backup', 'RTO', 'RPO', 'Steps']}
            row={(d) => (
              <tr key={d.id}>
                <th scope="row">#{d.id}</th>
                <td>
                  <StatusBadge status={d.ok ? 'passed' : 'failed'} />
                  {d.error ? <div className="muted">{d.error}</div> : null}
                </td>
                <td>
                  <Time iso={d.finishedAt} />
                </td>
                <td>{d.backupId ? <code>{d.backupId}</code> : '—'}</td>
                <td>{formatDuration(d.rtoSeconds)}</td>
                <td>{formatDuration(d.rpoSeconds)}</td>
                <td>{d.steps.length}</td>
              </tr>
            )}
          />
        )}
      </Await>
    </section>
  );
}

export function BackupsPage() {
  return (
    <Page title="Backups & drills">
      <Backups />
      <Drills />
    </Page>
  );
}
