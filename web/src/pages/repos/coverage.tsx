// A repository's coverage over time (issue 18, item 3): the pipeline coverage of a branch's last
// finished pipelines (the default branch unless another is asked), charted and listed.
import { useState, type FormEvent } from 'react';
import { useApi } from '../../api.js';
import { LineChart } from '../../components/charts.js';
import { Await, DataTable, Empty, StatusBadge, Time } from '../../components/common.js';
import { RepoFrame, useRepo } from '../../components/repo-frame.js';
import { Link, seg } from '../../router.js';
import { formatCoverage, type CoverageTrendJson } from '../../types.js';
import { shortSha } from '../pipelines/status.js';

/** Pipelines charted; the API gives at most 200. */
const LIMIT = 50;

export function CoveragePage({ name }: { name: string }) {
  return (
    <RepoFrame name={name} title="Coverage">
      <CoverageTrend />
    </RepoFrame>
  );
}

function CoverageTrend() {
  const { repo } = useRepo();
  const [ref, setRef] = useState(repo.defaultBranch);
  const trend = useApi<CoverageTrendJson>(`/api/v1/repos/${seg(repo.name)}/coverage?ref=${encodeURIComponent(ref)}&limit=${LIMIT}`);
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const asked = String(new FormData(e.currentTarget).get('ref') ?? '').trim();
    setRef(asked === '' ? repo.defaultBranch : asked);
  };
  return (
    <>
      <form className="filters" onSubmit={submit}>
        <label>
          Branch <input name="ref" defaultValue={ref} />
        </label>
        <button type="submit">Show</button>
      </form>
      <Await loaded={trend} what="the coverage">
        {(data) => {
          const known = data.points.filter((p) => p.coverage !== null);
          if (known.length === 0) {
            return (
              <Empty>
                No finished pipeline of {data.ref} has a coverage yet: give a job a <code>coverage:</code> regex or an{' '}
                <code>artifacts:reports:coverage_report</code>.
              </Empty>
            );
          }
          const newest = [...data.points].reverse();
          return (
            <>
              <div className="charts">
                <LineChart
                  title={`Coverage of ${data.ref}`}
                  points={data.points.map((p) => ({ label: `#${p.pipelineId}`, value: p.coverage }))}
                  format={formatCoverage}
                  yLabel="coverage"
                  max={100}
                />
              </div>
              <DataTable
                rows={newest}
                empty={null}
                columns={['Pipeline', 'Status', 'Commit', 'Created', 'Coverage']}
                row={(p) => (
                  <tr key={p.pipelineId}>
                    <td>
                      <Link to={`/pipelines/${p.pipelineId}`}>#{p.pipelineId}</Link>
                    </td>
                    <td>
                      <StatusBadge status={p.status} />
                    </td>
                    <td>
                      <code>{shortSha(p.sha)}</code>
                    </td>
                    <td>
                      <Time iso={p.createdAt} />
                    </td>
                    <td>{p.coverage === null ? '—' : formatCoverage(p.coverage)}</td>
                  </tr>
                )}
              />
            </>
          );
        }}
      </Await>
    </>
  );
}
