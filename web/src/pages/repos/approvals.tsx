// What waits for a person on an environment: deploy jobs waiting as manual (a protected environment
// wants an approval), and a paused release (a canary, or a verification without data) to promote
// or abort.
import { useEffect, useState } from 'react';
import { api, useApi } from '../../api.js';
import { StatusBadge, Time } from '../../components/common.js';
import { useRepo } from '../../components/repo-frame.js';
import { Link, seg } from '../../router.js';
import type { Environment, Job, Pipeline, Release } from '../../types.js';
import { ActionError, useAction } from '../../components/action.js';

/** How far back to look for pipelines whose deploy waits: waiting ones are recent. */
const RECENT_PIPELINES = 20;
const REFRESH_MS = 5_000;

type PipelineSummary = Omit<Pipeline, 'jobs'>;

/** Deploy jobs of this environment waiting as manual, in the repository's recent pipelines. */
function useWaitingDeploys(repoName: string, envName: string): { jobs: Job[]; reload: () => void } {
  const pipelines = useApi<PipelineSummary[]>(`/api/v1/repos/${seg(repoName)}/pipelines?limit=${RECENT_PIPELINES}`, REFRESH_MS);
  const [waiting, setWaiting] = useState<{ of: PipelineSummary[]; jobs: Job[] } | null>(null);
  const list = pipelines.data;

  useEffect(() => {
    if (!list) return;
    const abort = new AbortController();
    const manual = list.filter((p) => p.status === 'manual');
    Promise.all(manual.map((p) => api<Pipeline>(`/api/v1/pipelines/${p.id}`, { signal: abort.signal }))).then(
      (full) => setWaiting({ of: list, jobs: full.flatMap((p) => p.jobs.filter((j) => j.environment === envName && j.status === 'manual' && !j.retried)) }),
      () => {
        // A pipeline that vanished or a refused read: the next refresh tries again.
      },
    );
    return () => abort.abort();
  }, [list, envName]);

  return { jobs: waiting !== null && waiting.of === list ? waiting.jobs : [], reload: pipelines.reload };
}

export function WaitingForPeople({ env, envPath, releases, onChange }: { env: Environment; envPath: string; releases: Release[]; onChange: () => void }) {
  const { repo, can } = useRepo();
  const waiting = useWaitingDeploys(repo.name, env.name);
  const paused = releases.filter((r) => r.status === 'paused' && r.decision === null);
  if (waiting.jobs.length === 0 && paused.length === 0) return null;
  // A protected environment's deploys and decisions are a maintainer's (deployment.approve).
  const approver = !env.protected || can('deployment.approve');
  const refresh = () => {
    waiting.reload();
    onChange();
  };

  return (
    <section aria-labelledby="waiting" className="card waiting">
      <h2 id="waiting">Waiting for you</h2>
      <ul className="plain-list">
        {waiting.jobs.map((job) => (
          <li key={job.id}>
            <WaitingDeploy job={job} mayApprove={approver && can(env.protected ? 'deployment.approve' : 'job.play')} onDone={refresh} />
          </li>
        ))}
        {paused.map((release) => (
          <li key={release.id}>
            <PausedRelease release={release} envPath={envPath} mayPromote={approver && can('release.promote')} mayAbort={approver && can('release.abort')} onDone={refresh} />
          </li>
        ))}
      </ul>
    </section>
  );
}

function WaitingDeploy({ job, mayApprove, onDone }: { job: Job; mayApprove: boolean; onDone: () => void }) {
  const action = useAction();
  const approve = () =>
    void action.run(async () => {
      await api(`/api/v1/jobs/${job.id}/play`, { method: 'POST' });
      onDone();
    });
  return (
    <>
      <StatusBadge status={job.status} /> <Link to={`/jobs/${job.id}`}>{job.name}</Link> of <Link to={`/pipelines/${job.pipelineId}`}>pipeline #{job.pipelineId}</Link> waits for an approval, since <Time iso={job.createdAt} />.{' '}
      {mayApprove ? (
        <button type="button" className="primary" onClick={approve} disabled={action.busy} aria-label={`Approve ${job.name} of pipeline #${job.pipelineId}`}>
          Approve
        </button>
      ) : (
        <span className="muted">A maintainer approves it.</span>
      )}
      <ActionError action={action} />
    </>
  );
}

function PausedRelease({ release, envPath, mayPromote, mayAbort, onDone }: { release: Release; envPath: string; mayPromote: boolean; mayAbort: boolean; onDone: () => void }) {
  const action = useAction();
  const decide = (decision: 'promote' | 'abort') =>
    void action.run(async () => {
      await api(`${envPath}/releases/${release.id}/${decision}`, { method: 'POST', body: {} });
      onDone();
    });
  return (
    <>
      <StatusBadge status="paused" /> Release #{release.id} <strong>{release.version}</strong> is paused{release.statusReason ? `: ${release.statusReason}` : ''}.{' '}
      {mayPromote ? (
        <button type="button" className="primary" onClick={() => decide('promote')} disabled={action.busy}>
          Promote
        </button>
      ) : null}{' '}
      {mayAbort ? (
        <button type="button" className="danger" onClick={() => decide('abort')} disabled={action.busy}>
          Abort
        </button>
      ) : null}
      {!mayPromote && !mayAbort ? <span className="muted">A maintainer decides.</span> : null}
      <ActionError action={action} />
    </>
  );
}
