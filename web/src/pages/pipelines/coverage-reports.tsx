// Coverage on the job and pipeline pages (issue 18, item 3): each Cobertura report a job uploaded,
// summarized (totals, packages, the least covered files) or with the error that kept it unread, and
// the pipeline's jobs with their coverage. Shown only where there is something to show.
import { useApi } from '../../api.js';
import { DataTable } from '../../components/common.js';
import { Link } from '../../router.js';
import { formatCoverage, type CoberturaSummaryJson, type JobCoverageJson, type PipelineCoverageJson } from '../../types.js';

/** Files listed per report on the job page; the API keeps more. */
const FILES_SHOWN = 20;

const rate = (value: number | null) => (value === null ? '—' : formatCoverage(value * 100));
const counts = (covered: number, valid: number) => (valid === 0 ? '—' : `${covered} / ${valid}`);

function Summary({ summary }: { summary: CoberturaSummaryJson }) {
  const files = summary.files.slice(0, FILES_SHOWN);
  const more = summary.files.length - files.length + summary.filesOmitted;
  return (
    <>
      <dl className="facts">
        <div>
          <dt>Lines</dt>
          <dd>
            {rate(summary.lineRate)} <span className="muted">({counts(summary.linesCovered, summary.linesValid)})</span>
          </dd>
        </div>
        <div>
          <dt>Branches</dt>
          <dd>
            {rate(summary.branchRate)} <span className="muted">({counts(summary.branchesCovered, summary.branchesValid)})</span>
          </dd>
        </div>
      </dl>
      <DataTable
        rows={summary.packages}
        empty={null}
        columns={['Package', 'Lines', 'Branches']}
        row={(p) => (
          <tr key={p.name}>
            <td>{p.name || '(root)'}</td>
            <td>
              {rate(p.lineRate)} <span className="muted">({counts(p.linesCovered, p.linesValid)})</span>
            </td>
            <td>{rate(p.branchRate)}</td>
          </tr>
        )}
      />
      {summary.packagesOmitted > 0 ? <p className="muted">{summary.packagesOmitted} more packages not listed.</p> : null}
      <details>
        <summary>Least covered files</summary>
        <DataTable
          rows={files}
          empty={<p className="muted">No files.</p>}
          columns={['File', 'Lines', 'Uncovered lines']}
          row={(f) => (
            <tr key={f.name}>
              <td>
                <code>{f.name}</code>
              </td>
              <td>{rate(f.lineRate)}</td>
              <td>{f.linesValid - f.linesCovered}</td>
            </tr>
          )}
        />
        {more > 0 ? <p className="muted">{more} more files not listed.</p> : null}
      </details>
    </>
  );
}

/** The job's Cobertura reports, once it has ended (agents upload them at its end). */
export function JobCoverageReports({ jobId, final }: { jobId: number; final: boolean }) {
  const loaded = useApi<JobCoverageJson>(final ? `/api/v1/jobs/${jobId}/coverage` : null);
  const reports = loaded.data?.reports ?? [];
  if (reports.length === 0) return null;
  return (
    <section aria-labelledby="coverage-reports-heading">
      <h2 id="coverage-reports-heading">Coverage reports</h2>
      {reports.map((r) => (
        <article key={r.path} aria-label={`Coverage report ${r.path}`}>
          <h3>
            <code>{r.path}</code> <span className="muted">({r.format})</span>
          </h3>
          {r.summary ? (
            <Summary summary={r.summary} />
          ) : (
            <div className="error-box" role="note">
              Not read: {r.error}
            </div>
          )}
        </article>
      ))}
    </section>
  );
}

/** The pipeline's jobs with a coverage or a report: the value, lines covered, or why a report was not read. */
export function PipelineCoverageReports({ pipelineId }: { pipelineId: number }) {
  const loaded = useApi<PipelineCoverageJson>(`/api/v1/pipelines/${pipelineId}/coverage`);
  const jobs = loaded.data?.jobs ?? [];
  if (jobs.length === 0) return null;
  return (
    <section aria-labelledby="pipeline-coverage-heading">
      <h2 id="pipeline-coverage-heading">Coverage</h2>
      <DataTable
        rows={jobs}
        empty={null}
        columns={['Job', 'Coverage', 'Reports']}
        row={(j) => (
          <tr key={j.jobId}>
            <td>
              <Link to={`/jobs/${j.jobId}`}>{j.name}</Link>
            </td>
            <td>{j.coverage === null ? '—' : formatCoverage(j.coverage)}</td>
            <td>
              {j.reports.length === 0
                ? '—'
                : j.reports.map((r) => (
                    <div key={r.path}>
                      <code>{r.path}</code>:{' '}
                      {r.summary ? (
                        `${rate(r.summary.lineRate)} of lines (${counts(r.summary.linesCovered, r.summary.linesValid)})`
                      ) : (
                        <span className="muted">not read (see the job)</span>
                      )}
                    </div>
                  ))}
            </td>
          </tr>
        )}
      />
    </section>
  );
}
