// The agents registered with this instance: online or not, what they run, and removing one (its
// token stops working at once).
import { useState } from 'react';
import { api, useApi } from '../../api.js';
import { useAction } from '../../components/action.js';
import { Await, DataTable, Empty, ErrorBox, Page, Time } from '../../components/common.js';
import { ConfirmDialog } from '../../components/confirm.js';
import type { AgentInfo } from './types.js';

const AGENTS_REFRESH_MS = 10_000;

function AgentState({ agent }: { agent: AgentInfo }) {
  if (!agent.online) return <span className="badge">offline</span>;
  return agent.runningJobs > 0 ? <span className="badge status-running">busy</span> : <span className="badge status-live">online</span>;
}

export function AgentsPage() {
  const agents = useApi<AgentInfo[]>('/api/v1/agents', AGENTS_REFRESH_MS);
  const [removing, setRemoving] = useState<AgentInfo | null>(null);
  const remove = useAction();

  const confirmRemove = async () => {
    if (!removing) return;
    if (await remove.run(() => api(`/api/v1/agents/${removing.id}`, { method: 'DELETE' }))) {
      setRemoving(null);
      agents.reload();
    }
  };

  return (
    <Page title="Agents">
      <p className="muted">
        Register an agent with <code>tandem agent --token …</code> and a token of scope <code>register_agent</code> (see Access tokens).
      </p>
      <Await loaded={agents} what="agents">
        {(list) => (
          <DataTable
            rows={list}
            empty={<Empty>No agents registered.</Empty>}
            columns={['Name', 'State', 'Running jobs', 'Tags', 'Version', 'Last seen', 'Actions']}
            row={(a) => (
              <tr key={a.id}>
                <th scope="row">
                  {a.name} <span className="muted">#{a.id}</span>
                </th>
                <td>
                  <AgentState agent={a} />
                </td>
                <td>
                  {a.runningJobs} of {a.concurrency}
                </td>
                <td>{a.tags.length === 0 ? <span className="muted">none</span> : a.tags.join(', ')}</td>
                <td>{a.version ?? '—'}</td>
                <td>
                  <Time iso={a.lastSeenAt} />
                </td>
                <td>
                  <button type="button" className="danger" onClick={() => setRemoving(a)} aria-label={`Remove agent ${a.name}`}>
                    Remove
                  </button>
                </td>
              </tr>
            )}
          />
        )}
      </Await>
      <ConfirmDialog
        open={removing !== null}
        title={`Remove agent ${removing?.name ?? ''}?`}
        confirmLabel="Remove agent"
        danger
        busy={remove.busy}
        onConfirm={() => void confirmRemove()}
        onCancel={() => setRemoving(null)}
      >
        <p>Its token is revoked; a running agent of that name must be registered again.</p>
        {remove.error ? <ErrorBox error={remove.error} /> : null}
      </ConfirmDialog>
    </Page>
  );
}
