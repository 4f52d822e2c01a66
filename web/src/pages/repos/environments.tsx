// A repository's environments: what is live in each, what is on its way, and whether a deploy holds it.
import { useApi } from '../../api.js';
import { Await, DataTable, Empty, StatusBadge } from '../../components/common.js';
import { RepoFrame } from '../../components/repo-frame.js';
import { Link, seg } from '../../router.js';
import type { Environment } from '../../types.js';
import { DeployLock, EnvironmentTraits, lockHolder, ReleaseLine } from './deploy-parts.js';

const REFRESH_MS = 5_000;

export function EnvironmentList({ name }: { name: string }) {
  return (
    <RepoFrame name={name} title="Environments">
      <Environments repo={name} />
    </RepoFrame>
  );
}

function Environments({ repo }: { repo: string }) {
  const envs = useApi<Environment[]>(`/api/v1/repos/${seg(repo)}/environments`, REFRESH_MS);
  return (
    <Await loaded={envs} what="environments">
      {(list) => (
        <DataTable
          rows={list}
          empty={<Empty>No environments yet: a job with an `environment:` creates its environment when it first deploys.</Empty>}
          columns={['Environment', 'Live release', 'Latest, if different', 'Deploy lock']}
          row={(env) => (
            <tr key={env.name}>
              <td>
                <Link to={`/repos/${seg(repo)}/environments/${seg(env.name)}`}>{env.name}</Link>
                <EnvironmentTraits env={env} />
              </td>
              <td>{env.current ? <ReleaseLine release={env.current} /> : <span className="muted">nothing live</span>}</td>
              <td>
                {env.latest ? (
                  <>
                    <StatusBadge status={env.latest.status} /> <strong>{env.latest.version}</strong>{' '}
                    <span className="muted">#{env.latest.id}</span>
                    {env.latest.statusReason && !lockHolder(env) ? <div className="muted small">{env.latest.statusReason}</div> : null}
                  </>
                ) : (
                  <span className="muted">—</span>
                )}
              </td>
              <td>
                <DeployLock env={env} />
              </td>
            </tr>
          )}
        />
      )}
    </Await>
  );
}
