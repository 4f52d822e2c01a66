// One pipeline: its header, its jobs as a stage graph with their `needs`, and the actions the caller
// may take. Job statuses arrive live over the pipeline's event stream.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { api, useApi, useEventStream } from '../../api.js';
import { ConfirmDialog } from '../../components/confirm.js';
import { Await, ErrorBox, formatDuration, Page, StatusBadge, Time } from '../../components/common.js';
import { RepoFrame, useRepo } from '../../components/repo-frame.js';
import { Link, seg } from '../../router.js';
import { formatCoverage, type Job, type Pipeline } from '../../types.js';
import { PipelineCoverageReports } from './coverage-reports.js';
import { PipelineImages } from './images.js';
import { FailedJobsSummary, failedJobs } from './failure.js';
import { PipelineGraph } from './graph.js';
import { PipelineTabs } from './tests-tab.js';
import { FINAL, shortSha } from './status.js';

const EVENTS = ['snapshot', 'pipeline', 'job'] as const;
/** Job events carry only a status: times and durations are read again after a quiet moment. */
const REFRESH_AFTER_MS = 1000;

/** A `pipeline` or `job` event of the stream (the server's hub events). */
interface StatusEvent {
  jobId?: number;
  status: Pipeline['status'] & Job['status'];
}

export function PipelinePage({ id }: { id: string }) {
  const path = `/api/v1/pipelines/${seg(id)}`;
  const loaded = useApi<Pipeline>(path);
  const pipeline = loaded.data;
  const live = pipeline !== undefined && !FINAL.has(pipeline.status);
  const refreshTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const { reload, setData } = loaded;

  const refreshSoon = () => {
    refreshTimer.current ??= setTimeout(() => {
      refreshTimer.current = null;
      reload();
    }, REFRESH_AFTER_MS);
  };
  useEffect(
    () => () => {
      if (refreshTimer.current) clearTimeout(refreshTimer.current);
    },
    [],
  );

  useEventStream(
    live ? `${path}/events` : null,
    (name, data) => {
      if (name === 'snapshot') {
        setData(() => data as Pipeline);
        return;
      }
      const event = data as StatusEvent;
      if (name === 'pipeline') {
        setData((p) => (p ? { ...p, status: event.status } : p));
        if (FINAL.has(event.status)) reload();
        return;
      }
      // A job the page has not seen (a retry's new attempt) needs the whole pipeline again.
      if (!pipeline?.jobs.some((j) => j.id === event.jobId)) reload();
      else setData((p) => (p ? { ...p, jobs: p.jobs.map((j) => (j.id === event.jobId ? { ...j, status: event.status } : j)) } : p));
      refreshSoon();
    },
    EVENTS,
  );

  if (!pipeline)
    return (
      <Page title={`Pipeline #${id}`}>
        <Await loaded={loaded} what="the pipeline">
          {() => null}
        </Await>
      </Page>
    );
  return <PipelineFrame pipeline={pipeline} live={live} reload={reload} />;
}

function PipelineFrame({ pipeline, live, reload }: { pipeline: Pipeline; live: boolean; reload: () => void }) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const cancel = () => {
    setBusy(true);
    api(`/api/v1/pipelines/${pipeline.id}/cancel`, { method: 'POST' })
      .then(
        () => reload(),
        (err: unknown) => setError(err instanceof Error ? err : new Error(String(err))),
      )
      .finally(() => {
        setBusy(false);
        setConfirming(false);
      });
  };
  // GitLab's "Retry failed jobs": each failed or canceled job gets a new attempt, what they skipped runs again.
  const retryFailed = () => {
    setBusy(true);
    setError(null);
    api<Pipeline>(`/api/v1/pipelines/${pipeline.id}/retry`, { method: 'POST' })
      .then(
        () => reload(),
        (err: unknown) => setError(err instanceof Error ? err : new Error(String(err))),
      )
      .finally(() => setBusy(false));
  };
  const retryable = pipeline.jobs.some((j) => !j.retried && (j.status === 'failed' || j.status === 'canceled'));
  // A fork's merge request pipeline waits for a maintainer before any job runs.
  const approve = () => {
    setBusy(true);
    api(`/api/v1/pipelines/${pipeline.id}/approve`, { method: 'POST' })
      .then(
        () => reload(),
        (err: unknown) => setError(err instanceof Error ? err : new Error(String(err))),
      )
      .finally(() => setBusy(false));
  };
  return (
    <RepoFrame
      name={pipeline.repo}
      title={`Pipeline #${pipeline.id}`}
      actions={(repo) => (
        <>
          {pipeline.waitingForApproval && repo.you.permissions.includes('pipeline.approve') ? (
            <button
              type="button"
              disabled={busy}
              onClick={approve}
              title={`Runs the pipeline of a merge request from ${pipeline.mergeRequest?.sourceProject ?? 'a fork'}, without protected variables`}
            >
              Approve and run
            </button>
          ) : null}
          {retryable && repo.you.permissions.includes('pipeline.retry') ? (
            <button type="button" disabled={busy} onClick={retryFailed}>
              Retry failed jobs
            </button>
          ) : null}
          {live && repo.you.permissions.includes('pipeline.cancel') ? (
            <button type="button" className="danger" onClick={() => setConfirming(true)}>
              Cancel pipeline
            </button>
          ) : null}
        </>
      )}
    >
      <ConfirmDialog
        open={confirming}
        title={`Cancel pipeline #${pipeline.id}?`}
        confirmLabel="Cancel pipeline"
        danger
        busy={busy}
        onConfirm={cancel}
        onCancel={() => setConfirming(false)}
      >
        <p>Waiting jobs are canceled at once; running jobs are stopped by their agents.</p>
      </ConfirmDialog>
      {error ? <ErrorBox error={error} /> : null}
      <PipelineBody pipeline={pipeline} reload={reload} setError={setError} />
    </RepoFrame>
  );
}

