// A repository's tests across pipelines (issue 18, item 2): the flaky ones (failed, then passed on a
// retry of the same commit) with their flips and when last seen, whether their failures are
// quarantined, and one test's history on the default branch: where its failing streak began and how
// often it failed lately. The chosen test is in the URL (`?case=`), so its history has a link.
import { useState, type FormEvent } from 'react';
import { useApi } from '../../api.js';
import { Await, DataTable, Empty, StatusBadge, Time } from '../../components/common.js';
import { RepoFrame, useRepo } from '../../components/repo-frame.js';
import { Link, navigate, seg, useLocation } from '../../router.js';
import { testCaseLabel, type FlakyTestsJson, type TestHistoryJson, type TestRunJson } from '../../../../src/api/test-history.js';
import { shortSha } from '../pipelines/status.js';

const RUNS = 20;

export function TestsPage({ name }: { name: string }) {
  return (
    <RepoFrame name={name} title="Test history">
      <FlakyTests />
      <TestHistory />
    </RepoFrame>
  );
}

function FlakyTests() {
  const { repo, can } = useRepo();
  const base = `/repos/${seg(repo.name)}/tests`;
  const flaky = useApi<FlakyTestsJson>(`/api/v1/repos/${seg(repo.name)}/tests/flaky?limit=200`);
  return (
    <section aria-labelledby="flaky-title" className="repo-section">
      <h2 id="flaky-title">Flaky tests</h2>
      <p className="muted">
        A test is flaky once it failed and then passed on a retry of the same commit (a retried job, or a new pipeline of that commit).{' '}
        {repo.quarantineFlakyTests
          ? 'Quarantine is on: a job whose only failing tests are flaky ones is allowed to fail.'
          : 'Quarantine is off: their failures fail pipelines.'}{' '}
        {can('repo.update') ? <Link to={`/repos/${seg(repo.name)}/settings`}>Change in settings</Link> : null}
      </p>
      <Await loaded={flaky} what="flaky tests">
        {(list) => (
          <DataTable
            rows={list.tests}
            empty={<Empty>No flaky tests seen.</Empty>}
            columns={['Test', 'Flips', 'Last seen', 'Last flip']}
            row={(t) => (
              <tr key={t.caseKey}>
                <td>
                  <Link to={`${base}?case=${t.caseKey}`}>{testCaseLabel(t)}</Link> <span className="muted small">{t.suite}</span>
                </td>
                <td>{t.flips}</td>
                <td>
                  <Time iso={t.lastSeenAt} />
                </td>
                <td>
                  <Link to={`/pipelines/${t.lastPipelineId}`}>#{t.lastPipelineId}</Link>{' '}
                  <span className="muted">
                    commit <code>{shortSha(t.lastSha)}</code>
                  </span>
                </td>
              </tr>
            )}
          />
        )}
      </Await>
    </section>
  );
}

function TestHistory() {
  const { repo } = useRepo();
  const location = useLocation();
  const caseKey = location.searchParams.get('case');
  const name = location.searchParams.get('name');
  const [typed, setTyped] = useState(name ?? '');
  const query = caseKey ? `case=${encodeURIComponent(caseKey)}` : name ? `name=${encodeURIComponent(name)}` : null;
  const history = useApi<TestHistoryJson>(query ? `/api/v1/repos/${seg(repo.name)}/tests/history?${query}&runs=${RUNS}` : null);
  const search = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    if (typed.trim() !== '') navigate(`/repos/${seg(repo.name)}/tests?name=${encodeURIComponent(typed.trim())}`);
  };
  return (
    <section aria-labelledby="history-title" className="repo-section">
      <h2 id="history-title">One test on {repo.defaultBranch}</h2>
      <form className="form inline" onSubmit={search} role="search">
        <label>
          Test name <span className="muted">(name, or class.name)</span>
          <input name="test" value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" spellCheck={false} />
        </label>
        <button type="submit">Show history</button>
      </form>
      {query === null ? (
        <p className="muted">Pick a flaky test above, or name a test.</p>
      ) : (
        <Await loaded={history} what="the test's history">
          {(h) => <HistoryView h={h} />}
        </Await>
      )}
    </section>
  );
}

function HistoryView({ h }: { h: TestHistoryJson }) {
  const first = h.firstFailure;
  return (
    <div aria-label={`History of ${testCaseLabel(h)}`}>
      <h3>
        {testCaseLabel(h)} <span className="muted small">{h.suite}</span>
      </h3>
      <ul className="facts">
        <li>Last run: {h.lastStatus ? <StatusBadge status={h.lastStatus} /> : <span className="muted">none</span>}</li>
        <li>
          Failed {h.failures} of the last {h.runs.length} runs
        </li>
        {first ? (
          <li>
            Failing since <Link to={`/pipelines/${first.pipelineId}`}>pipeline #{first.pipelineId}</Link> (commit{' '}
            <code>{shortSha(first.sha)}</code>, <Time iso={first.createdAt} />){h.streakTruncated ? ' or earlier' : ''}
          </li>
        ) : null}
        {h.flaky ? (
          <li>
            Flaky: {h.flaky.flips} flips, last seen <Time iso={h.flaky.lastSeenAt} />
          </li>
        ) : null}
      </ul>
      <DataTable
        rows={h.runs}
        empty={<Empty>No runs on {h.defaultBranch}.</Empty>}
        columns={['Pipeline', 'Commit', 'When', 'Status', 'Job', 'Message']}
        row={(r: TestRunJson) => (
          <tr key={r.pipelineId}>
            <td>
              <Link to={`/pipelines/${r.pipelineId}`}>#{r.pipelineId}</Link>
            </td>
            <td>
              <code>{shortSha(r.sha)}</code>
            </td>
            <td>
              <Time iso={r.createdAt} />
            </td>
            <td>
              <StatusBadge status={r.status} />
            </td>
            <td>
              <Link to={`/jobs/${r.jobId}`}>{r.jobName}</Link>
            </td>
            <td className="small">{r.message?.split('\n')[0] ?? ''}</td>
          </tr>
        )}
      />
    </div>
  );
}
