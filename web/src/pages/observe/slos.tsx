// Service level objectives: each one's objective and indicator, the error budget left with its
// burn-down over the period, the burn rate of every window and which burn alerts fire.
import { useApi } from '../../api.js';
import { LineChart } from '../../components/charts.js';
import { Await, Empty, Page, StatusBadge, Time } from '../../components/common.js';
import type { SloEvaluation, SloList, SloReport } from './types.js';
import { BudgetBar, percent } from './widgets.js';

const SLO_REFRESH_MS = 30_000;
const day = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const dayAndTime = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

const rate = (n: number | null) => (n === null ? '—' : n.toFixed(2));

function BurnRates({ evaluation }: { evaluation: SloEvaluation }) {
  return (
    <div className="table-wrap">
      <table>
        <caption className="visually-hidden">Burn rate per window</caption>
        <thead>
          <tr>
            <th scope="col">Window</th>
            <th scope="col">Errors / events</th>
            <th scope="col">Error ratio</th>
            <th scope="col">Burn rate</th>
          </tr>
        </thead>
        <tbody>
          {Object.entries(evaluation.windows).map(([window, w]) => (
            <tr key={window}>
              <th scope="row">{window}</th>
              <td>
                {w.errors} / {w.total}
              </td>
              <td>{percent(w.errorRatio, 3)}</td>
              <td>{rate(w.burnRate)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function BurnAlerts({ evaluation }: { evaluation: SloEvaluation }) {
  return (
    <ul aria-label="Burn rate alerts">
      {evaluation.alerts.map((a) => (
        <li key={`${a.long}-${a.short}`}>
          <StatusBadge status={a.firing ? 'firing' : 'resolved'} title={a.firing ? 'firing' : 'not firing'} /> {a.severity}: burn rate above{' '}
          {a.factor} over {a.long} and {a.short}
        </li>
      ))}
    </ul>
  );
}

function Slo({ slo }: { slo: SloReport }) {
  const evaluation = slo.evaluation;
  const history = slo.history ?? [];
  const spanDays = history.length > 1 ? (Date.parse(history[history.length - 1].at) - Date.parse(history[0].at)) / 86_400_000 : 0;
  const label = spanDays >= 2 ? day : dayAndTime;
  return (
    <section className="card" aria-labelledby={`slo-${slo.name}`}>
      <h2 id={`slo-${slo.name}`}>{slo.name}</h2>
      <dl className="facts">
        <dt>Objective</dt>
        <dd>
          {slo.objective}% over {slo.period}
        </dd>
        <dt>Indicator</dt>
        <dd>{slo.description}</dd>
        <dt>Scope</dt>
        <dd>{slo.builtin ? 'Tandem itself' : `${slo.repo ?? ''}${slo.environment ? `/${slo.environment}` : ''}`}</dd>
        <dt>Error budget</dt>
        <dd>
          {evaluation ? (
            <BudgetBar remaining={evaluation.budget.remaining} />
          ) : (
            <span className="muted">
              {slo.error ? `not measured: ${slo.error}` : 'measured by Prometheus (prometheusUrl not set, or not measured yet)'}
            </span>
          )}
        </dd>
        {slo.evaluatedAt ? (
          <>
            <dt>Measured</dt>
            <dd>
              <Time iso={slo.evaluatedAt} />
            </dd>
          </>
        ) : null}
      </dl>
      {history.length > 0 ? (
        <LineChart
          title={`${slo.name}: error budget left over the period`}
          points={history.map((p) => ({ label: label.format(new Date(p.at)), value: p.remaining }))}
          format={(v) => percent(v, 0)}
          yLabel="budget left"
          min={Math.min(0, ...history.map((p) => p.remaining))}
          max={1}
        />
      ) : null}
      {evaluation ? (
        <>
          <h3>Burn rates</h3>
          <BurnRates evaluation={evaluation} />
          <h3>Burn alerts</h3>
          <BurnAlerts evaluation={evaluation} />
        </>
      ) : null}
    </section>
  );
}

export function SlosPage() {
  const slos = useApi<SloList>('/api/v1/slos?history=1', SLO_REFRESH_MS);
  return (
    <Page title="SLOs">
      <Await loaded={slos} what="SLOs">
        {({ slos: list, evaluatedAt }) =>
          list.length === 0 ? (
            <Empty>No SLOs.</Empty>
          ) : (
            <>
              <p className="muted">
                Evaluated <Time iso={evaluatedAt} />. A burn rate of 1 spends the budget exactly over the period.
              </p>
              <div className="charts">
                {list.map((s) => (
                  <Slo key={s.name} slo={s} />
                ))}
              </div>
            </>
          )
        }
      </Await>
    </Page>
  );
}