function PipelineBody({ pipeline, reload, setError }: { pipeline: Pipeline; reload: () => void; setError: (error: Error | null) => void }) {
  const { repo } = useRepo();
  const permissions = useMemo(() => new Set(repo.you.permissions), [repo.you.permissions]);
  const onDone = useCallback(() => {
    setError(null);
    reload();
  }, [reload, setError]);
  const retried = pipeline.jobs.filter((j) => j.retried).length;
  const failed = useMemo(() => failedJobs(pipeline.jobs, pipeline.stages), [pipeline.jobs, pipeline.stages]);
  return (
    <>
      <FailedJobsSummary jobs={failed} />
      <dl className="facts">
        <div>
          <dt>Status</dt>
          <dd>
            <StatusBadge status={pipeline.status} />
          </dd>
        </div>
        <div>
          <dt>Ref</dt>
          <dd>
            <code>{pipeline.ref}</code>
            {pipeline.tag ? ' (tag)' : ''}
          </dd>
        </div>
        <div>
          <dt>Commit</dt>
          <dd>
            <code title={pipeline.sha}>{shortSha(pipeline.sha)}</code>
            {pipeline.commit ? <span title={pipeline.commit.message}> {pipeline.commit.title}</span> : null}
          </dd>
        </div>
        {pipeline.coverage !== null ? (
          <div>
            <dt>Coverage</dt>
            <dd>{formatCoverage(pipeline.coverage)}</dd>
          </div>
        ) : null}
        {pipeline.commit ? (
          <div>
            <dt>Author</dt>
            <dd>
              {pipeline.commit.author}, <Time iso={pipeline.commit.timestamp} />
            </dd>
          </div>
        ) : null}
        {pipeline.parent ? (
          <div>
            <dt>Triggered by</dt>
            <dd>
              <Link to={`/pipelines/${pipeline.parent.id}`}>Pipeline #{pipeline.parent.id}</Link> of {pipeline.parent.repo}
              {pipeline.parent.triggerJob ? (
                <>
                  {' '}
                  (job <Link to={`/jobs/${pipeline.parent.triggerJob.id}`}>{pipeline.parent.triggerJob.name}</Link>)
                </>
              ) : null}
            </dd>
          </div>
        ) : null}
        <div>
          <dt>Source</dt>
          <dd>{pipeline.source}</dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>
            <Time iso={pipeline.createdAt} />
          </dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd>
            {pipeline.duration !== null ? (
              formatDuration(pipeline.duration)
            ) : pipeline.startedAt ? (
              <>
                started <Time iso={pipeline.startedAt} />
              </>
            ) : (
              '—'
            )}
          </dd>
        </div>
      </dl>
      {pipeline.error ? (
        <div className="error-box" role="note">
          {pipeline.error}
        </div>
      ) : null}
      <PipelineTabs pipeline={pipeline}>
        <h2>
          Jobs <span className="muted">({pipeline.jobs.length - retried})</span>
        </h2>
        {retried > 0 ? (
          <p className="muted">
            {retried} earlier {retried === 1 ? 'attempt of a retried job is' : 'attempts of retried jobs are'} not shown; each job links to
            its latest attempt.
          </p>
        ) : null}
        {pipeline.jobs.length === 0 ? (
          <p className="muted">This pipeline has no jobs.</p>
        ) : (
          <PipelineGraph stages={pipeline.stages} jobs={pipeline.jobs} permissions={permissions} onDone={onDone} onError={setError} />
        )}
      </PipelineTabs>
      {pipeline.downstream.length > 0 ? (
        <>
          <h2>Downstream pipelines</h2>
          <ul className="downstream">
            {pipeline.downstream.map((d) => (
              <li key={d.id}>
                <StatusBadge status={d.status} /> <Link to={`/pipelines/${d.id}`}>Pipeline #{d.id}</Link> of {d.repo}{' '}
                <span className="muted">
                  ({d.source === 'parent_pipeline' ? 'child' : 'multi-project'}, triggered by {d.triggerJob?.name ?? 'a job'})
                </span>
              </li>
            ))}
          </ul>
        </>
      ) : null}
      <PipelineImages pipelineId={pipeline.id} finishedJobs={pipeline.jobs.filter((j) => FINAL.has(j.status)).length} />
      {FINAL.has(pipeline.status) ? <PipelineCoverageReports pipelineId={pipeline.id} /> : null}
      <p>
        <Link to={`/repos/${seg(pipeline.repo)}`}>All pipelines of {pipeline.repo}</Link>
      </p>
    </>
  );
}
