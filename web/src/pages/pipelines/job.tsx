// One job: what it is and how it ended, its log (live while it runs) and its artifacts. Guests see
// the job; the log needs `log.read` and the artifacts `artifact.read`, as on the server.
import { useState } from 'react';
import { useApi, useEventStream } from '../../api.js';
import { Await, Empty, ErrorBox, formatBytes, formatDuration, Page, StatusBadge, Time } from '../../components/common.js';
import { RepoFrame, useRepo } from '../../components/repo-frame.js';
import { Link, navigate, seg } from '../../router.js';
import { formatCoverage, type Job, type JobDetail, type Pipeline } from '../../types.js';
import { JobActionButtons, jobActions } from './job-actions.js';
import { LogViewer } from './log-viewer.js';
import { FINAL } from './status.js';
import { JobTestFailures } from './tests-tab.js';

const EVENTS = ['snapshot', 'job'] as const;

interface ArtifactList {
  jobId: number;
  files: { path: string; size: number; digest: string; expiresAt: string | null }[];
}

export function JobPage({ id }: { id: string }) {
  const loaded = useApi<JobDetail>(`/api/v1/jobs/${seg(id)}`);
  const job = loaded.data;
  const pipeline = useApi<Pipeline>(job ? `/api/v1/pipelines/${job.pipelineId}` : null);
  const live = job !== undefined && !FINAL.has(job.status);

  // Status changes come with the pipeline's events; the job is read again for its times.
  useEventStream(
    live ? `/api/v1/pipelines/${job.pipelineId}/events` : null,
    (name, data) => {
      if (name === 'snapshot') {
        const found = (data as Pipeline).jobs.find((j) => j.id === job?.id);
        // The pipeline lists jobs without their attempts: this job's stay as they were read.
        if (found) loaded.setData((current) => (current ? { ...found, attempts: current.attempts } : current));
      } else if ((data as { jobId?: number }).jobId === job?.id) loaded.reload();
    },
    EVENTS,
  );

  if (!job || !pipeline.data)
    return (
      <Page title={`Job #${id}`}>
        {loaded.error ? (
          <ErrorBox error={loaded.error} />
        ) : (
          <Await loaded={pipeline} what="the job">
            {() => null}
          </Await>
        )}
      </Page>
    );
  return (
    <RepoFrame name={pipeline.data.repo} title={`Job ${job.name}`}>
      <JobBody job={job} pipeline={pipeline.data} live={live} reload={loaded.reload} />
    </RepoFrame>
  );
}

function JobBody({ job, pipeline, live, reload }: { job: JobDetail; pipeline: Pipeline; live: boolean; reload: () => void }) {
  const { can } = useRepo();
  const [error, setError] = useState<Error | null>(null);
  const latest = job.retried ? pipeline.jobs.find((j) => j.name === job.name && !j.retried) : undefined;
  return (
    <>
      <div className="job-header">
        <dl className="facts">
          <div>
            <dt>Status</dt>
            <dd>
              <StatusBadge status={job.status} />
            </dd>
          </div>
          <div>
            <dt>Stage</dt>
            <dd>{job.stage}</dd>
          </div>
          <div>
            <dt>Pipeline</dt>
            <dd>
              <Link to={`/pipelines/${job.pipelineId}`}>#{job.pipelineId}</Link> on <code>{pipeline.ref}</code>
            </dd>
          </div>
          <div>
            <dt>Attempt</dt>
            <dd>
              {job.attempt}
              {latest ? (
                <>
                  {' '}
                  (retried: <Link to={`/jobs/${latest.id}`}>latest attempt</Link>)
                </>
              ) : null}
            </dd>
          </div>
          <div>
            <dt>Agent</dt>
            <dd>{job.agentId !== null ? `#${job.agentId}` : '—'}</dd>
          </div>
          <div>
            <dt>Queued</dt>
            <dd>
              <Time iso={job.queuedAt ?? job.createdAt} />
            </dd>
          </div>
          <div>
            <dt>Started</dt>
            <dd>
              <Time iso={job.startedAt} />
            </dd>
          </div>
          <div>
            <dt>Finished</dt>
            <dd>
              <Time iso={job.finishedAt} />
            </dd>
          </div>
          <div>
            <dt>Duration</dt>
            <dd>{formatDuration(job.duration)}</dd>
          </div>
          <div>
            <dt>Exit code</dt>
            <dd>{job.exitCode ?? '—'}</dd>
          </div>
          {job.coverage !== null ? (
            <div>
              <dt>Coverage</dt>
              <dd>{formatCoverage(job.coverage)}</dd>
            </div>
          ) : null}
          {job.environment ? (
            <div>
              <dt>Environment</dt>
              <dd>{job.environment}</dd>
            </div>
          ) : null}
        </dl>
        <JobActionButtons
          job={job}
          actions={jobActions(job, can)}
          onDone={(action, result) => {
            setError(null);
            if (action === 'retry') navigate(`/jobs/${result.id}`);
            else reload();
          }}
          onError={setError}
        />
      </div>
      {job.failureReason ? (
        <div className="error-box" role="note">
          Failure reason: {job.failureReason}
          {job.quarantinedTests ? ` (quarantined flaky tests: ${job.quarantinedTests.join(', ')}): allowed to fail` : null}
        </div>
      ) : null}
      {error ? <ErrorBox error={error} /> : null}
      {job.attempts.length > 1 ? <Attempts job={job} /> : null}
      {/* Failing tests before the log: what failed, without scrolling through it. */}
      {can('log.read') ? <JobTestFailures jobId={job.id} final={!live} /> : null}
      {can('log.read') ? (
        <LogViewer key={job.id} jobId={job.id} live={live} onEnd={reload} />
      ) : (
        <p className="notice">Your role in this repository does not include reading job logs.</p>
      )}
      {can('artifact.read') ? <Artifacts job={job} final={!live} /> : null}
    </>
  );
}

