// A pipeline's JUnit test report (its Tests tab) and a job's test failures: failures first, each with
// its message and its trace a click away, the counts per status above them. The server sums the
// jobs' latest attempts and orders the cases; this page shows one page of them at a time.
import { useEffect, useRef, useState, type ReactNode } from 'react';
import { api, useApi } from '../../api.js';
import { Await, DataTable, ErrorBox, formatDuration, StatusBadge } from '../../components/common.js';
import { useRepo } from '../../components/repo-frame.js';
import { Link, seg, useLocation } from '../../router.js';
import type { Pipeline } from '../../types.js';
import type { TestCaseJson, TestReportJson, TestSummaryJson } from '../../../../src/api/test-reports.js';

/** Cases fetched at once; more on request. */
const PAGE = 100;
const FAILING = 'failed,error';

/** The Jobs and Tests tabs of a pipeline page; `children` is the Jobs tab. `?tab=tests` opens Tests. */
export function PipelineTabs({ pipeline, children }: { pipeline: Pipeline; children: ReactNode }) {
  const location = useLocation();
  // Test reports are read like job logs: without that permission the page keeps its jobs only.
  const readable = useRepo().can('log.read');
  const onTests = readable && location.searchParams.get('tab') === 'tests';
  const base = `/pipelines/${pipeline.id}`;
  // Read again as jobs finish: a finished job may have handed in its report.
  const finished = pipeline.jobs.filter((j) => j.finishedAt !== null).length;
  // On the Jobs tab only the counts are needed: one case, not a page of traces.
  const limit = onTests ? PAGE : 1;
  const loaded = useApi<TestReportJson>(readable ? `/api/v1/pipelines/${seg(pipeline.id)}/tests?status=${FAILING}&limit=${limit}` : null);
  const { reload } = loaded;
  const seenFinished = useRef(finished);
  useEffect(() => {
    if (seenFinished.current === finished) return;
    seenFinished.current = finished;
    reload();
  }, [finished, reload]);
  const summary = loaded.data?.summary;
  const failing = summary ? summary.failed + summary.errors : 0;
  if (!readable) return <>{children}</>;
  return (
    <>
      <nav className="tabs" aria-label="Pipeline">
        <Link to={base} aria-current={onTests ? undefined : 'page'}>
          Jobs
        </Link>
        <Link to={`${base}?tab=tests`} aria-current={onTests ? 'page' : undefined}>
          Tests{' '}
          {summary && summary.total > 0 ? (
            <span className={`badge ${failing > 0 ? 'status-failed' : 'status-passed'}`}>
              {failing > 0 ? `${failing} failing` : summary.total}
            </span>
          ) : null}
        </Link>
      </nav>
      {onTests ? (
        <Await loaded={loaded} what="the test report">
          {(report) => <TestReport report={report} path={`/api/v1/pipelines/${seg(pipeline.id)}/tests`} />}
        </Await>
      ) : (
        children
      )}
    </>
  );
}

/** A finished job's test failures on its page; nothing when the job has no test report. */
export function JobTestFailures({ jobId, final }: { jobId: number; final: boolean }) {
  const path = `/api/v1/jobs/${seg(jobId)}/tests`;
  const loaded = useApi<TestReportJson>(final ? `${path}?status=${FAILING}&limit=${PAGE}` : null);
  if (!loaded.data || loaded.data.jobs.length === 0) return loaded.error ? <ErrorBox error={loaded.error} /> : null;
  return (
    <section aria-labelledby="tests-heading">
      <h2 id="tests-heading">Tests</h2>
      <TestReport report={loaded.data} path={path} />
    </section>
  );
}

function Counts({ summary }: { summary: TestSummaryJson }) {
  return (
    <p className="test-counts" aria-label="Tests per status">
      <span>{summary.total} tests</span> <StatusBadge status="failed" title="failed" /> {summary.failed}{' '}
      <StatusBadge status="error" title="errors" /> {summary.errors} <StatusBadge status="skipped" title="skipped" /> {summary.skipped}{' '}
      <StatusBadge status="passed" title="passed" /> {summary.passed}{' '}
      <span className="muted">in {formatDuration(summary.durationSeconds)}</span>
    </p>
  );
}

