// The front page: recent pipelines of the repositories the user may see.
import { useApi } from '../api.js';
import { Await, Empty, Page, StatusBadge, Time } from '../components/common.js';
import { Link } from '../router.js';
import type { Pipeline } from '../types.js';

export function Dashboard() {
  const pipelines = useApi<Pipeline[]>('/api/v1/pipelines?limit=20', 10_000);
  return (
    <Page title="Dashboard">
      <h2>Recent pipelines</h2>
      <Await loaded={pipelines} what="pipelines">
        {(list) =>
          list.length === 0 ? (
            <Empty>No pipelines yet.</Empty>
          ) : (
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th>Pipeline</th>
                    <th>Repository</th>
                    <th>Ref</th>
                    <th>Status</th>
                    <th>Created</th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((p) => (
                    <tr key={p.id}>
                      <td>
                        <Link to={`/pipelines/${p.id}`}>#{p.id}</Link>
                      </td>
                      <td>{p.repo}</td>
                      <td>
                        <code>{p.ref}</code>
                      </td>
                      <td>
                        <StatusBadge status={p.status} />
                      </td>
                      <td>
                        <Time iso={p.createdAt} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Await>
    </Page>
  );
}
