// A repository's DORA metrics per environment: the four keys over the chosen window, and each
// over time (the window in equal slots, ?slots= of the DORA endpoint).
import { useState } from 'react';
import { useApi } from '../../api.js';
import { BarChart, LineChart } from '../../components/charts.js';
import { Await, Empty, formatDuration } from '../../components/common.js';
import { RepoFrame } from '../../components/repo-frame.js';
import { seg } from '../../router.js';
import type { DoraMetrics, DoraSlot } from './types.js';
import { DoraKeys, perDay, percent } from './widgets.js';

/** Windows to choose from, each cut into slots of a readable size (days, about a week, a month). */
const WINDOWS = [
  { days: 7, slots: 7, label: 'Last 7 days' },
  { days: 30, slots: 15, label: 'Last 30 days' },
  { days: 90, slots: 13, label: 'Last 90 days' },
  { days: 365, slots: 12, label: 'Last year' },
];

const day = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });

interface DoraAnswer {
  days: number;
  since: string;
  until: string;
  environments: DoraMetrics[];
}

function EnvironmentDora({ metrics }: { metrics: DoraMetrics }) {
  const series: DoraSlot[] = metrics.series ?? [];
  const points = (value: (s: DoraSlot) => number | null) => series.map((s) => ({ label: day.format(new Date(s.until)), value: value(s) }));
  return (
    <section aria-labelledby={`env-${metrics.environment}`}>
      <h2 id={`env-${metrics.environment}`}>{metrics.environment}</h2>
      <DoraKeys metrics={metrics} />
      <div className="charts">
        <BarChart
          title={`${metrics.environment}: deployment frequency`}
          points={points((s) => s.deploymentFrequency)}
          format={perDay}
          yLabel="deploys per day"
        />
        <LineChart
          title={`${metrics.environment}: lead time for changes (median)`}
          points={points((s) => s.leadTime.p50Seconds)}
          format={formatDuration}
          yLabel="lead time"
        />
        <BarChart
          title={`${metrics.environment}: change failure rate`}
          points={points((s) => s.changeFailureRate)}
          format={(v) => percent(v, 0)}
          yLabel="failed deploys"
          max={1}
        />
        <LineChart
          title={`${metrics.environment}: time to restore (median)`}
          points={points((s) => s.timeToRestore.p50Seconds)}
          format={formatDuration}
          yLabel="time to restore"
        />
      </div>
    </section>
  );
}

export function DoraPage({ name }: Record<string, string>) {
  const [span, setSpan] = useState(WINDOWS[1]);
  const dora = useApi<DoraAnswer>(`/api/v1/repos/${seg(name)}/dora?days=${span.days}&slots=${span.slots}`);
  return (
    <RepoFrame name={name} title="DORA metrics">
      <label className="filters">
        Window
        <select value={span.days} onChange={(e) => setSpan(WINDOWS.find((w) => w.days === Number(e.target.value)) ?? WINDOWS[1])}>
          {WINDOWS.map((w) => (
            <option key={w.days} value={w.days}>
              {w.label}
            </option>
          ))}
        </select>
      </label>
      <Await loaded={dora} what="DORA metrics">
        {(answer) =>
          answer.environments.length === 0 ? (
            <Empty>No environments yet: DORA metrics come from deploys to environments.</Empty>
          ) : (
            <>
              <p className="muted">A commit’s time is its first pipeline’s (Tandem does not store commit times).</p>
              {answer.environments.map((env) => (
                <EnvironmentDora key={env.environment} metrics={env} />
              ))}
            </>
          )
        }
      </Await>
    </RepoFrame>
  );
}