/** The summary, each job's line (with reports the server could not read), then the failing cases. */
function TestReport({ report, path }: { report: TestReportJson; path: string }) {
  const [all, setAll] = useState(false);
  if (report.jobs.length === 0) {
    return (
      <p className="muted">
        No test reports. A job hands in its JUnit XML with <code>artifacts:reports:junit</code>.
      </p>
    );
  }
  const unread = report.jobs.flatMap((j) => j.files.filter((f) => f.error !== null).map((f) => ({ job: j.jobName, error: f.error! })));
  return (
    <>
      <Counts summary={report.summary} />
      {unread.map((u) => (
        <div className="error-box" role="note" key={`${u.job}:${u.error}`}>
          Report of {u.job} not read: {u.error}
        </div>
      ))}
      {report.jobs.length > 1 ? (
        <DataTable
          rows={report.jobs}
          empty={null}
          columns={['Job', 'Stage', 'Tests', 'Failed', 'Errors', 'Skipped', 'Duration']}
          row={(j) => (
            <tr key={j.jobId}>
              <td>
                <Link to={`/jobs/${j.jobId}`}>{j.jobName}</Link>
              </td>
              <td>{j.stage}</td>
              <td>{j.summary.total}</td>
              <td>{j.summary.failed}</td>
              <td>{j.summary.errors}</td>
              <td>{j.summary.skipped}</td>
              <td>{formatDuration(j.summary.durationSeconds)}</td>
            </tr>
          )}
        />
      ) : null}
      {all ? (
        <CasePages path={path} status={null} first={null} />
      ) : (
        <>
          {report.matching === 0 ? <p>No test failed.</p> : <CasePages path={path} status={FAILING} first={report} />}
          {report.summary.total > report.matching ? (
            <button type="button" onClick={() => setAll(true)}>
              Show all {report.summary.total} tests
            </button>
          ) : null}
        </>
      )}
    </>
  );
}

/** Cases of one filter, a page at a time; `first` is the page already read, if any. */
function CasePages({ path, status, first }: { path: string; status: string | null; first: TestReportJson | null }) {
  const filter = status === null ? '' : `status=${status}&`;
  const initial = useApi<TestReportJson>(first ? null : `${path}?${filter}limit=${PAGE}`);
  const [more, setMore] = useState<TestCaseJson[]>([]);
  const [next, setNext] = useState<number | null | undefined>(undefined);
  const [error, setError] = useState<Error | null>(null);
  const page = first ?? initial.data;
  if (!page)
    return (
      <Await loaded={initial} what="the tests">
        {() => null}
      </Await>
    );
  const nextOffset = next === undefined ? page.nextOffset : next;
  const loadMore = () => {
    if (nextOffset === null) return;
    api<TestReportJson>(`${path}?${filter}limit=${PAGE}&offset=${nextOffset}`).then(
      (r) => {
        setMore((m) => [...m, ...r.cases]);
        setNext(r.nextOffset);
      },
      (err: unknown) => setError(err instanceof Error ? err : new Error(String(err))),
    );
  };
  const cases = [...page.cases, ...more];
  return (
    <>
      <ol className="test-cases" aria-label={status === null ? 'Tests' : 'Failing tests'}>
        {cases.map((c, i) => (
          <TestCaseItem key={i} testCase={c} />
        ))}
      </ol>
      {error ? <ErrorBox error={error} /> : null}
      {nextOffset !== null ? (
        <button type="button" onClick={loadMore}>
          Show {Math.min(PAGE, page.matching - cases.length)} more of {page.matching - cases.length}
        </button>
      ) : null}
    </>
  );
}

/** Tests take milliseconds: "2 ms" says more than "0.0 s". */
function testTime(seconds: number): string {
  return seconds < 1 ? `${Math.round(seconds * 1000)} ms` : formatDuration(seconds);
}

function TestCaseItem({ testCase: c }: { testCase: TestCaseJson }) {
  const where = [c.suite, c.classname].filter((p, i, all) => p !== '' && p !== c.name && all.indexOf(p) === i).join(' › ');
  return (
    <li className={`test-case test-${c.status}`}>
      <div className="test-title">
        <StatusBadge status={c.status} /> <strong>{c.name}</strong>
        <span className="muted">
          {' '}
          {where}
          {where ? ' · ' : ''}
          {c.jobName}
          {c.timeSeconds !== null ? ` · ${testTime(c.timeSeconds)}` : ''}
          {c.file ? ` · ${c.file}` : ''}
        </span>
      </div>
      {c.message ? <pre className="test-message">{c.message}</pre> : null}
      {c.trace ? (
        <details>
          <summary>Trace</summary>
          <pre className="test-trace">{c.trace}</pre>
        </details>
      ) : null}
    </li>
  );
}