/** Every attempt of the job, each a link to its own page and log; the one shown is marked. */
function Attempts({ job }: { job: JobDetail }) {
  return (
    <section aria-labelledby="attempts-heading">
      <h2 id="attempts-heading">Attempts</h2>
      <ol className="attempts">
        {job.attempts.map((a) => (
          <li key={a.id}>
            <StatusBadge status={a.status} />{' '}
            {a.id === job.id ? (
              <strong aria-current="page">Attempt {a.attempt}</strong>
            ) : (
              <Link to={`/jobs/${a.id}`}>Attempt {a.attempt}</Link>
            )}{' '}
            <span className="muted">
              (job #{a.id}
              {a.exitCode !== null ? `, exit code ${a.exitCode}` : ''}
              {a.failureReason ? `, ${a.failureReason}` : ''}
              {a.duration !== null ? `, ${formatDuration(a.duration)}` : ''})
            </span>{' '}
            {a.startedAt ? <Time iso={a.startedAt} /> : null}
          </li>
        ))}
      </ol>
    </section>
  );
}

function artifactUrl(jobId: number, path: string): string {
  return `/api/v1/jobs/${jobId}/artifacts/${path.split('/').map(encodeURIComponent).join('/')}`;
}

/** The job's artifact files, listed once the job is over (agents upload them at its end). */
function Artifacts({ job, final }: { job: Job; final: boolean }) {
  const lists = useApi<ArtifactList[]>(final ? `/api/v1/pipelines/${job.pipelineId}/artifacts` : null);
  const files = lists.data?.find((l) => l.jobId === job.id)?.files ?? [];
  return (
    <section aria-labelledby="artifacts-heading">
      <h2 id="artifacts-heading">Artifacts</h2>
      {!final ? (
        <p className="muted">Artifacts are listed when the job is over.</p>
      ) : (
        <Await loaded={lists} what="artifacts">
          {() =>
            files.length === 0 ? (
              <Empty>This job kept no artifacts.</Empty>
            ) : (
              <>
                <p>
                  <a className="button" href={`/api/v1/jobs/${job.id}/artifacts`} download>
                    Download all (.tar.gz)
                  </a>
                </p>
                <div className="table-wrap">
                  <table>
                    <thead>
                      <tr>
                        <th>Path</th>
                        <th>Size</th>
                        <th>Expires</th>
                        <th>
                          <span className="visually-hidden">Download</span>
                        </th>
                      </tr>
                    </thead>
                    <tbody>
                      {files.map((f) => (
                        <tr key={f.path}>
                          <td>
                            <code>{f.path}</code>
                          </td>
                          <td>{formatBytes(f.size)}</td>
                          <td>{f.expiresAt ? <Time iso={f.expiresAt} /> : 'never'}</td>
                          <td>
                            <a href={artifactUrl(job.id, f.path)} download={f.path.split('/').pop()} aria-label={`Download ${f.path}`}>
                              Download
                            </a>
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              </>
            )
          }
        </Await>
      )}
    </section>
  );
}
