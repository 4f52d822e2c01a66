// The front page leads with the user's own work: the pipelines of the repositories they belong to
// and what is live in those repositories' environments; then how deliveries go (DORA). Platform
// health (firing alerts, error budgets, the cluster) is a compact panel for administrators, who
// run the platform. Every part asks again every few seconds.
import { useApi } from '../api.js';
import { Await, DataTable, Empty, formatDuration, Page, StatusBadge, Time } from '../components/common.js';
import { Link, seg } from '../router.js';
import { useUser } from '../session.js';
import type { Environment, Pipeline, Repo } from '../types.js';
import { CommitSummary } from './pipelines/commit.js';
import { ReleaseLine } from './repos/deploy-parts.js';
import type { AlertView, ClusterView, DoraMetrics, SloList } from './observe/types.js';
import { AlertTable, BudgetBar, ClusterHealth, perDay, percent, REFRESH_MS } from './observe/widgets.js';

/** Repositories whose DORA keys the dashboard shows; the DORA page of each has the rest. */
const DORA_REPOS = 4;

function FiringAlerts() {
  const alerts = useApi<AlertView[]>('/api/v1/alerts?state=firing', REFRESH_MS);
  return (
    <section className="card" aria-labelledby="firing-alerts">
      <h2 id="firing-alerts">Firing alerts</h2>
      <Await loaded={alerts} what="alerts">
        {(list) =>
          list.length === 0 ? (
            <p>
              <span className="badge status-success">
                <span aria-hidden="true">✔</span> 0
              </span>{' '}
              Nothing firing.
            </p>
          ) : (
            <>
              <p className="stat">{list.length}</p>
              <AlertTable alerts={list.slice(0, 5)} brief />
            </>
          )
        }
      </Await>
      <Link to="/alerts">Alerts and silences</Link>
    </section>
  );
}

function ErrorBudgets() {
  const slos = useApi<SloList>('/api/v1/slos', REFRESH_MS);
  return (
    <section className="card" aria-labelledby="error-budgets">
      <h2 id="error-budgets">Error budgets</h2>
      <Await loaded={slos} what="SLOs">
        {({ slos: list }) => (
          <ul aria-label="SLOs" className="plain">
            {list.map((s) => (
              <li key={s.name}>
                <strong>{s.name}</strong> <span className="muted">{s.objective}%</span>
                {s.evaluation ? <BudgetBar remaining={s.evaluation.budget.remaining} /> : <p className="muted">measured by Prometheus</p>}
              </li>
            ))}
          </ul>
        )}
      </Await>
      <Link to="/slos">SLO details</Link>
    </section>
  );
}

function ClusterCard() {
  const cluster = useApi<ClusterView>('/api/v1/cluster', REFRESH_MS);
  const user = useUser();
  return (
    <section className="card" aria-labelledby="cluster-health">
      <h2 id="cluster-health">Cluster health</h2>
      <Await loaded={cluster} what="cluster health">
        {(c) => <ClusterHealth cluster={c} admin={user.admin} />}
      </Await>
    </section>
  );
}

function DoraRows({ repo }: { repo: string }) {
  const dora = useApi<{ environments: DoraMetrics[] }>(`/api/v1/repos/${seg(repo)}/dora`, REFRESH_MS);
  const name = <Link to={`/repos/${seg(repo)}/dora`}>{repo}</Link>;
  if (dora.error)
    return (
      <tr>
        <th scope="row">{name}</th>
        <td colSpan={5} className="muted">
          {dora.error.message}
        </td>
      </tr>
    );
  if (!dora.data)
    return (
      <tr>
        <th scope="row">{name}</th>
        <td colSpan={5} className="muted">
          Loading…
        </td>
      </tr>
    );
  if (dora.data.environments.length === 0)
    return (
      <tr>
        <th scope="row">{name}</th>
        <td colSpan={5} className="muted">
          No environments yet
        </td>
      </tr>
    );
  return dora.data.environments.map((env) => (
    <tr key={env.environment}>
      <th scope="row">{name}</th>
      <td>{env.environment}</td>
      <td>{perDay(env.deploymentFrequency)}</td>
      <td>{formatDuration(env.leadTime.p50Seconds)}</td>
      <td>{percent(env.changeFailureRate, 0)}</td>
      <td>{formatDuration(env.timeToRestore.p50Seconds)}</td>
    </tr>
  ));
}

function DoraCard() {
  const repos = useApi<Repo[]>('/api/v1/repos');
  return (
    <section className="card dora-card" aria-labelledby="dora-keys">
      <h2 id="dora-keys">Delivery (DORA, last 30 days)</h2>
      <Await loaded={repos} what="repositories">
        {(list) => (
          <DataTable
            rows={list.slice(0, DORA_REPOS)}
            empty={<Empty>No repositories yet.</Empty>}
            columns={['Repository', 'Environment', 'Deploys', 'Lead time', 'Change failures', 'Time to restore']}
            row={(r) => <DoraRows key={r.name} repo={r.name} />}
          />
        )}
      </Await>
    </section>
  );
}

/** Repositories whose environments the dashboard lists; each repository's Environments tab has all. */
const ENV_REPOS = 6;
const YOUR_PIPELINES = 10;

function YourPipelines() {
  const pipelines = useApi<Pipeline[]>(`/api/v1/pipelines?limit=${YOUR_PIPELINES}`, REFRESH_MS);
  return (
    <section aria-labelledby="your-pipelines">
      <h2 id="your-pipelines">Your pipelines</h2>
      <Await loaded={pipelines} what="pipelines">
        {(list) => (
          <DataTable
            rows={list}
            empty={<Empty>No pipelines yet in the repositories you belong to.</Empty>}
            columns={['Pipeline', 'Repository', 'Ref', 'Commit', 'Status', 'Duration', 'Created']}
            row={(p) => (
              <tr key={p.id}>
                <td>
                  <Link to={`/pipelines/${p.id}`}>#{p.id}</Link>
                </td>
                <td>
                  <Link to={`/repos/${seg(p.repo)}`}>{p.repo}</Link>
                </td>
                <td>
                  <code>{p.ref}</code>
                </td>
                <td>
                  <CommitSummary pipeline={p} />
                </td>
                <td>
                  <StatusBadge status={p.status} />
                </td>
                <td>{formatDuration(p.duration)}</td>
                <td>
                  <Time iso={p.createdAt} />
                </td>
              </tr>
            )}
          />
        )}
      </Await>
    </section>
  );
}

function RepoEnvironmentRows({ repo }: { repo: string }) {
  const envs = useApi<Environment[]>(`/api/v1/repos/${seg(repo)}/environments`, REFRESH_MS);
  // A repository without environments (or one this user may not read them of) adds no rows.
  return (envs.data ?? []).map((env) => (
    <tr key={env.name}>
      <td>
        <Link to={`/repos/${seg(repo)}`}>{repo}</Link>
      </td>
      <th scope="row">
        <Link to={`/repos/${seg(repo)}/environments/${seg(env.name)}`}>{env.name}</Link>
      </th>
      <td>
        {env.current ? (
          <>
            <StatusBadge status={env.current.status} /> <ReleaseLine release={env.current} />
          </>
        ) : (
          <span className="muted">nothing live</span>
        )}
      </td>
      <td>{env.latest ? <StatusBadge status={env.latest.status} title={env.latest.statusReason ?? undefined} /> : null}</td>
    </tr>
  ));
}

function YourEnvironments() {
  const repos = useApi<Repo[]>('/api/v1/repos');
  return (
    <section aria-labelledby="your-environments">
      <h2 id="your-environments">Your environments</h2>
      <Await loaded={repos} what="environments">
        {(list) => (
          <DataTable
            rows={list.slice(0, ENV_REPOS)}
            empty={<Empty>You belong to no repository yet.</Empty>}
            columns={['Repository', 'Environment', 'Live', 'On its way']}
            row={(r) => <RepoEnvironmentRows key={r.name} repo={r.name} />}
          />
        )}
      </Await>
    </section>
  );
}

/** Alerts, error budgets and the cluster, small: the administrators' view of the platform. */
function PlatformHealth() {
  return (
    <section aria-labelledby="platform-health" className="platform-health">
      <h2 id="platform-health">Platform health</h2>
      <div className="cards compact">
        <FiringAlerts />
        <ErrorBudgets />
        <ClusterCard />
      </div>
    </section>
  );
}

export function Dashboard() {
  const user = useUser();
  return (
    <Page title="Dashboard">
      <YourPipelines />
      <YourEnvironments />
      {user.admin ? <PlatformHealth /> : null}
      <div className="cards dashboard">
        <DoraCard />
      </div>
    </Page>
  );
}
